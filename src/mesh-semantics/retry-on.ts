// Istio's retryOn: the condition names devmesh understands, and how a retryOn text reads once the
// defaults are filled in. Shared by the schema (what may be written), the importers (what is kept), the
// sidecar config (what the proxy retries on), diff and export.
import { ISTIO_DEFAULT_RETRIES, ISTIO_RETRIABLE_STATUS_CODE } from './defaults.js';

/** Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on names that Istio's retryOn accepts and devmesh implements. */
export const RETRY_ON_CONDITIONS: ReadonlySet<string> = new Set([
  '5xx', 'gateway-error', 'reset', 'connect-failure', 'refused-stream', 'retriable-4xx', 'retriable-status-codes',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

/** A condition name or an HTTP status code (Istio lists retriable status codes inside retryOn). */
export function isRetryOnToken(token: string): boolean {
  return RETRY_ON_CONDITIONS.has(token) || /^\d{3}$/.test(token);
}

/** The comma-separated tokens of a retryOn text, as written. */
export function retryOnTokens(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * What a route retries on: Istio's default conditions when retryOn is omitted, with
 * `retriable-status-codes` standing for 503 (no code is listed anywhere else in the file).
 */
export function effectiveRetryOn(text: string | undefined): string[] {
  return retryOnTokens(text ?? ISTIO_DEFAULT_RETRIES.retryOn).map((c) => (c === 'retriable-status-codes' ? String(ISTIO_RETRIABLE_STATUS_CODE) : c));
}
