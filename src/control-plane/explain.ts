// `devmesh explain`: which route rule a request would match and why, and what the sidecar would then do,
// without sending anything. It runs the sidecar's own matcher (re-exported by proxy/protocol.ts) over the
// rules the control plane would push, so the answer is exactly what the sidecar does.
import { compileRouteMatcher, formatExplanation, routeRequestOf, type RouteRule } from '../../proxy/protocol.js';
import { routesFor } from '../config/mesh-model.js';
import type { MeshFile } from '../config/mesh-schema.js';

export interface ExplainQuery {
  /** Destination service: the outbound listener the app calls. */
  to: string;
  /** Calling service, optionally "service:version"; "ingress" for the ingress gateway. */
  from?: string;
  method: string;
  /** Path with an optional query string. */
  path: string;
  headers: Record<string, string>;
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

export function explainRequest(mesh: MeshFile, q: ExplainQuery): ExplainResult {
  const known = q.to in mesh.services || q.to in (mesh.external ?? {});
  if (!known) throw new Error(`unknown service "${q.to}"`);
  const [app = 'ingress', version = ''] = (q.from ?? 'ingress').split(':');
  if (app !== 'ingress' && !(app in mesh.services)) throw new Error(`unknown calling service "${app}"`);
  const rules = routesFor(mesh, q.to);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(q.headers)) headers[k.toLowerCase()] = v;
  headers.host ??= q.to;
  const request = routeRequestOf(q.method.toUpperCase(), q.path, headers, { app, version });
  const explanation = compileRouteMatcher(rules).explain(request);
  const lines = [`${request.method} ${q.path} → ${q.to}, from ${app}${version ? ` (version ${version})` : ''}`, ...formatExplanation(explanation).map((l) => `  ${l}`)];
  const rule = explanation.index === -1 ? null : rules[explanation.index]!;
  if (rule) lines.push(...describeAction(rule).map((l) => `  ${l}`));
  return { ruleIndex: explanation.index, rule, lines };
}
