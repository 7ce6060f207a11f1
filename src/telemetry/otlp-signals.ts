// One entry point for every OTLP request an app sends, whatever the transport (OTLP/HTTP JSON or protobuf,
// OTLP/gRPC) and signal (traces, metrics, logs): decode, validate (zod), map to what devmesh stores, or throw
// an OtlpRequestError that says what was wrong and where, e.g. that a metrics request was sent as spans.
// The mapped request is kept in its OTLP JSON form too, so the exporter can forward it as received.
import { z } from 'zod';
import type { AppLogRecord, AppMetric, AttributeValue, Span } from '../contract/api.js';
import { AnyValue, hexId, KeyValue, millis, otlpToSpans, scalar } from './otlp.js';
import { decodeOtlpProtobuf, OtlpDecodeError, protobufSignalOf, REQUEST_MESSAGE, SIGNALS, type OtlpSignal } from './otlp-proto.js';

export type { OtlpSignal } from './otlp-proto.js';

/**
 * Set on every span an app sent over OTLP (`app`), so what counts requests through the sidecars (golden
 * metrics, topology, tap) counts each request once, not again for the app's own span of it.
 */
export const REPORTER_ATTRIBUTE = 'devmesh.reporter';
export const isAppSpan = (s: Span): boolean => s.attributes[REPORTER_ATTRIBUTE] === 'app';

/** A request that is not what it was sent as; `message` names the field or the signal it really is. */
export class OtlpRequestError extends Error {}

/** The top-level field of each signal's request in OTLP JSON, and where that request belongs. */
const TOP_FIELD: Record<OtlpSignal, string> = { traces: 'resourceSpans', metrics: 'resourceMetrics', logs: 'resourceLogs' };
const GRPC_SERVICE: Record<OtlpSignal, string> = { traces: 'TraceService', metrics: 'MetricsService', logs: 'LogsService' };
export const HTTP_PATH: Record<OtlpSignal, string> = { traces: '/v1/traces', metrics: '/v1/metrics', logs: '/v1/logs' };

const Nanos = z.union([z.string().regex(/^\d+$/, 'must be a decimal integer (nanoseconds)'), z.number().nonnegative()]);
const Scope = z.object({ name: z.string().optional(), version: z.string().optional() }).optional();
const Resource = z.object({ attributes: z.array(KeyValue).optional() }).optional();
const Num = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?(e[-+]?\d+)?$|^(NaN|Infinity|-Infinity)$/i, 'must be a number')]);
const PointBase = { attributes: z.array(KeyValue).optional(), startTimeUnixNano: Nanos.optional(), timeUnixNano: Nanos.optional() };
const NumberPoint = z.object({ ...PointBase, asDouble: Num.optional(), asInt: Num.optional() });
const CountPoint = z.object({ ...PointBase, count: Num.optional(), sum: Num.optional() });
const Temporality = z.union([z.number(), z.string()]).optional();

const OtlpMetric = z.object({
  name: z.string().min(1, 'a metric needs a name'),
  description: z.string().optional(),
  unit: z.string().optional(),
  gauge: z.object({ dataPoints: z.array(NumberPoint).optional() }).optional(),
  sum: z.object({ dataPoints: z.array(NumberPoint).optional(), aggregationTemporality: Temporality, isMonotonic: z.boolean().optional() }).optional(),
  histogram: z.object({ dataPoints: z.array(CountPoint).optional(), aggregationTemporality: Temporality }).optional(),
  exponentialHistogram: z.object({ dataPoints: z.array(CountPoint).optional(), aggregationTemporality: Temporality }).optional(),
  summary: z.object({ dataPoints: z.array(CountPoint).optional() }).optional(),
});
export const OtlpMetricsRequest = z.object({
  resourceMetrics: z
    .array(z.object({ resource: Resource, scopeMetrics: z.array(z.object({ scope: Scope, metrics: z.array(OtlpMetric).optional() })).optional() }))
    .optional(),
});
export type OtlpMetricsRequest = z.infer<typeof OtlpMetricsRequest>;

const OtlpLogRecord = z.object({
  timeUnixNano: Nanos.optional(),
  observedTimeUnixNano: Nanos.optional(),
  severityNumber: z.union([z.number().int().min(0).max(24), z.string()]).optional(),
  severityText: z.string().optional(),
  body: AnyValue.optional(),
  attributes: z.array(KeyValue).optional(),
  traceId: z.string().optional(),
  spanId: z.string().optional(),
  eventName: z.string().optional(),
});
export const OtlpLogsRequest = z.object({
  resourceLogs: z
    .array(z.object({ resource: Resource, scopeLogs: z.array(z.object({ scope: Scope, logRecords: z.array(OtlpLogRecord).optional() })).optional() }))
    .optional(),
});
export type OtlpLogsRequest = z.infer<typeof OtlpLogsRequest>;

/** One metric's points from one request (any of its series), before the store bounds them. */
export interface MetricBatch extends Omit<AppMetric, 'series' | 'instrumentationScope'> {
  service: string;
  instanceId: string;
  scope: string | null;
  points: { attributes: Record<string, AttributeValue>; tMs: number; value: number | null; count?: number; sum?: number }[];
}

export type OtlpBatch =
  | { signal: 'traces'; spans: Span[] }
  | { signal: 'metrics'; metrics: MetricBatch[]; raw: RawOtlp }
  | { signal: 'logs'; logs: Omit<AppLogRecord, 'seq'>[]; raw: RawOtlp };

/** A request in OTLP JSON form as received (every field kept, for forwarding): `{ resourceMetrics: [...] }`. */
export type RawOtlp = Record<string, unknown>;

/** An OTLP AnyValue as plain JSON (arrays, objects); undefined for an empty one. */
export function plainValue(v: unknown): unknown {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const arr = o.arrayValue as { values?: unknown[] } | undefined;
  if (arr) return (arr.values ?? []).map(plainValue);
  const kvs = o.kvlistValue as { values?: { key: string; value?: unknown }[] } | undefined;
  if (kvs) return Object.fromEntries((kvs.values ?? []).map((kv) => [kv.key, plainValue(kv.value)]));
  return scalar(v) ?? (typeof o.bytesValue === 'string' ? o.bytesValue : undefined);
}

function attributesOf(list: readonly { key: string; value?: unknown }[] | undefined, skip?: ReadonlySet<string>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const { key, value } of list ?? []) {
    if (skip?.has(key)) continue;
    const v = plainValue(value);
    if (v === undefined) continue;
    out[key] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v);
  }
  return out;
}

const IDENTITY = new Set(['service.name', 'service.instance.id']);

function identityOf(resource: { attributes?: { key: string; value?: unknown }[] | undefined } | undefined): { service: string; instanceId: string } {
  const attrs = attributesOf(resource?.attributes);
  const service = String(attrs['service.name'] ?? 'unknown_service');
  return { service, instanceId: String(attrs['service.instance.id'] ?? service) };
}

const num = (v: string | number | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const temporalityOf = (t: string | number | undefined): MetricBatch['temporality'] =>
  t === 2 || t === 'AGGREGATION_TEMPORALITY_CUMULATIVE' ? 'cumulative' : t === 1 || t === 'AGGREGATION_TEMPORALITY_DELTA' ? 'delta' : null;

export function otlpToMetrics(req: OtlpMetricsRequest): MetricBatch[] {
  const out: MetricBatch[] = [];
  (req.resourceMetrics ?? []).forEach((rm, r) => {
    const id = identityOf(rm.resource);
    (rm.scopeMetrics ?? []).forEach((sm, s) => {
      (sm.metrics ?? []).forEach((m, i) => {
        const base = { ...id, scope: sm.scope?.name ?? null, name: m.name, description: m.description ?? '', unit: m.unit ?? '' };
        const at = (p: z.infer<typeof NumberPoint> | z.infer<typeof CountPoint>) => ({ attributes: attributesOf(p.attributes), tMs: p.timeUnixNano !== undefined ? millis(p.timeUnixNano) : Date.now() });
        const numberPoints = (ps: z.infer<typeof NumberPoint>[] | undefined) => (ps ?? []).map((p) => ({ ...at(p), value: num(p.asDouble) ?? num(p.asInt) ?? null }));
        const countPoints = (ps: z.infer<typeof CountPoint>[] | undefined) =>
          (ps ?? []).map((p) => {
            const count = num(p.count) ?? 0;
            const sum = num(p.sum);
            return { ...at(p), value: sum !== undefined && count > 0 ? sum / count : null, count, ...(sum !== undefined ? { sum } : {}) };
          });
        if (m.gauge) out.push({ ...base, type: 'gauge', monotonic: false, temporality: null, points: numberPoints(m.gauge.dataPoints) });
        else if (m.sum) out.push({ ...base, type: 'sum', monotonic: m.sum.isMonotonic ?? false, temporality: temporalityOf(m.sum.aggregationTemporality), points: numberPoints(m.sum.dataPoints) });
        else if (m.histogram) out.push({ ...base, type: 'histogram', monotonic: true, temporality: temporalityOf(m.histogram.aggregationTemporality), points: countPoints(m.histogram.dataPoints) });
        else if (m.exponentialHistogram) out.push({ ...base, type: 'exponentialHistogram', monotonic: true, temporality: temporalityOf(m.exponentialHistogram.aggregationTemporality), points: countPoints(m.exponentialHistogram.dataPoints) });
        else if (m.summary) out.push({ ...base, type: 'summary', monotonic: true, temporality: 'cumulative', points: countPoints(m.summary.dataPoints) });
        else throw new OtlpRequestError(`resourceMetrics[${r}].scopeMetrics[${s}].metrics[${i}] ("${m.name}") has no data: one of gauge, sum, histogram, exponentialHistogram or summary`);
      });
    });
  });
  return out;
}

const SEVERITY_NAMES = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const SEVERITY_ENUM = /^SEVERITY_NUMBER_([A-Z]+)(\d?)$/;

/** "INFO", "WARN3", …, as the OpenTelemetry log data model names severity numbers 1–24. */
export function severityTextOf(n: number): string {
  if (n < 1 || n > 24) return '';
  const name = SEVERITY_NAMES[Math.floor((n - 1) / 4)]!;
  const step = (n - 1) % 4;
  return step === 0 ? name : `${name}${step + 1}`;
}

function severityNumberOf(v: number | string | undefined): number {
  if (typeof v === 'number') return v;
  if (v === undefined) return 0;
  const m = SEVERITY_ENUM.exec(v);
  const i = m ? SEVERITY_NAMES.indexOf(m[1]!) : -1;
  return i < 0 ? 0 : i * 4 + (Number(m![2] || 1) - 1) + 1;
}

function optionalId(id: string | undefined, bytes: number, where: string): string | null {
  if (id === undefined || id === '') return null;
  try {
    const hex = hexId(id, bytes);
    return /^0+$/.test(hex) ? null : hex;
  } catch {
    throw new OtlpRequestError(`${where}: "${id.slice(0, 80)}" is not a ${bytes}-byte id (hex)`);
  }
}

export function otlpToLogs(req: OtlpLogsRequest, nowMs = Date.now()): Omit<AppLogRecord, 'seq'>[] {
  const out: Omit<AppLogRecord, 'seq'>[] = [];
  (req.resourceLogs ?? []).forEach((rl, r) => {
    const id = identityOf(rl.resource);
    const resource = attributesOf(rl.resource?.attributes, IDENTITY);
    (rl.scopeLogs ?? []).forEach((sl, s) => {
      (sl.logRecords ?? []).forEach((lr, i) => {
        const where = `resourceLogs[${r}].scopeLogs[${s}].logRecords[${i}]`;
        const time = lr.timeUnixNano !== undefined && Number(lr.timeUnixNano) > 0 ? lr.timeUnixNano : lr.observedTimeUnixNano;
        const severityNumber = severityNumberOf(lr.severityNumber);
        const body = plainValue(lr.body);
        out.push({
          timeMs: time !== undefined && Number(time) > 0 ? millis(time) : nowMs,
          ...id,
          severityNumber,
          severityText: lr.severityText || severityTextOf(severityNumber),
          body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body),
          attributes: attributesOf(lr.attributes),
          resource,
          scope: sl.scope?.name || null,
          eventName: lr.eventName || null,
          traceId: optionalId(lr.traceId, 16, `${where}.traceId`),
          spanId: optionalId(lr.spanId, 8, `${where}.spanId`),
        });
      });
    });
  });
  return out;
}

/** "resourceSpans[0].scopeSpans[1].spans[2].traceId: expected string" for the first few problems. */
function located(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(body)'}: ${i.message}`)
    .join('; ');
}

/** Maps a request already in OTLP JSON form; throws OtlpRequestError (located) when it does not fit. */
export function mapOtlp(signal: OtlpSignal, request: unknown): OtlpBatch {
  try {
    if (signal === 'traces') return { signal, spans: otlpToSpans(request) };
    if (signal === 'metrics') {
      const req = OtlpMetricsRequest.parse(request);
      return { signal, metrics: otlpToMetrics(req), raw: request as RawOtlp };
    }
    const req = OtlpLogsRequest.parse(request);
    return { signal, logs: otlpToLogs(req), raw: request as RawOtlp };
  } catch (err) {
    if (err instanceof OtlpRequestError) throw err;
    if (err instanceof z.ZodError) throw new OtlpRequestError(located(err));
    throw new OtlpRequestError((err as Error).message);
  }
}

/** Whether a decoded request holds data of its signal that maps cleanly (used to name a misdirected body). */
function plausible(signal: OtlpSignal, request: unknown): boolean {
  try {
    const batch = mapOtlp(signal, request);
    return batch.signal === 'traces' ? batch.spans.length > 0 : batch.signal === 'metrics' ? batch.metrics.length > 0 : batch.logs.length > 0;
  } catch {
    return false;
  }
}

function misdirected(got: OtlpSignal, want: OtlpSignal): string {
  return `this is an OTLP ${got} request (${REQUEST_MESSAGE[got]}), not ${want}: send it to ${HTTP_PATH[got]} (OTLP/gRPC: ${GRPC_SERVICE[got]}/Export)`;
}

/**
 * Decodes and maps one OTLP request body of `signal`, sent as JSON or protobuf (gRPC bodies are protobuf).
 * Throws OtlpRequestError naming what is wrong: a body of another signal, a field of the wrong type, a bad id.
 */
export function parseOtlp(signal: OtlpSignal, body: Uint8Array, encoding: 'json' | 'protobuf'): OtlpBatch {
  const want = REQUEST_MESSAGE[signal];
  if (encoding === 'json') {
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    } catch (err) {
      throw new OtlpRequestError(`not JSON: ${(err as Error).message}`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new OtlpRequestError(`an OTLP JSON ${want} is an object with ${TOP_FIELD[signal]}`);
    const keys = Object.keys(json);
    if (!keys.includes(TOP_FIELD[signal]) && keys.length > 0) {
      const other = SIGNALS.find((s) => keys.includes(TOP_FIELD[s]));
      if (other) throw new OtlpRequestError(misdirected(other, signal));
      throw new OtlpRequestError(`an OTLP JSON ${want} has ${TOP_FIELD[signal]}; this body has ${keys.slice(0, 5).join(', ')}`);
    }
    return mapOtlp(signal, json);
  }
  try {
    return mapOtlp(signal, decodeOtlpProtobuf(signal, body));
  } catch (err) {
    if (!(err instanceof OtlpDecodeError || err instanceof OtlpRequestError)) throw err;
    const other = protobufSignalOf(body, signal, plausible);
    throw new OtlpRequestError(other ? misdirected(other, signal) : `not a protobuf ${want}: ${err.message}`);
  }
}
