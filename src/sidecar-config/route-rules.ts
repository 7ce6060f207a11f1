// A service's VirtualService-style route rules (`routes:` in the mesh file) as the proxy's RouteRules, with
// Istio's defaults filled in (default retries, lone-destination weight, mirror and fault percentages,
// redirect code) and its rules applied (a client-side fault turns retries and timeout off).
import type { FaultPolicy, HeaderOps, HeaderRewrite, MatchBlock, RetryPolicy, RouteRule, StringMatch } from '../../proxy/protocol/index.js';
import { durationMs, type HttpRouteSpec, type MeshFile } from '../config/mesh-schema.js';
import { ISTIO_DEFAULT_RETRIES, ISTIO_LONE_DESTINATION_WEIGHT, ISTIO_REDIRECT_CODE, ISTIO_UNSET_PERCENT } from '../mesh-semantics/defaults.js';
import { effectiveRetryOn } from '../mesh-semantics/retry-on.js';

/** Istio: a header condition without a value ({}) means "present". */
function presentOr(m: StringMatch | Record<string, never>): StringMatch {
  return 'exact' in m || 'prefix' in m || 'regex' in m ? (m as StringMatch) : { regex: '.*' };
}

/** What a route without a `retries` block retries: Istio's default policy. */
export function defaultRetryPolicy(): RetryPolicy {
  return { attempts: ISTIO_DEFAULT_RETRIES.attempts, retryOn: effectiveRetryOn(undefined) };
}

function retryPolicy(spec: HttpRouteSpec['retries']): RetryPolicy {
  if (!spec) return defaultRetryPolicy();
  return {
    attempts: spec.attempts,
    retryOn: effectiveRetryOn(spec.retryOn),
    ...(spec.perTryTimeout ? { perTryTimeoutMs: durationMs(spec.perTryTimeout) } : {}),
  };
}

function percentOf(p: { value: number } | undefined): number {
  return p === undefined ? ISTIO_UNSET_PERCENT : p.value;
}

function lowerKeys<T>(record: Record<string, T> | undefined): Record<string, T> | undefined {
  return record === undefined ? undefined : Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}

function headerOps(ops: { set?: Record<string, string> | undefined; add?: Record<string, string> | undefined; remove?: string[] | undefined } | undefined): HeaderOps | undefined {
  if (!ops) return undefined;
  return {
    ...(ops.set ? { set: lowerKeys(ops.set)! } : {}),
    ...(ops.add ? { add: lowerKeys(ops.add)! } : {}),
    ...(ops.remove ? { remove: ops.remove.map((h) => h.toLowerCase()) } : {}),
  };
}

function headerRewrite(h: HttpRouteSpec['headers']): HeaderRewrite | undefined {
  if (!h) return undefined;
  return { ...(h.request ? { request: headerOps(h.request)! } : {}), ...(h.response ? { response: headerOps(h.response)! } : {}) };
}

function matchesOf(record: Record<string, StringMatch | Record<string, never>> | undefined, lower: boolean): Record<string, StringMatch> | undefined {
  if (!record) return undefined;
  return Object.fromEntries(Object.entries(record).map(([k, m]) => [lower ? k.toLowerCase() : k, presentOr(m)]));
}

function matchBlock(m: NonNullable<HttpRouteSpec['match']>[number]): MatchBlock {
  const headers = matchesOf(m.headers, true);
  const withoutHeaders = matchesOf(m.withoutHeaders, true);
  const queryParams = matchesOf(m.queryParams, false);
  return {
    ...(m.uri ? { uri: m.uri } : {}),
    ...(m.method ? { method: m.method } : {}),
    ...(m.authority ? { authority: m.authority } : {}),
    // Istio: a header condition without a value means "present".
    ...(headers ? { headers } : {}),
    ...(withoutHeaders ? { withoutHeaders } : {}),
    ...(queryParams ? { queryParams } : {}),
    ...(m.sourceLabels ? { sourceLabels: { ...m.sourceLabels } } : {}),
  };
}

const GRPC_STATUS: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

function faultOf(f: HttpRouteSpec['fault']): FaultPolicy | undefined {
  if (!f || (!f.delay && !f.abort)) return undefined;
  const grpc = f.abort?.grpcStatus;
  const grpcStatus = grpc === undefined ? undefined : /^\d+$/.test(grpc) ? Number(grpc) : GRPC_STATUS[grpc.toUpperCase()] ?? 2;
  return {
    ...(f.delay ? { delay: { fixedDelayMs: durationMs(f.delay.fixedDelay), percent: percentOf(f.delay.percentage) } } : {}),
    ...(f.abort
      ? { abort: { ...(f.abort.httpStatus !== undefined ? { httpStatus: f.abort.httpStatus } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}), percent: percentOf(f.abort.percentage) } }
      : {}),
  };
}

/** The route rules of calls to `target`: the file's rules, or one rule sending everything to all instances. */
export function routesFor(mesh: MeshFile, target: string): RouteRule[] {
  const rules = mesh.routes?.[target];
  if (!rules || rules.length === 0) {
    return [{ name: 'default', match: [], destinations: [{ service: target, weight: ISTIO_LONE_DESTINATION_WEIGHT }], retries: defaultRetryPolicy() }];
  }
  return rules.map((rule, i): RouteRule => {
    const fault = faultOf(rule.fault);
    const headers = headerRewrite(rule.headers);
    return {
      name: rule.name ?? `${target}[${i}]`,
      match: (rule.match ?? []).map(matchBlock),
      destinations: (rule.route ?? []).map((d) => {
        const h = headerRewrite(d.headers);
        return {
          service: d.destination.host ?? target,
          ...(d.destination.subset ? { subset: d.destination.subset } : {}),
          weight: d.weight ?? (rule.route?.length === 1 ? ISTIO_LONE_DESTINATION_WEIGHT : 0),
          ...(h ? { headers: h } : {}),
        };
      }),
      ...(rule.redirect
        ? {
            redirect: {
              ...(rule.redirect.uri !== undefined ? { uri: rule.redirect.uri } : {}),
              ...(rule.redirect.prefixRewrite !== undefined ? { prefixRewrite: rule.redirect.prefixRewrite } : {}),
              ...(rule.redirect.authority !== undefined ? { authority: rule.redirect.authority } : {}),
              ...(rule.redirect.port !== undefined ? { port: rule.redirect.port } : {}),
              ...(rule.redirect.derivePort !== undefined ? { derivePort: rule.redirect.derivePort === 'FROM_REQUEST_PORT' ? ('request' as const) : ('protocol' as const) } : {}),
              ...(rule.redirect.scheme !== undefined ? { scheme: rule.redirect.scheme } : {}),
              code: rule.redirect.redirectCode ?? ISTIO_REDIRECT_CODE,
            },
          }
        : {}),
      ...(rule.directResponse
        ? { directResponse: { status: rule.directResponse.status, ...(rule.directResponse.body ? { body: rule.directResponse.body.string } : {}) } }
        : {}),
      ...(rule.rewrite ? { rewrite: { ...rule.rewrite } } : {}),
      ...(headers ? { headers } : {}),
      ...(rule.mirror
        ? {
            mirror: {
              service: rule.mirror.host ?? target,
              ...(rule.mirror.subset ? { subset: rule.mirror.subset } : {}),
              // Istio mirrors every request when mirrorPercentage is absent.
              percent: percentOf(rule.mirrorPercentage),
            },
          }
        : {}),
      ...(fault ? { fault } : {}),
      // Istio: a route with a client-side fault has its retries and timeout turned off.
      retries: fault ? { attempts: 0, retryOn: [] } : retryPolicy(rule.retries),
      ...(rule.timeout && !fault ? { timeoutMs: durationMs(rule.timeout) } : {}),
    };
  });
}
