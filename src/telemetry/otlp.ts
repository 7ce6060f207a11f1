// OTLP JSON (the OpenTelemetry protocol's JSON encoding of ExportTraceServiceRequest) to and from the
// store's spans. Used for export/import in the trace inspector and for OTLP/HTTP ingest from apps.
// Only what the store keeps is mapped; devmesh's own fields travel as `devmesh.*` attributes so an
// export re-imports losslessly.
import { z } from 'zod';
import type { Span } from '../contract/api.js';
import { expandHeaderLines, redactQuery } from '../../proxy/protocol/index.js';
import type { IncomingSpan } from './trace-store.js';

export const AnyValue: z.ZodType<unknown> = z.lazy(() =>
  z.object({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: z.union([z.string(), z.number()]).optional(),
    doubleValue: z.number().optional(),
    arrayValue: z.object({ values: z.array(AnyValue).optional() }).optional(),
    kvlistValue: z.object({ values: z.array(z.object({ key: z.string(), value: AnyValue })).optional() }).optional(),
    bytesValue: z.string().optional(),
  }),
);
export const KeyValue = z.object({ key: z.string(), value: AnyValue.optional() });
const OtlpSpan = z.object({
  traceId: z.string(),
  spanId: z.string(),
  parentSpanId: z.string().optional(),
  name: z.string().optional(),
  kind: z.union([z.number(), z.string()]).optional(),
  startTimeUnixNano: z.union([z.string(), z.number()]),
  endTimeUnixNano: z.union([z.string(), z.number()]),
  attributes: z.array(KeyValue).optional(),
  status: z.object({ code: z.union([z.number(), z.string()]).optional(), message: z.string().optional() }).optional(),
});
export const OtlpTraceRequest = z.object({
  resourceSpans: z
    .array(
      z.object({
        resource: z.object({ attributes: z.array(KeyValue).optional() }).optional(),
        scopeSpans: z.array(z.object({ scope: z.unknown().optional(), spans: z.array(OtlpSpan).optional() })).optional(),
      }),
    )
    .optional(),
});
export type OtlpTraceRequest = z.infer<typeof OtlpTraceRequest>;

type Scalar = string | number | boolean;
type OtlpKeyValue = { key: string; value: { stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number } };

export function scalar(v: unknown): Scalar | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.stringValue === 'string') return o.stringValue;
  if (typeof o.boolValue === 'boolean') return o.boolValue;
  if (o.intValue !== undefined) return Number(o.intValue);
  if (typeof o.doubleValue === 'number') return o.doubleValue;
  if (o.arrayValue || o.kvlistValue) return JSON.stringify(o.arrayValue ?? o.kvlistValue);
  return undefined;
}

function kv(key: string, v: Scalar): OtlpKeyValue {
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  if (typeof v === 'number') return Number.isInteger(v) ? { key, value: { intValue: String(v) } } : { key, value: { doubleValue: v } };
  return { key, value: { stringValue: v } };
}

/** OTLP ids are hex in JSON (the spec), but some exporters send base64: accept both. */
export function hexId(id: string, bytes: number): string {
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(id)) return id.toLowerCase();
  const buf = Buffer.from(id, 'base64');
  if (buf.length === bytes) return buf.toString('hex');
  throw new Error(`not a ${bytes}-byte id: ${id}`);
}

const KIND_IN: Record<string, Span['kind']> = { '1': 'internal', '2': 'server', '3': 'client', '4': 'client', '5': 'server' };
const KIND_NAME: Record<string, string> = { SPAN_KIND_INTERNAL: '1', SPAN_KIND_SERVER: '2', SPAN_KIND_CLIENT: '3', SPAN_KIND_PRODUCER: '4', SPAN_KIND_CONSUMER: '5' };
const KIND_OUT: Record<Span['kind'], number> = { internal: 1, server: 2, client: 3 };

const nanos = (ms: number) => (BigInt(Math.round(ms * 1000)) * 1000n).toString();
export const millis = (ns: string | number) => Number(BigInt(typeof ns === 'number' ? Math.round(ns) : ns) / 1000n) / 1000;

export function spansToOtlp(spans: readonly IncomingSpan[]): OtlpTraceRequest {
  const byResource = new Map<string, IncomingSpan[]>();
  for (const s of spans) {
    const key = `${s.service}\u0000${s.instanceId}`;
    byResource.set(key, [...(byResource.get(key) ?? []), s]);
  }
  return {
    resourceSpans: [...byResource.values()].map((list) => ({
      resource: { attributes: [kv('service.name', list[0]!.service), kv('service.instance.id', list[0]!.instanceId)] },
      scopeSpans: [
        {
          scope: { name: 'devmesh' },
          spans: list.map((s) => {
            const attributes: OtlpKeyValue[] = [
              kv('http.request.method', s.method),
              kv('url.path', s.path),
              kv('http.response.status_code', s.status),
              kv('devmesh.attempts', s.attempts),
              ...(s.peerService ? [kv('peer.service', s.peerService)] : []),
              ...(s.error ? [kv('error.type', s.error)] : []),
              ...Object.entries(withHeaders(s)).map(([k, v]) => kv(k, v)),
            ];
            return {
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: `${s.method} ${s.path}`,
              kind: KIND_OUT[s.kind],
              startTimeUnixNano: nanos(s.startMs),
              endTimeUnixNano: nanos(s.startMs + s.durationMs),
              attributes,
              status: isError(s) ? { code: 2, ...(s.error ? { message: s.error } : {}) } : { code: 0 },
            };
          }),
        },
      ],
    })),
  };
}

/** A span's attributes with a sidecar span's header lines among them, as OpenTelemetry names headers. */
function withHeaders(s: IncomingSpan): Span['attributes'] {
  if (!s.headers) return s.attributes;
  const attributes = { ...s.attributes };
  expandHeaderLines(attributes, s.headers);
  return attributes;
}

function isError(s: Span): boolean {
  return s.status >= 500 || s.error !== null;
}

const CONSUMED = new Set(['http.request.method', 'http.method', 'url.path', 'http.target', 'http.route', 'http.response.status_code', 'http.status_code', 'devmesh.attempts', 'peer.service', 'error.type']);

/** Attributes an SDK fills with a URL or its query (semantic conventions, old and new names). */
const URL_ATTRIBUTES = new Set(['url.full', 'url.query', 'http.url', 'http.target', 'url.original']);

/** Credential-named query parameters masked, as in the sidecars' spans (`url.query` has no leading '?'). */
function redactUrlAttribute(key: string, value: string): string {
  return key === 'url.query' ? redactQuery(`?${value}`).slice(1) : redactQuery(value);
}

const HTTP_SPAN_NAME = /^(GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH) (\S.*)$/;

export function otlpToSpans(body: unknown): Span[] {
  const req = OtlpTraceRequest.parse(body);
  const out: Span[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const res = new Map((rs.resource?.attributes ?? []).map((a) => [a.key, scalar(a.value)]));
    const service = String(res.get('service.name') ?? 'unknown_service');
    const instanceId = String(res.get('service.instance.id') ?? service);
    for (const ss of rs.scopeSpans ?? []) {
      for (const sp of ss.spans ?? []) {
        const attrs = new Map((sp.attributes ?? []).map((a) => [a.key, scalar(a.value)]));
        const attributes: Span['attributes'] = {};
        for (const [k, v] of attrs) if (v !== undefined && !CONSUMED.has(k)) attributes[k] = typeof v === 'string' && URL_ATTRIBUTES.has(k) ? redactUrlAttribute(k, v) : v;
        const kindKey = typeof sp.kind === 'string' ? (KIND_NAME[sp.kind] ?? sp.kind) : String(sp.kind ?? 1);
        const startMs = millis(sp.startTimeUnixNano);
        const statusCode = Number(attrs.get('http.response.status_code') ?? attrs.get('http.status_code') ?? 0);
        const otelError = String(sp.status?.code ?? '') === '2' || sp.status?.code === 'STATUS_CODE_ERROR';
        const errorType = attrs.get('error.type');
        // "GET /cart" (how devmesh exports its spans, and HTTP semantic conventions name spans) is a method and a
        // path; any other name ("I'm a server span", "load cart") is only a name.
        const named = HTTP_SPAN_NAME.exec(sp.name ?? '');
        if (sp.name && !attrs.has('http.request.method') && !attrs.has('http.method')) attributes['otel.name'] = sp.name;
        out.push({
          traceId: hexId(sp.traceId, 16),
          spanId: hexId(sp.spanId, 8),
          parentSpanId: sp.parentSpanId ? hexId(sp.parentSpanId, 8) : null,
          kind: KIND_IN[kindKey] ?? 'internal',
          service,
          instanceId,
          peerService: typeof attrs.get('peer.service') === 'string' ? String(attrs.get('peer.service')) : null,
          method: String(attrs.get('http.request.method') ?? attrs.get('http.method') ?? named?.[1] ?? ''),
          path: redactQuery(String(attrs.get('url.path') ?? attrs.get('http.target') ?? attrs.get('http.route') ?? named?.[2] ?? sp.name ?? '')),
          status: Number.isFinite(statusCode) ? statusCode : 0,
          startMs,
          durationMs: Math.max(0, millis(sp.endTimeUnixNano) - startMs),
          attempts: Number(attrs.get('devmesh.attempts') ?? 1) || 1,
          error: errorType !== undefined ? String(errorType) : otelError ? (sp.status?.message ?? 'error') : null,
          attributes,
        });
      }
    }
  }
  return out;
}
