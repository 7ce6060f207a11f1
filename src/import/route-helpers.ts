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
