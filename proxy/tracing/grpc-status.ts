// A gRPC call's outcome on its span. gRPC answers 200 at the HTTP level and puts the call's status in the
// trailers (or, trailers-only, in the one HEADERS frame), so the HTTP status alone calls a failed call a
// success. The span carries OpenTelemetry's `rpc.grpc.status_code` and, where the semantic conventions
// (model/rpc, "gRPC status") say the span's status is Error, an error naming the status: on a client span
// every status but OK, on a server span only those that are the server's fault (UNKNOWN,
// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS).
import type { SpanRecord } from '../protocol/index.js';

const NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;
const SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

/** The grpc-status value as a code, or null when there is none (or it is not a status code). */
export function grpcStatusCode(value: string | number | string[] | undefined | null): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text === null || text === '') return null;
  const code = Number(text);
  return Number.isInteger(code) && code >= 0 && code <= 16 ? code : null;
}

/**
 * Adds `rpc.system` and `rpc.grpc.status_code` to `attributes` and returns the span's error: `error` when
 * the exchange already failed (a transport error says more), else `grpc-<status>` when the status is an
 * error for a span of this kind, else null.
 */
export function grpcSpanOutcome(kind: SpanRecord['kind'], code: number | null, attributes: SpanRecord['attributes'], error: string | null): string | null {
  if (code === null) return error;
  attributes['rpc.system'] = 'grpc';
  attributes['rpc.grpc.status_code'] = code;
  if (error !== null || code === 0 || (kind === 'server' && !SERVER_ERRORS.has(code))) return error;
  return `grpc-${NAMES[code]!.toLowerCase().replaceAll('_', '-')}`;
}
