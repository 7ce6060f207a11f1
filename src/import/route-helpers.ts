// Pieces of route translation shared by the importers.
import type { HttpRouteSpec } from '../config/mesh-schema.js';
import { isRetryOnToken, retryOnTokens } from '../mesh-semantics/retry-on.js';
import type { Path, Resource, Session } from './context.js';
import { re2Problem } from '../mesh-semantics/regex.js';

export type RuleDestination = NonNullable<HttpRouteSpec['route']>[number];
export type Match = NonNullable<HttpRouteSpec['match']>[number];
export type StringMatchSpec = { exact: string } | { prefix: string } | { regex: string };

/** Why RE2 (the engine of Envoy, Istio and the local sidecar) refuses a regex from an import, or null. */
export const regexProblem: (pattern: string) => string | null = re2Problem;

export function validRegex(pattern: string): boolean {
  return re2Problem(pattern) === null;
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Relative weights (Gateway API, Linkerd, Consul floats) → integer percentages adding up to 100, by the
 * largest remainder. `exact` is false when rounding changed a share.
 */
export function percentWeights(weights: number[]): { percents: number[]; exact: boolean } {
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return { percents: weights.map(() => 0), exact: true };
  const raw = weights.map((w) => (w * 100) / total);
  const floors = raw.map(Math.floor);
  let left = 100 - floors.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => ({ i, rem: r - Math.floor(r) })).sort((a, b) => b.rem - a.rem || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i]!++;
    left--;
  }
  return { percents: floors, exact: raw.every((r) => Number.isInteger(r)) };
}

/** Istio-style StringMatch ({exact}|{prefix}|{regex}) from an untyped value; null if it is not one. */
export function stringMatch(value: unknown): StringMatchSpec | Record<string, never> | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v).filter((k) => v[k] !== undefined);
  if (keys.length === 0) return {};
  if (keys.length !== 1) return null;
  const k = keys[0]!;
  if ((k === 'exact' || k === 'prefix' || k === 'regex') && typeof v[k] === 'string') {
    if (k === 'regex' && !validRegex(v[k] as string)) return null;
    return { [k]: v[k] } as StringMatchSpec;
  }
  return null;
}

/**
 * Reports why `value` is not a string match, at its path: a regex RE2 refuses is located at its `regex`
 * field with RE2's reason; anything else gets `otherwise`.
 */
export function failStringMatch(res: Resource, path: Path, value: unknown, otherwise: string): void {
  const regex = value && typeof value === 'object' ? (value as Record<string, unknown>).regex : undefined;
  const problem = typeof regex === 'string' ? re2Problem(regex) : null;
  if (problem !== null) res.fail([...path, 'regex'], problem);
  else res.fail(path, otherwise);
}

/** Resolves a destination host and subset to the local form; reports and returns null when it maps nowhere. */
export function localDestination(
  session: Session,
  res: Resource,
  path: Path,
  host: string,
  subset: string | undefined,
  resolveSubset: (service: string, subset: string, path: Path) => string | null | undefined,
  defaultHost?: string,
): { host: string; subset?: string } | null {
  const t = session.target(host);
  if (!t) {
    res.ignored(path, `host ${host} maps to no local service: this destination is left out (use --map ${host}=LOCAL)`);
    return null;
  }
  if (t.kind === 'external') {
    if (subset) res.approx([...path, 'subset'], `external destination ${t.name} has no versions: subset ${subset} dropped`);
    return { host: t.name };
  }
  let version: string | undefined = t.subset;
  if (subset !== undefined) {
    const v = resolveSubset(t.service, subset, [...path, 'subset']);
    if (v === null) return null;
    version = v;
  }
  const out: { host: string; subset?: string } = { host: t.service };
  if (version !== undefined) out.subset = version;
  if (t.how === 'version-name' && subset === undefined) res.mapped(path, `Service ${host} → version ${t.subset} of ${t.service} (a Service per version)`);
  if (defaultHost !== undefined && out.host === defaultHost) return out;
  return out;
}

/** The retryOn tokens devmesh understands are kept; the rest are dropped (and reported by the caller). */
export function splitRetryOn(text: string): { kept: string[]; dropped: string[] } {
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const t of retryOnTokens(text)) (isRetryOnToken(t) ? kept : dropped).push(t);
  return { kept, dropped };
}

/**
 * The more specific of two hostnames when they intersect, else null: a Gateway API route hostname and its
 * listener's, or an Istio VirtualService host and its Gateway server's (istio/istio pkg/config/host/names.go,
 * Names.Intersection, keeps the one that is a subset of the other). `*.example.com` covers any name that
 * ends in `.example.com` (not example.com itself); `*` (Istio only) covers every name.
 */
export function intersectHost(a: string, b: string): string | null {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === '*') return y;
  if (y === '*') return x;
  const suffix = (h: string) => (h.startsWith('*.') ? h.slice(1) : null);
  const xs = suffix(x);
  const ys = suffix(y);
  if (xs === null && ys === null) return x === y ? x : null;
  if (xs === null) return x.endsWith(ys!) ? x : null;
  if (ys === null) return y.endsWith(xs) ? y : null;
  return xs.endsWith(ys) ? x : ys.endsWith(xs) ? y : null;
}

/**
 * A hostname as an authority match: exact, or a wildcard's any-label prefix (`*.example.com`: one label or
 * more, as Gateway API specifies for hostnames and as Envoy matches a virtual host's suffix-wildcard domain).
 */
export function authorityOf(host: string): { exact: string } | { regex: string } {
  return host.startsWith('*.') ? { regex: `^.+${escapeRegex(host.slice(1))}$` } : { exact: host };
}

/**
 * Match blocks that also require one of `hosts` as the request's authority: every block once per host (the
 * blocks OR, and so do the hosts). null: any host, the blocks are kept as they are.
 */
export function withAuthorities(blocks: Match[], hosts: string[] | null): Match[] {
  return hosts === null ? blocks : blocks.flatMap((b) => hosts.map((h) => ({ ...b, authority: authorityOf(h) })));
}

/**
 * A path prefix that matches whole path segments (Gateway API's PathPrefix; Envoy's path_separated_prefix,
 * which Istio uses for a VirtualService prefix under gateway route semantics): /v2 matches /v2 and /v2/x,
 * not /v2x. devmesh's (Istio's) prefix is a string prefix, so a segment prefix becomes two match blocks:
 * the exact path, and the prefix with its slash. A prefix rewrite (ReplacePrefixMatch, an Istio rewrite.uri)
 * then needs the slash in its replacement for the second (/prefix/x → /one/x, and / for /strip-prefix/x →
 * /x): two rules. A full-path rewrite (ReplaceFullPath) replaces the whole path of any match but a prefix:
 * there the second block matches by regex. `segment` undefined: a match that is no segment prefix, as is.
 */
export function segmentPrefixRules(match: Match, segment: string | undefined, action: HttpRouteSpec, rewrite: string | undefined): { blocks: Match[]; rule: HttpRouteSpec }[] {
  if (segment === undefined) return [{ blocks: [match], rule: structuredClone(action) }];
  const exact: Match = { ...match, uri: { exact: segment } };
  const under: Match = { ...match, uri: { prefix: `${segment}/` } };
  const slashed = (s: string) => (s.endsWith('/') ? s : `${s}/`);
  if (action.rewrite?.uri !== undefined && rewrite === 'ReplacePrefixMatch') {
    const tail = structuredClone(action);
    tail.rewrite!.uri = slashed(action.rewrite.uri);
    return [
      { blocks: [exact], rule: structuredClone(action) },
      { blocks: [under], rule: tail },
    ];
  }
  if (action.redirect?.prefixRewrite !== undefined) {
    const tail = structuredClone(action);
    tail.redirect!.prefixRewrite = slashed(action.redirect.prefixRewrite);
    return [
      { blocks: [exact], rule: structuredClone(action) },
      { blocks: [under], rule: tail },
    ];
  }
  if (action.rewrite?.uri !== undefined) return [{ blocks: [exact, { ...match, uri: { regex: `^${escapeRegex(segment)}/.*` } }], rule: structuredClone(action) }];
  return [{ blocks: [exact, under], rule: structuredClone(action) }];
}

/**
 * Rules for a more specific hostname first (negative: `a` first). Gateway API: "precedence must be given to
 * rules from the HTTPRoute with the largest number of: characters in a matching non-wildcard hostname;
 * characters in a matching hostname" (HTTPRouteSpec.hostnames); Envoy, for Istio's gateway virtual hosts,
 * picks an exact domain before a suffix wildcard, and a longer suffix before a shorter one, "*" last.
 * null: any host.
 */
export function compareHostPrecedence(a: string | null, b: string | null): number {
  const rank = (h: string | null) => (h === null || h === '*' ? [0, 0] : h.startsWith('*') ? [0, h.length] : [h.length, h.length]);
  const [x, y] = [rank(a), rank(b)];
  return y[0]! - x[0]! || y[1]! - x[1]!;
}

/** The hostname an authority condition stands for: exact, or `*.suffix` as authorityOf writes it; null for none or another regex. */
export function authorityHost(authority: StringMatchSpec | Record<string, never> | undefined): string | null {
  if (authority && 'exact' in authority) return authority.exact.toLowerCase();
  const m = authority && 'regex' in authority ? /^\^?\.\+((?:\\\.|[-a-z0-9])+)\$?$/i.exec(authority.regex) : null;
  return m ? `*${m[1]!.replace(/\\/g, '').toLowerCase()}` : null;
}
