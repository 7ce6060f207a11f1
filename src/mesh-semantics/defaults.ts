// What Istio and Linkerd do when the configuration says nothing. Every place that fills in a default
// (the sidecar config, `devmesh diff`, `devmesh export`, the importers) takes it from here, so the local
// mesh, its diff against production and its export cannot disagree about what an omitted field means.
// Plain data that imports nothing: the translation to the proxy's types happens in src/sidecar-config/.

/**
 * Istio's retry policy for a route without a `retries` block: 2 retries on these conditions
 * (istio/istio pilot/pkg/networking/core/route/retry/retry.go, DefaultPolicy; also the retryOn default
 * of VirtualService HTTPRetry). `retriable-status-codes` with no code listed means 503.
 */
export const ISTIO_DEFAULT_RETRIES = {
  attempts: 2,
  retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
} as const;

/** The status `retriable-status-codes` retries on when no code is listed (Istio's DefaultPolicy: 503). */
export const ISTIO_RETRIABLE_STATUS_CODE = 503;

/**
 * Istio's DestinationRule OutlierDetection defaults (istio/api networking/v1alpha3/destination_rule.proto):
 * consecutive5xxErrors 5, consecutiveGatewayErrors 0 (off), interval 10s, baseEjectionTime 30s (times the
 * number of ejections), maxEjectionPercent 10, minHealthPercent 0.
 */
export const ISTIO_OUTLIER_DEFAULTS = {
  consecutive5xxErrors: 5,
  consecutiveGatewayErrors: 0,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
  minHealthPercent: 0,
} as const;

/**
 * Linkerd's retry budget when a ServiceProfile's retryBudget omits a field: retries may add 20% of the
 * requests, plus 10 retries per second, over a 10 s window (linkerd2 ServiceProfile reference).
 */
export const LINKERD_RETRY_BUDGET_DEFAULTS = { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 } as const;

/** Linkerd's timeout for a ServiceProfile route without `timeout` (linkerd2 ServiceProfile reference: 10s). */
export const LINKERD_ROUTE_TIMEOUT = '10s';

/** Retries of a Linkerd `retry.linkerd.io/http|grpc` annotation without `retry.linkerd.io/limit` (Linkerd: 1). */
export const LINKERD_ANNOTATION_RETRY_LIMIT = 1;

/** HTTPRedirect.redirectCode when omitted (istio/api virtual_service.proto: "Default is 301"). */
export const ISTIO_REDIRECT_CODE = 301;

/**
 * The share of requests a fault or a mirror applies to when its percentage is omitted: all of them
 * (istio/api virtual_service.proto, HTTPFaultInjection.percentage and HTTPRoute.mirrorPercentage).
 */
export const ISTIO_UNSET_PERCENT = 100;

/**
 * The weight of a rule's only destination (a lone destination takes all traffic, whatever it says:
 * istio/api virtual_service.proto, HTTPRouteDestination.weight).
 */
export const ISTIO_LONE_DESTINATION_WEIGHT = 100;

/** Istio's trace sampling when meshConfig says nothing (defaultConfig.tracing.sampling: 1%). */
export const ISTIO_TRACE_SAMPLING_PERCENT = 1;

/** devmesh's own: every request is traced unless `tracing.sampling` says otherwise (a laptop, not production). */
export const DEVMESH_TRACE_SAMPLING_PERCENT = 100;
