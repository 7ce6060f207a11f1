// W3C Trace Context (traceparent) parsing and id generation.
// Ids come from a pre-filled random buffer: a span per request must not cost a crypto call each.
import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A valid traceparent's context, or null (then the caller starts a new trace, as the spec says). */
export function parseTraceparent(header: string | string[] | undefined): TraceContext | null {
  if (header === undefined) return null;
  const value = (Array.isArray(header) ? header[0] ?? '' : header).trim();
  const m = TRACEPARENT.exec(value);
  if (m === null) return null;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  // Version ff is forbidden; version 00 has exactly four fields. Later versions may append fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, flags };
}

/**
 * The trace flags for a request: a caller's sampling decision stands (W3C trace context, as Envoy honours
 * it); a new trace is sampled at `percent` (the mesh's tracing.sampling, 100 unless set).
 */
export function traceFlags(parent: TraceContext | null, percent: number): string {
  if (parent !== null) return parent.flags;
  return percent >= 100 || Math.random() * 100 < percent ? '01' : '00';
}

/** The sampled bit of the trace flags: only sampled requests get spans; every request gets metrics. */
export function isSampled(flags: string): boolean {
  return flags === '01' || (flags !== '00' && (parseInt(flags, 16) & 1) === 1);
}

export function formatTraceparent(traceId: string, spanId: string, flags: string): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function randomHex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  // An all-zero id is invalid; the odds are negligible but the fix is free.
  return /^0+$/.test(hex) ? randomHex(bytes) : hex;
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);
