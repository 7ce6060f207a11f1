// Route regexes run on RE2, as Envoy's safe_regex does under Istio (re2js: a pure-JS port of RE2; README,
// "Dependencies and why"). The control plane refuses what Istio refuses before a config is pushed
// (src/mesh-semantics/regex.ts); a pattern RE2 cannot compile that still arrives here is a NACK.
// re2js is loaded at the first regex a config has, not at start: its module costs a sidecar 16–22 ms of
// CPU to evaluate, which every sidecar of a mesh without regex routes paid at boot (docs/traffic.md, "Start-up").
import { createRequire } from 'node:module';
import type { RE2JS as RE2JSClass } from 're2js';

const require = createRequire(import.meta.url);
let re2js: typeof RE2JSClass | null = null;
function RE2(): typeof RE2JSClass {
  return (re2js ??= (require('re2js') as { RE2JS: typeof RE2JSClass }).RE2JS);
}

/** Thrown by compileFullMatch for a pattern RE2 cannot compile. */
export class Re2SyntaxError extends Error {
  readonly code = 'DEVMESH_RE2_SYNTAX';
}

/**
 * A full-match test, as Envoy's safe_regex matcher (RE2::FullMatch): the whole value must match, so
 * `/api` does not match "/api/v1" and `^`/`$` anchors are harmless.
 */
export function compileFullMatch(pattern: string): (value: string) => boolean {
  let re: RE2JSClass;
  try {
    re = RE2().compile(pattern);
  } catch (err) {
    throw new Re2SyntaxError(`RE2 refuses regex ${JSON.stringify(pattern)}: ${(err as Error).message.replace(/^error parsing regexp: /, '')}`);
  }
  return (value) => re.matches(value);
}
