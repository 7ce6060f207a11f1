// `devmesh diff`: the effective policy of the local mesh against production configuration. "Effective"
// means every default is filled in (a rule without retries gets Istio's 2 retries on 503 and connection
// errors, a lone destination weighs 100, outlier detection gets Istio's defaults, a fault turns retries
// and timeout off), so two policies that behave the same compare equal however they are written. The
// defaults are src/mesh-semantics/'s, the same the sidecars are configured with.
import { durationMs, type HttpRouteSpec, type MeshFile, type PolicyFile, type TrafficPolicySpec } from '../config/mesh-schema.js';
import { effectiveMtls } from '../config/mesh-model.js';
import { DEVMESH_TRACE_SAMPLING_PERCENT, ISTIO_DEFAULT_RETRIES, ISTIO_LONE_DESTINATION_WEIGHT, ISTIO_REDIRECT_CODE, ISTIO_UNSET_PERCENT } from '../mesh-semantics/defaults.js';
import { effectiveRetryOn } from '../mesh-semantics/retry-on.js';
import { effectiveOutlierDetection, effectiveRetryBudget } from '../mesh-semantics/traffic-policy.js';

export interface Difference {
  /** e.g. "reviews"; "(mesh)" for a mesh-wide setting (tracing) */
  service: string;
  /** e.g. "routes[1].retries.attempts" (rule index in the local list, with its name when it has one) */
  path: string;
  local: unknown;
  production: unknown;
}

function ms(d: string | undefined): number | null {
  return d === undefined ? null : durationMs(d);
}

/** Order and repetition do not change what is retried. */
function retryOnSet(text: string | undefined): string[] {
  return [...new Set(effectiveRetryOn(text))].sort();
}

/**
 * A destination's share of the rule's traffic, in percent. Weights are relative (the sidecar, like Envoy,
 * picks by weight / total), so 3 and 2 route exactly as 60 and 40 do.
 */
function share(route: NonNullable<HttpRouteSpec['route']>, weight: number): number {
  const total = route.reduce((sum, d) => sum + (d.weight ?? 0), 0);
  return total > 0 ? Math.round((weight * 100 * 1e6) / total) / 1e6 : weight;
}

/**
 * A regex is matched against the whole value (RE2 full match, as Envoy's safe_regex), so a `^` that opens
 * the pattern and a `$` that closes it change nothing: `^/[^/]+/bar$` and `/[^/]+/bar` compare equal.
 */
function fullMatchRegex(re: string): string {
  let out = re.startsWith('^') ? re.slice(1) : re;
  // A closing `$` counts only when it is not escaped (an even number of backslashes before it).
  if (out.endsWith('$') && (/\\*(?=\$$)/.exec(out)?.[0].length ?? 0) % 2 === 0) out = out.slice(0, -1);
  return out;
}

function fullMatchForm<T extends object>(m: T): T {
  return JSON.parse(JSON.stringify(m), (k, v: unknown) => (k === 'regex' && typeof v === 'string' ? fullMatchRegex(v) : v)) as T;
}

export function effectiveRule(target: string, rule: HttpRouteSpec): Record<string, unknown> {
  const faulty = rule.fault !== undefined;
  const retries = faulty ? { attempts: 0 } : rule.retries
    ? rule.retries.attempts === 0 ? { attempts: 0 } : { attempts: rule.retries.attempts, retryOn: retryOnSet(rule.retries.retryOn), perTryTimeoutMs: ms(rule.retries.perTryTimeout) }
    : { attempts: ISTIO_DEFAULT_RETRIES.attempts, retryOn: retryOnSet(undefined), perTryTimeoutMs: null };
  const match = (rule.match ?? []).map(({ name: _n, ...m }) => fullMatchForm(m)).filter((m) => Object.keys(m).length > 0);
  return {
    match: match.length ? match : 'any',
    ...(rule.route ? {
      route: rule.route
        .map((d) => ({ host: d.destination.host ?? target, subset: d.destination.subset ?? null, weight: rule.route!.length === 1 ? ISTIO_LONE_DESTINATION_WEIGHT : share(rule.route!, d.weight ?? 0), ...(d.headers ? { headers: d.headers } : {}) }))
        .filter((d) => d.weight > 0 || rule.route!.length === 1)
        .sort((a, b) => `${a.host}/${a.subset}`.localeCompare(`${b.host}/${b.subset}`)),
    } : {}),
    ...(rule.redirect ? { redirect: { ...rule.redirect, redirectCode: rule.redirect.redirectCode ?? ISTIO_REDIRECT_CODE } } : {}),
    ...(rule.directResponse ? { directResponse: rule.directResponse } : {}),
    ...(rule.rewrite ? { rewrite: rule.rewrite } : {}),
    ...(rule.headers ? { headers: rule.headers } : {}),
    ...(rule.mirror ? { mirror: { host: rule.mirror.host ?? target, subset: rule.mirror.subset ?? null, percent: rule.mirrorPercentage?.value ?? ISTIO_UNSET_PERCENT } } : {}),
    ...(rule.fault ? { fault: rule.fault } : {}),
    retries: rule.redirect || rule.directResponse ? 'n/a' : retries,
    timeoutMs: faulty ? null : ms(rule.timeout),
  };
}

type MatchBlock = NonNullable<HttpRouteSpec['match']>[number];

/** Every condition of `a` is also a condition of `b` (same field, same value): whatever `b` matches, `a` does. */
function covers(a: MatchBlock, b: MatchBlock): boolean {
  const conditions = (m: MatchBlock) => {
    const { name: _n, ...rest } = fullMatchForm(m);
    return Object.entries(rest).flatMap(([field, v]) =>
      field === 'uri' || field === 'method' || field === 'authority' ? [`${field}=${JSON.stringify(v)}`] : Object.entries(v as object).map(([k, x]) => `${field}.${k}=${JSON.stringify(x)}`),
    );
  };
  const mine = new Set(conditions(b));
  return conditions(a).every((c) => mine.has(c));
}

/**
 * The indexes of the rules a request can reach. First match wins, so a rule every match block of which is
 * covered by an earlier rule's block never applies: the same rules merged twice (one Istio VirtualService
 * per hostname, where devmesh does not route by hostname) behave as once.
 */
export function reachableRules(rules: readonly HttpRouteSpec[]): number[] {
  const blocks = (r: HttpRouteSpec): MatchBlock[] => (r.match && r.match.length ? r.match : [{}]);
  const out: number[] = [];
  rules.forEach((rule, i) => {
    const earlier = rules.slice(0, i).flatMap(blocks);
    if (!blocks(rule).every((b) => earlier.some((a) => covers(a, b)))) out.push(i);
  });
  return out;
}

export function effectiveRoutes(mesh: Pick<MeshFile, 'routes'>, target: string): Record<string, unknown>[] {
  const rules = mesh.routes?.[target];
  if (!rules || rules.length === 0) return [effectiveRule(target, { route: [{ destination: {} }] })];
  return reachableRules(rules).map((i) => effectiveRule(target, rules[i]!));
}

function effectiveTrafficPolicy(p: TrafficPolicySpec | undefined): Record<string, unknown> | null {
  if (!p) return null;
  const norm = (x: Omit<TrafficPolicySpec, 'subsets'>) => {
    const out: Record<string, unknown> = {};
    if (x.loadBalancer) out.loadBalancer = x.loadBalancer;
    if (x.connectionPool) out.connectionPool = JSON.parse(JSON.stringify(x.connectionPool, (k, v: unknown) => (typeof v === 'string' && /Timeout$/.test(k) ? durationMs(v) : v)));
    if (x.outlierDetection) out.outlierDetection = effectiveOutlierDetection(x.outlierDetection);
    if (x.retryBudget) {
      const b = effectiveRetryBudget(x.retryBudget);
      // Named as in the mesh file, which is what the reader compares.
      out.retryBudget = { retryRatio: b.ratio, minRetriesPerSecond: b.minPerSecond, ttlMs: b.ttlMs };
    }
    return out;
  };
  const { subsets, ...base } = p;
  const out = norm(base);
  if (subsets) out.subsets = Object.fromEntries(Object.entries(subsets).map(([k, v]) => [k, norm(v)]));
  return Object.keys(out).length ? out : null;
}

/** Everything that decides how one service's traffic behaves, defaults filled in. */
export function effectivePolicy(mesh: MeshFile): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const targets = [...Object.keys(mesh.services), ...Object.keys(mesh.external ?? {})];
  for (const t of targets) {
    const isService = t in mesh.services;
    out[t] = {
      routes: effectiveRoutes(mesh, t),
      policy: effectiveTrafficPolicy(mesh.policies?.[t]),
      ...(isService ? {
        mtls: effectiveMtls(mesh, t),
        authorization: (mesh.authorization ?? [])
          .filter((p) => p.service === undefined || p.service === t)
          .filter((p) => p.action === 'ALLOW' || p.action === 'DENY')
          .map((p) => ({ action: p.action, rules: p.rules === undefined ? 'none (allows nothing)' : p.rules }))
          .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      } : { url: mesh.external?.[t]?.url ?? null }),
    };
  }
  return out;
}

/** The mesh with its policy sections replaced by `policy` (production's view of the same services). */
export function withPolicy(mesh: MeshFile, policy: PolicyFile): MeshFile {
  const { routes: _r, policies: _p, authorization: _a, serviceMtls: _s, ...base } = mesh;
  const services = Object.fromEntries(Object.entries(mesh.services).map(([n, s]) => {
    const { mtls: _m, ...rest } = s;
    return [n, rest];
  }));
  return {
    ...base,
    services,
    mtls: policy.mtls ?? mesh.mtls,
    external: { ...(mesh.external ?? {}), ...(policy.external ?? {}) },
    ...(policy.routes ? { routes: policy.routes } : {}),
    ...(policy.policies ? { policies: policy.policies } : {}),
    ...(policy.authorization ? { authorization: policy.authorization } : {}),
    ...(policy.serviceMtls ? { serviceMtls: policy.serviceMtls } : {}),
  } as MeshFile;
}

function walk(a: unknown, b: unknown, path: string, out: { path: string; local: unknown; production: unknown }[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => walk(x, b[i], `${path}[${i}]`, out));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    return;
  }
  out.push({ path, local: a ?? null, production: b ?? null });
}

/**
 * Differences between the local mesh and production (`prod`, imported for the same services). `mtlsKnown`:
 * compare mTLS only when production says something about it (a missing PeerAuthentication says nothing
 * about a cluster's mesh-wide default that lives elsewhere).
 */
export function diffPolicies(local: MeshFile, prod: PolicyFile): Difference[] {
  const l = effectivePolicy(local);
  const p = effectivePolicy(withPolicy(local, prod));
  const mtlsKnown = prod.mtls !== undefined || prod.serviceMtls !== undefined;
  const out: Difference[] = [];
  for (const service of Object.keys(l)) {
    const a = { ...l[service]! };
    const b = { ...(p[service] ?? {}) };
    if (!mtlsKnown) {
      delete a.mtls;
      delete b.mtls;
    }
    const localRules = local.routes?.[service] ?? [];
    const names = reachableRules(localRules).map((i) => localRules[i]!.name);
    const diffs: { path: string; local: unknown; production: unknown }[] = [];
    walk(a, b, '', diffs);
    for (const d of diffs) {
      const m = /^routes\[(\d+)\]/.exec(d.path);
      const name = m ? names[Number(m[1])] : undefined;
      out.push({ service, path: name ? d.path.replace(/^routes\[(\d+)\]/, `routes[$1 ${name}]`) : d.path, local: d.local, production: d.production });
    }
  }
  // Sampling is compared only when production sets one (a cluster's default lives in its mesh config).
  if (prod.tracing !== undefined) {
    const mine = local.tracing?.sampling ?? DEVMESH_TRACE_SAMPLING_PERCENT;
    if (mine !== prod.tracing.sampling) out.push({ service: '(mesh)', path: 'tracing.sampling', local: mine, production: prod.tracing.sampling });
  }
  return out;
}

export function formatDiff(diffs: Difference[]): string {
  if (diffs.length === 0) return 'no differences: the local mesh behaves as production';
  const lines: string[] = [];
  let last = '';
  for (const d of diffs) {
    if (d.service !== last) lines.push(`${d.service}:`);
    last = d.service;
    lines.push(`  ${d.path || '(all)'}`, `    local:      ${JSON.stringify(d.local)}`, `    production: ${JSON.stringify(d.production)}`);
  }
  lines.push('', `${diffs.length} difference${diffs.length === 1 ? '' : 's'} in ${new Set(diffs.map((d) => d.service)).size} service(s)`);
  return lines.join('\n');
}
