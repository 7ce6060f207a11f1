// Retry policy, with Envoy/Istio retryOn semantics, as plain data the attempt loop consults.
// Each retry goes to the next endpoint (the balancer's round robin), after a jittered exponential backoff.
import type { TransportFailure } from '../errors.js';

export interface CompiledRetry {
  /** Retries after the first try. */
  retries: number;
  perTryTimeoutMs: number | undefined;
  /** Retry when the upstream answered with this status. */
  retryStatus(status: number, grpcStatus: string | string[] | undefined): boolean;
  /** Retry after a transport failure of this kind. */
  retryTransport(kind: TransportFailure): boolean;
}

const GRPC_CODES: Record<string, string> = {
  cancelled: '1',
  'deadline-exceeded': '4',
  'resource-exhausted': '8',
  unavailable: '14',
  internal: '13',
};

/** Conditions accepted but without an effect here (no HTTP/3, no rate limit service, no header list). */
const NO_OP = new Set(['http3-post-connect-failure', 'envoy-ratelimited', 'retriable-headers']);

const KNOWN = ['5xx', 'gateway-error', 'connect-failure', 'reset', 'refused-stream', 'retriable-4xx', 'retriable-status-codes', ...Object.keys(GRPC_CODES), ...NO_OP];

/** Splits Istio's comma-joined form too, so ["5xx,connect-failure"] and ["5xx", "connect-failure"] agree. */
export function retryOnWords(retryOn: readonly string[]): string[] {
  const words: string[] = [];
  for (const entry of retryOn) {
    for (const w of entry.split(',')) {
      const word = w.trim().toLowerCase();
      if (word) words.push(word);
    }
  }
  return words;
}

/** Null when every word is understood, else the first one that is not (for the NACK). */
export function unknownRetryOn(retryOn: readonly string[]): string | null {
  for (const word of retryOnWords(retryOn)) {
    if (/^[1-5]\d\d$/.test(word)) continue;
    if (!KNOWN.includes(word)) return word;
  }
  return null;
}

export function compileRetry(policy: { attempts: number; perTryTimeoutMs?: number; retryOn: readonly string[] }): CompiledRetry {
  const words = new Set(retryOnWords(policy.retryOn));
  const any5xx = words.has('5xx');
  const gateway = words.has('gateway-error');
  const codes = new Set<number>();
  for (const w of words) if (/^\d{3}$/.test(w)) codes.add(Number(w));
  // Istio's default policy pairs retriable-status-codes with 503; alone, it means that.
  if (words.has('retriable-status-codes') && codes.size === 0) codes.add(503);
  if (words.has('retriable-4xx')) codes.add(409);
  const grpc = new Set<string>();
  for (const [word, code] of Object.entries(GRPC_CODES)) if (words.has(word)) grpc.add(code);
  // Envoy counts "no response at all" under 5xx, gateway-error and reset alike.
  const anyTransport = any5xx || gateway || words.has('reset');
  const connect = anyTransport || words.has('connect-failure');
  const refused = any5xx || words.has('refused-stream');
  return {
    retries: policy.attempts,
    perTryTimeoutMs: policy.perTryTimeoutMs,
    retryStatus(status, grpcStatus) {
      if (any5xx && status >= 500) return true;
      if (gateway && status >= 502 && status <= 504) return true;
      if (codes.has(status)) return true;
      if (grpc.size > 0 && grpcStatus !== undefined) return grpc.has(Array.isArray(grpcStatus) ? grpcStatus[0] ?? '' : grpcStatus);
      return false;
    },
    retryTransport(kind) {
      if (kind === 'connect-failure') return connect;
      // An HTTP/2 stream the upstream refused never started: Envoy counts it under 5xx too.
      if (kind === 'refused-stream') return refused;
      return anyTransport;
    },
  };
}

const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 250;

/** Full-jitter exponential backoff before retry number `retry` (1-based), as Envoy does (25 ms base, 250 ms cap). */
export function backoffMs(retry: number): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (retry - 1));
  return Math.random() * ceiling;
}
