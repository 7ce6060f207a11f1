// Route regexes run on RE2, as Envoy's safe_regex does under Istio (re2js: a pure-JS port of RE2; README,
// "Dependencies and why"). The control plane refuses what Istio refuses before a config is pushed
// (src/mesh-semantics/regex.ts); a pattern RE2 cannot compile that still arrives here is a NACK.
import { RE2JS } from 're2js';

/** Thrown by compileFullMatch for a pattern RE2 cannot compile. */
export class Re2SyntaxError extends Error {
  readonly code = 'DEVMESH_RE2_SYNTAX';
}

/**
 * A full-match test, as Envoy's safe_regex matcher (RE2::FullMatch): the whole value must match, so
 * `/api` does not match "/api/v1" and `^`/`$` anchors are harmless.
 */
export function compileFullMatch(pattern: string): (value: string) => boolean {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new Re2SyntaxError(`RE2 refuses regex ${JSON.stringify(pattern)}: ${(err as Error).message.replace(/^error parsing regexp: /, '')}`);
  }
  return (value) => re.matches(value);
}
