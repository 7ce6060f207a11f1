// Which regexes a route may carry: RE2's, as Envoy's safe_regex runs them under Istio. `(?i)`, `\pL`,
// `[[:alpha:]]`, `(?P<name>…)` are RE2; lookahead, lookbehind, backreferences and possessive quantifiers
// are not (RE2 matches in linear time and has none of them), so a rule using them would validate locally
// and be refused in production. The checks are Istio's (pkg/config/validation/validation.go,
// validateStringMatchRegexp): not empty, at most 1024 characters, compiles as RE2. The mesh file's schema
// and every importer judge regexes here; the sidecar compiles them with the same engine
// (proxy/protocol/regex.ts), so what validates is what runs.
import { RE2JS } from 're2js';

/** Istio refuses longer regexes (its stand-in for Envoy's re2.max_program_size). */
export const RE2_MAX_LENGTH = 1024;

/** Syntax JavaScript has and RE2 does not, named so the error says what to change. */
const NOT_RE2: ReadonlyArray<readonly [RegExp, string]> = [
  [/\(\?<[=!]/, 'lookbehind'],
  [/\(\?[=!]/, 'lookahead'],
  [/\\[1-9]|\\k</, 'backreferences'],
  [/[*+?}]\+/, 'possessive quantifiers'],
];

/**
 * Why RE2 (Envoy's safe_regex, Istio's validation) refuses `pattern`, or null when it accepts it.
 * The text starts with "RE2", so the located error built from it names the engine.
 */
export function re2Problem(pattern: string): string | null {
  if (pattern === '') return 'RE2: a regex match must not be empty (Istio refuses it)';
  if (pattern.length > RE2_MAX_LENGTH) return `RE2: regex is ${pattern.length} characters long; Istio allows at most ${RE2_MAX_LENGTH}`;
  try {
    RE2JS.compile(pattern);
    return null;
  } catch (err) {
    const named = NOT_RE2.filter(([re]) => re.test(pattern)).map(([, what]) => what);
    const hint = named.length > 0 ? ` (RE2 has no ${named.join(' or ')}; Envoy and Istio run RE2)` : '';
    return `RE2 refuses regex ${JSON.stringify(pattern)}: ${(err as Error).message.replace(/^error parsing regexp: /, '')}${hint}`;
  }
}
