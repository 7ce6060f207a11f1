// Regular expressions in route matches run on RE2, as Envoy's safe_regex does in production, so a rule
// behaves on the laptop as it will under Istio: `(?i)`, `\pL`, `[[:alpha:]]`, `(?P<name>…)` work; lookahead,
// lookbehind, backreferences and possessive quantifiers are refused (RE2 guarantees linear-time matching
// and has none of them). re2js is a pure-JS port of RE2 (README, "Dependencies and why").
// Validation mirrors Istio's (pkg/config/validation/validation.go, validateStringMatchRegexp): a regex
// must not be empty, must be at most 1024 characters, and must compile as RE2.
import { RE2JS } from 're2js';

/** Istio refuses longer regexes (an approximation of Envoy's re2.max_program_size). */
export const RE2_MAX_LENGTH = 1024;

/** RE2 syntax that JavaScript has and RE2 does not, named so the error says what to change. */
const UNSUPPORTED: ReadonlyArray<readonly [RegExp, string]> = [
  [/\(\?<[=!]/, 'lookbehind'],
  [/\(\?[=!]/, 'lookahead'],
  [/\\[1-9]|\\k</, 'backreferences'],
  [/[*+?}][+]/, 'possessive quantifiers'],
];

/**
 * Why RE2 (Envoy's safe_regex, Istio's validation) refuses `pattern`, or null when it accepts it.
 * The text starts with "RE2", so a located error built from it names the engine.
 */
export function re2Problem(pattern: string): string | null {
  if (pattern === '') return 'RE2: a regex match must not be empty (Istio refuses it)';
  if (pattern.length > RE2_MAX_LENGTH) return `RE2: regex is ${pattern.length} characters long; Istio allows at most ${RE2_MAX_LENGTH}`;
  try {
    RE2JS.compile(pattern);
    return null;
  } catch (err) {
    const detail = (err as Error).message.replace(/^error parsing regexp: /, '');
    const named = UNSUPPORTED.filter(([re]) => re.test(pattern)).map(([, what]) => what);
    const hint = named.length > 0 ? ` (RE2 has no ${named.join(' or ')}; Envoy and Istio run RE2)` : '';
    return `RE2 refuses regex ${JSON.stringify(pattern)}: ${detail}${hint}`;
  }
}

/** Thrown by compileFullMatch for a pattern RE2 refuses; the message is re2Problem's. */
export class Re2SyntaxError extends Error {
  readonly code = 'DEVMESH_RE2_SYNTAX';
}

/**
 * A full-match test, as Envoy's safe_regex matcher (RE2::FullMatch): the whole value must match, so
 * `/api` does not match "/api/v1" and `^`/`$` anchors are harmless.
 */
export function compileFullMatch(pattern: string): (value: string) => boolean {
  const problem = re2Problem(pattern);
  if (problem !== null) throw new Re2SyntaxError(problem);
  const re = RE2JS.compile(pattern);
  return (value) => re.matches(value);
}
