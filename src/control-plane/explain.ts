// `devmesh explain`: which route rule a request would match and why, and what the sidecar would then do,
// without sending anything. It runs the sidecar's own matcher (re-exported by proxy/protocol/index.ts) over the
// rules the control plane would push, so the answer is exactly what the sidecar does. Against a running
// mesh (POST /api/explain) it also asks the caller's sidecars for the live health of the endpoints the
// matched rule could send to: the state that decides where a request goes lives there, not here.
import type { ExplainDestination, ExplainHealth, ExplainRequest, ExplainResponse, ExplainSidecarHealth } from '../contract/api.js';
import { compileRouteMatcher, formatExplanation, routeRequestOf, type EndpointSetSnapshot, type RouteRule } from '../../proxy/protocol/index.js';
import { routesFor } from '../sidecar-config/route-rules.js';
import type { MeshFile } from '../config/mesh-schema.js';

/** The request names a service the mesh does not have (the API answers 404). */
export class UnknownServiceError extends Error {
  readonly code = 'NO_SUCH_SERVICE';
}

export interface ExplainResult {
  ruleIndex: number;
  rule: RouteRule | null;
  lines: string[];
}

function describeAction(rule: RouteRule): string[] {
  const out: string[] = [];
  if (rule.directResponse) out.push(`answers directly: ${rule.directResponse.status}${rule.directResponse.body ? ` "${rule.directResponse.body}"` : ''}`);
  if (rule.redirect) {
    const r = rule.redirect;
    out.push(`redirects (${r.code}) to ${r.scheme ?? 'http'}://${r.authority ?? '<same host>'}${r.port ? `:${r.port}` : ''}${r.uri ?? '<same path>'}`);
  }
  if (rule.destinations.length > 0) {
    const total = rule.destinations.reduce((s, d) => s + d.weight, 0) || 1;
    out.push(
      `sends to ${rule.destinations.map((d) => `${d.service}${d.subset ? `/${d.subset}` : ''} (${Math.round((100 * d.weight) / total)}%)`).join(', ')}`,
    );
  }
  if (rule.rewrite) out.push(`rewrites ${[rule.rewrite.uri !== undefined ? `uri → ${rule.rewrite.uri}` : '', rule.rewrite.authority ? `authority → ${rule.rewrite.authority}` : ''].filter(Boolean).join(', ')}`);
  if (rule.mirror) out.push(`mirrors ${rule.mirror.percent}% to ${rule.mirror.service}${rule.mirror.subset ? `/${rule.mirror.subset}` : ''} (shadow, response discarded)`);
  if (rule.fault?.delay) out.push(`fault: delays ${rule.fault.delay.percent}% of requests by ${rule.fault.delay.fixedDelayMs} ms`);
  if (rule.fault?.abort) out.push(`fault: aborts ${rule.fault.abort.percent}% of requests with ${rule.fault.abort.httpStatus ?? `grpc-status ${rule.fault.abort.grpcStatus}`}`);
  if (rule.fault) out.push('retries and timeout: off, because the rule injects a fault (as in Istio)');
  else {
    const r = rule.retries;
    out.push(r.attempts === 0 ? 'retries: none (attempts: 0)' : `retries: up to ${r.attempts} on ${r.retryOn.join(',')}${r.perTryTimeoutMs ? `, ${r.perTryTimeoutMs} ms per try` : ''}`);
    out.push(rule.timeoutMs ? `timeout: ${rule.timeoutMs} ms` : 'timeout: none');
  }
  return out;
}

/** The calling workload of a query: "service[:version]", or "ingress" (the default). */
export function callerOf(q: Pick<ExplainRequest, 'from'>): { app: string; version: string } {
  const [app = 'ingress', version = ''] = (q.from ?? 'ingress').split(':');
  return { app, version };
}

export function explainRequest(mesh: MeshFile, q: ExplainRequest): ExplainResult {
  const known = q.to in mesh.services || q.to in (mesh.external ?? {});
  if (!known) throw new UnknownServiceError(`unknown service "${q.to}"`);
  const { app, version } = callerOf(q);
  if (app !== 'ingress' && !(app in mesh.services)) throw new UnknownServiceError(`unknown calling service "${app}"`);
  const rules = routesFor(mesh, q.to);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(q.headers ?? {})) headers[k.toLowerCase()] = v;
  headers.host ??= q.to;
  const request = routeRequestOf(q.method.toUpperCase(), q.path, headers, { app, version });
  const explanation = compileRouteMatcher(rules).explain(request);
  const lines = [`${request.method} ${q.path} → ${q.to}, from ${app}${version ? ` (version ${version})` : ''}`, ...formatExplanation(explanation).map((l) => `  ${l}`)];
  const rule = explanation.index === -1 ? null : rules[explanation.index]!;
  if (rule) lines.push(...describeAction(rule).map((l) => `  ${l}`));
  return { ruleIndex: explanation.index, rule, lines };
}

/** A caller's sidecar, as far as explain needs it (SidecarHandle). */
export interface CallerSidecar {
  readonly id: string;
  readonly ackedVersion: number;
  endpointHealth(timeoutMs?: number): Promise<EndpointSetSnapshot[]>;
}

/** How long one sidecar may take to report its endpoint health before explain says it did not. */
export const HEALTH_TIMEOUT_MS = 2_000;

function destinationHealth(d: RouteRule['destinations'][number], sets: EndpointSetSnapshot[], mirrorPercent?: number): ExplainDestination {
  const subset = d.subset ?? null;
  const set = sets.find((s) => s.service === d.service && s.subset === subset);
  const pool = set?.connectionPool;
  const limits = pool
    ? Object.fromEntries(
        (['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries'] as const).filter((k) => pool[k] !== undefined).map((k) => [k, pool[k]]),
      )
    : {};
  return {
    service: d.service,
    subset,
    weight: d.weight,
    ...(mirrorPercent !== undefined ? { mirrorPercent } : {}),
    known: set !== undefined,
    activeRequests: set?.activeRequests ?? 0,
    activeRetries: set?.activeRetries ?? 0,
    limits: Object.keys(limits).length > 0 ? limits : null,
    shedding: set?.shedding != null,
    sheddingReason: set?.shedding ?? null,
    outlierDetection: set?.outlierDetection != null,
    endpoints: (set?.endpoints ?? []).map((e) => ({ ...e, ejected: e.ejectedUntilMs !== null })),
  };
}

async function sidecarHealth(rule: RouteRule, sidecar: CallerSidecar): Promise<ExplainSidecarHealth> {
  const base = { sidecar: sidecar.id, ackedVersion: sidecar.ackedVersion };
  try {
    const sets = await sidecar.endpointHealth(HEALTH_TIMEOUT_MS);
    const destinations = rule.destinations.map((d) => destinationHealth(d, sets));
    // Mirrored copies go through the mirror target's own circuit breaker and outlier detection.
    const m = rule.mirror;
    if (m !== undefined) destinations.push(destinationHealth({ service: m.service, ...(m.subset !== undefined ? { subset: m.subset } : {}), weight: 0 }, sets, m.percent));
    return { ...base, error: null, destinations };
  } catch (err) {
    return { ...base, error: (err as Error).message, destinations: [] };
  }
}

/**
 * Explains a request against the running mesh's applied configuration, with the live health of the matched
 * rule's destinations from every sidecar of the caller (`callers` picks them: the ingress gateway of `to`,
 * or the instances of the calling service). Each sidecar answers within HEALTH_TIMEOUT_MS or is reported.
 */
export async function explainLive(
  mesh: MeshFile,
  configVersion: number,
  q: ExplainRequest,
  callers: (caller: { app: string; version: string }) => CallerSidecar[],
): Promise<ExplainResponse> {
  const result = explainRequest(mesh, q);
  const caller = callerOf(q);
  let health: ExplainHealth;
  if (result.rule === null) health = { available: false, reason: 'no rule matches: the sidecar answers 404 and sends nothing' };
  else if (result.rule.destinations.length === 0) health = { available: false, reason: 'the rule answers by itself: nothing is sent to a destination' };
  else {
    const sidecars = callers(caller);
    if (sidecars.length === 0) {
      health = {
        available: false,
        reason:
          caller.app === 'ingress'
            ? `no ingress gateway sends to ${q.to}: pass from (the calling service) to see its endpoints`
            : `no instance of ${caller.app}${caller.version ? ` (version ${caller.version})` : ''} runs`,
      };
    } else {
      const rule = result.rule;
      health = { available: true, sidecars: await Promise.all(sidecars.map((s) => sidecarHealth(rule, s))) };
    }
  }
  return { configVersion, ruleIndex: result.ruleIndex, rule: result.rule, health, lines: [...result.lines, ...healthLines(health)] };
}

function limitsText(limits: ExplainDestination['limits']): string {
  return limits ? Object.entries(limits).map(([k, v]) => `${k} ${v}`).join(', ') : 'no connectionPool limits';
}

/** The health part of an explanation, for a person (the CLI prints it; the UI shows it). */
export function healthLines(health: ExplainHealth, now = Date.now()): string[] {
  if (!health.available) return [`endpoint health: unavailable (${health.reason})`];
  const out = ['endpoint health, as the caller\'s sidecars see it now:'];
  for (const s of health.sidecars) {
    if (s.error !== null) {
      out.push(`  ${s.error}`);
      continue;
    }
    for (const d of s.destinations) {
      const name = `${d.service}${d.subset ? `/${d.subset}` : ''}${d.mirrorPercent !== undefined ? ` (mirror, ${d.mirrorPercent}% copied)` : ''}`;
      if (!d.known) {
        out.push(`  ${s.sidecar} → ${name}: this sidecar has no endpoints for it (is ${d.service} one of its upstreams?)`);
        continue;
      }
      const breaker = d.shedding ? `SHEDDING (${d.sheddingReason})` : `not shedding (${limitsText(d.limits)})`;
      out.push(
        `  ${s.sidecar} → ${name}: ${d.activeRequests} requests in flight, circuit breaker: ${breaker}${d.outlierDetection ? '' : ', no outlier detection'}`,
      );
      if (d.endpoints.length === 0) out.push('    no endpoints: requests get 503 no-endpoints');
      for (const e of d.endpoints) {
        const state =
          e.ejectedUntilMs === null
            ? 'healthy'
            : `EJECTED by outlier detection until ${new Date(e.ejectedUntilMs).toISOString()} (ejection ${e.ejections}, ${Math.max(0, Math.ceil((e.ejectedUntilMs - now) / 1000))} s left)${e.inRotation ? ', but in rotation: too few endpoints are healthy (minHealthPercent)' : ''}`;
        const failures = e.consecutive5xx > 0 ? `, ${e.consecutive5xx} consecutive 5xx` : '';
        out.push(`    ${e.instanceId}${e.version ? ` (${e.version})` : ''}: ${state}, ${e.activeRequests} active${failures}`);
      }
    }
  }
  return out;
}
