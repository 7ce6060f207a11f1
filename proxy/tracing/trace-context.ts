// Trace context as Istio's Envoy reads and writes it: W3C Trace Context (traceparent) and Zipkin's B3, in
// its multi-header (x-b3-traceid, x-b3-spanid, x-b3-parentspanid, x-b3-sampled, x-b3-flags) and single-header
// (b3) forms, read whichever an app forwards and written beside each other on every hop; and x-request-id,
// made when a request arrives without one (Envoy's UUID request id). Ids come from a pre-filled random
// buffer: a span per request must not cost a crypto call each.
import { randomFillSync, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface TraceContext {
  traceId: string;
  spanId: string;
  /** W3C trace flags; null when the caller left the sampling decision open (B3 without x-b3-sampled). */
  flags: string | null;
}

/** The headers the sidecar writes itself on every hop; a copy from the app would be stale. */
export const TRACE_HEADERS = ['traceparent', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'b3'] as const;
/** Envoy's request id: forwarded as it came, made at the first sidecar that sees a request without one. */
export const REQUEST_ID_HEADER = 'x-request-id';

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
  if (parent !== null && parent.flags !== null) return parent.flags;
  return percent >= 100 || Math.random() * 100 < percent ? '01' : '00';
}

/** The sampled bit of the trace flags: only sampled requests get spans; every request gets metrics. */
export function isSampled(flags: string): boolean {
  return flags === '01' || (flags !== '00' && (parseInt(flags, 16) & 1) === 1);
}

const HEX16 = /^[0-9a-f]{16}$/;
const TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A B3 trace id: 64-bit ids are left-padded to 128 bits, as OpenTelemetry's B3 propagator does. */
function b3TraceId(raw: string): string | null {
  const id = raw.trim().toLowerCase();
  if (!TRACE_ID.test(id)) return null;
  const full = id.length === 16 ? ZERO_SPAN + id : id;
  return full === ZERO_TRACE ? null : full;
}

function b3SpanId(raw: string): string | null {
  const id = raw.trim().toLowerCase();
  return HEX16.test(id) && id !== ZERO_SPAN ? id : null;
}

/** B3 sampling state to W3C flags: "1"/"true" and debug ("d", x-b3-flags: 1) sample, "0"/"false" do not. */
function b3Flags(sampled: string | undefined, debug: boolean): string | null {
  if (debug) return '01';
  if (sampled === undefined) return null;
  const v = sampled.trim().toLowerCase();
  if (v === '1' || v === 'true' || v === 'd') return '01';
  if (v === '0' || v === 'false') return '00';
  return null;
}

/**
 * B3 single header: `{traceid}-{spanid}[-{sampling}[-{parentspanid}]]`. The sampling-only forms (`0`, `1`,
 * `d`) carry no ids: they are not a context, so the request starts a trace sampled at the mesh's rate.
 */
export function parseB3Single(header: string | string[] | undefined): TraceContext | null {
  const value = one(header);
  if (value === undefined) return null;
  const parts = value.split('-');
  if (parts.length < 2 || parts.length > 4) return null;
  const traceId = b3TraceId(parts[0]!);
  const spanId = b3SpanId(parts[1]!);
  if (traceId === null || spanId === null) return null;
  if (parts.length === 4 && b3SpanId(parts[3]!) === null) return null;
  const flags = parts.length >= 3 ? b3Flags(parts[2], false) : null;
  if (parts.length >= 3 && flags === null) return null;
  return { traceId, spanId, flags };
}

/** B3 multi headers: x-b3-traceid and x-b3-spanid, with x-b3-sampled / x-b3-flags for the decision. */
export function parseB3Multi(headers: IncomingHttpHeaders): TraceContext | null {
  const rawTrace = one(headers['x-b3-traceid']);
  const rawSpan = one(headers['x-b3-spanid']);
  if (rawTrace === undefined || rawSpan === undefined) return null;
  const traceId = b3TraceId(rawTrace);
  const spanId = b3SpanId(rawSpan);
  if (traceId === null || spanId === null) return null;
  return { traceId, spanId, flags: b3Flags(one(headers['x-b3-sampled']), one(headers['x-b3-flags'])?.trim() === '1') };
}

/**
 * The context a request carries, whichever form the app forwarded: traceparent first (what the sidecars
 * write and OpenTelemetry SDKs forward), then the single b3 header, then the x-b3-* headers. An invalid
 * header is passed over for the next form; none valid is null (then a new trace, or the x-request-id join).
 */
export function extractTraceContext(headers: IncomingHttpHeaders): TraceContext | null {
  if (headers.traceparent !== undefined) {
    const w3c = parseTraceparent(headers.traceparent);
    if (w3c !== null) return w3c;
  }
  if (headers.b3 !== undefined) {
    const single = parseB3Single(headers.b3);
    if (single !== null) return single;
  }
  return headers['x-b3-traceid'] === undefined ? null : parseB3Multi(headers);
}

/**
 * Appends the span's context to a flat header list in every form Envoy writes: traceparent, and B3's
 * x-b3-traceid / x-b3-spanid / x-b3-parentspanid / x-b3-sampled; the single `b3` header too when the
 * request came with one (an app whose tracer speaks single-header B3 gets it back; others are spared it).
 */
export function pushTraceHeaders(headers: string[], traceId: string, spanId: string, parentSpanId: string | null, flags: string, single: boolean): void {
  const sampled = isSampled(flags) ? '1' : '0';
  headers.push('traceparent', formatTraceparent(traceId, spanId, flags), 'x-b3-traceid', traceId, 'x-b3-spanid', spanId, 'x-b3-sampled', sampled);
  if (parentSpanId !== null) headers.push('x-b3-parentspanid', parentSpanId);
  if (single) headers.push('b3', parentSpanId === null ? `${traceId}-${spanId}-${sampled}` : `${traceId}-${spanId}-${sampled}-${parentSpanId}`);
}

/** The request's x-request-id as it came; undefined when it has none (then newRequestId makes one). */
export function requestIdOf(headers: IncomingHttpHeaders): string | undefined {
  const given = one(headers[REQUEST_ID_HEADER]);
  return given === '' ? undefined : given;
}

/** A UUID v4, as Envoy's request id extension makes (node's randomUUID draws from a cached entropy pool). */
export const newRequestId = (): string => randomUUID();

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
