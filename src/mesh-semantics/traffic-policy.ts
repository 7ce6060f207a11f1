// A traffic policy's outlier detection and retry budget with every omitted field filled in: what the
// sidecar enforces and what `devmesh diff` compares are the same numbers.
import { durationMs, type TrafficPolicySpec } from '../config/mesh-schema.js';
import { ISTIO_OUTLIER_DEFAULTS, LINKERD_RETRY_BUDGET_DEFAULTS } from './defaults.js';

type OutlierDetectionSpec = NonNullable<TrafficPolicySpec['outlierDetection']>;
type RetryBudgetSpec = NonNullable<TrafficPolicySpec['retryBudget']>;

/** Every field of Istio's outlierDetection, in milliseconds where it is a time (the proxy's shape too). */
export type EffectiveOutlierDetection = { [K in keyof typeof ISTIO_OUTLIER_DEFAULTS]: number };

/** Linkerd's retry budget, every field set (the proxy's shape too). */
export type EffectiveRetryBudget = { [K in keyof typeof LINKERD_RETRY_BUDGET_DEFAULTS]: number };

export function effectiveOutlierDetection(od: OutlierDetectionSpec): EffectiveOutlierDetection {
  return {
    consecutive5xxErrors: od.consecutive5xxErrors ?? ISTIO_OUTLIER_DEFAULTS.consecutive5xxErrors,
    consecutiveGatewayErrors: od.consecutiveGatewayErrors ?? ISTIO_OUTLIER_DEFAULTS.consecutiveGatewayErrors,
    intervalMs: od.interval ? durationMs(od.interval) : ISTIO_OUTLIER_DEFAULTS.intervalMs,
    baseEjectionTimeMs: od.baseEjectionTime ? durationMs(od.baseEjectionTime) : ISTIO_OUTLIER_DEFAULTS.baseEjectionTimeMs,
    maxEjectionPercent: od.maxEjectionPercent ?? ISTIO_OUTLIER_DEFAULTS.maxEjectionPercent,
    minHealthPercent: od.minHealthPercent ?? ISTIO_OUTLIER_DEFAULTS.minHealthPercent,
  };
}

export function effectiveRetryBudget(rb: RetryBudgetSpec): EffectiveRetryBudget {
  return {
    ratio: rb.retryRatio ?? LINKERD_RETRY_BUDGET_DEFAULTS.ratio,
    minPerSecond: rb.minRetriesPerSecond ?? LINKERD_RETRY_BUDGET_DEFAULTS.minPerSecond,
    ttlMs: rb.ttl ? durationMs(rb.ttl) : LINKERD_RETRY_BUDGET_DEFAULTS.ttlMs,
  };
}
