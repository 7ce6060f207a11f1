// OTLP protobuf (`application/x-protobuf` over HTTP, and the body of every OTLP/gRPC call) → the OTLP JSON
// shape that otlp.ts / otlp-signals.ts validate and map, so both encodings share one validated path.
//
// The schema below is the subset of opentelemetry-proto (collector/{trace,metrics,logs}/v1, trace/v1,
// metrics/v1, logs/v1, common/v1, resource/v1; github.com/open-telemetry/opentelemetry-proto) that devmesh
// keeps, with the same message names and field numbers (enums as int32, the same varint on the wire), so it
// is wire-compatible with every OTLP exporter. Fields it leaves out (events, links, exemplars, dropped counts,
// schema urls) are skipped as unknown fields, which protobuf allows by design. protobufjs decodes it by
// reflection: no generated code, no .proto file to ship.
//
// protobufjs' decoder does not check wire types, so a body of another message (a metrics request posted as
// spans) could decode into garbage: checkWire() walks the body first and names the first field whose wire
// type does not fit, and signalOf() tells which OTLP request the body does decode as, for the error message.
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package opentelemetry.proto;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Resource { repeated KeyValue attributes = 1; }

// trace/v1
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }

// metrics/v1
message NumberDataPoint {
  repeated KeyValue attributes = 7;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  fixed64 count = 4;
  optional double sum = 5;
  repeated fixed64 bucket_counts = 6;
  repeated double explicit_bounds = 7;
  optional double min = 11;
  optional double max = 12;
}
message ExponentialHistogramDataPoint {
  repeated KeyValue attributes = 1;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  fixed64 count = 4;
  optional double sum = 5;
  sint32 scale = 6;
  fixed64 zero_count = 7;
  optional double min = 12;
  optional double max = 13;
}
message ValueAtQuantile { double quantile = 1; double value = 2; }
message SummaryDataPoint {
  repeated KeyValue attributes = 7;
  fixed64 start_time_unix_nano = 2;
  fixed64 time_unix_nano = 3;
  fixed64 count = 4;
  double sum = 5;
  repeated ValueAtQuantile quantile_values = 6;
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message ExponentialHistogram { repeated ExponentialHistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message Summary { repeated SummaryDataPoint data_points = 1; }
message Metric {
  string name = 1;
  string description = 2;
  string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10; Summary summary = 11; }
}
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }

// logs/v1
message LogRecord {
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  int32 severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  string event_name = 12;
}
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }

// google.rpc.Status: the body of an OTLP/HTTP protobuf error response.
message RpcStatus { int32 code = 1; string message = 2; }
`;

export type OtlpSignal = 'traces' | 'metrics' | 'logs';
export const SIGNALS: readonly OtlpSignal[] = ['traces', 'metrics', 'logs'];

/** The collector service request message of each signal, as the OTLP protos name it. */
export const REQUEST_MESSAGE: Record<OtlpSignal, string> = {
  traces: 'ExportTraceServiceRequest',
  metrics: 'ExportMetricsServiceRequest',
  logs: 'ExportLogsServiceRequest',
};

interface Types {
  request: Record<OtlpSignal, protobuf.Type>;
  rpcStatus: protobuf.Type;
}

// Parsed once, on first use: an app that never sends protobuf costs nothing.
let types: Types | null = null;
function schema(): Types {
  if (types === null) {
    const root = protobuf.parse(SCHEMA, { keepCase: false }).root;
    root.resolveAll();
    const t = (name: string) => root.lookupType(`opentelemetry.proto.${name}`);
    types = {
      request: { traces: t(REQUEST_MESSAGE.traces), metrics: t(REQUEST_MESSAGE.metrics), logs: t(REQUEST_MESSAGE.logs) },
      rpcStatus: t('RpcStatus'),
    };
  }
  return types;
}

/** A body that is not the protobuf message it was sent as; the message names the field. */
export class OtlpDecodeError extends Error {}

const WIRE_NAME = ['VARINT', 'I64', 'LEN', 'SGROUP', 'EGROUP', 'I32'];

function wireTypesOf(field: protobuf.Field): number[] {
  if (field.resolvedType instanceof protobuf.Type || field.type === 'string' || field.type === 'bytes') return [2];
  const basic = (protobuf.types.basic as Record<string, number | undefined>)[field.type] ?? 0;
  // A repeated scalar may come packed (LEN) or one by one.
  return field.repeated ? [basic, 2] : [basic];
}

/** Walks a protobuf body against `type`, throwing at the first known field whose wire type does not fit. */
function checkWire(type: protobuf.Type, body: Uint8Array, path: string): void {
  const reader = protobuf.Reader.create(body);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    if (id === 0) throw new OtlpDecodeError(`${path}: field number 0 at byte ${reader.pos}`);
    const field = type.fieldsById[id];
    if (field === undefined) {
      reader.skipType(wire);
      continue;
    }
    const fit = wireTypesOf(field);
    const where = `${path}.${field.name}`;
    if (!fit.includes(wire)) throw new OtlpDecodeError(`${where} (field ${id}) is encoded as ${WIRE_NAME[wire] ?? wire}, but ${type.name}.${field.name} is ${WIRE_NAME[fit[0]!]}`);
    if (wire === 2 && field.resolvedType instanceof protobuf.Type) checkWire(field.resolvedType, reader.bytes(), where);
    else reader.skipType(wire);
  }
}

type Json = Record<string, unknown>;
const toHex = (b64: unknown) => (typeof b64 === 'string' && b64 !== '' ? Buffer.from(b64, 'base64').toString('hex') : undefined);
const list = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

function hexIds(o: Json, keys: readonly string[]): void {
  for (const k of keys) {
    const hex = toHex(o[k]);
    if (hex === undefined) delete o[k];
    else o[k] = hex;
  }
}

function wireDecode(signal: OtlpSignal, body: Uint8Array): Json {
  const type = schema().request[signal];
  try {
    checkWire(type, body, type.name);
    return type.toObject(type.decode(body), { longs: String, enums: Number, bytes: String, defaults: false, arrays: true, oneofs: false }) as Json;
  } catch (err) {
    if (err instanceof OtlpDecodeError) throw err;
    throw new OtlpDecodeError(`${type.name}: ${(err as Error).message}`);
  }
}

/**
 * Decodes a protobuf Export<Signal>ServiceRequest into its OTLP JSON form (ids in hex, as the JSON encoding
 * has them; 64-bit integers as decimal strings). Throws OtlpDecodeError on a body that is not one.
 */
export function decodeOtlpProtobuf(signal: OtlpSignal, body: Uint8Array): unknown {
  const obj = wireDecode(signal, body);
  if (signal === 'traces') {
    for (const rs of list(obj.resourceSpans)) {
      for (const ss of list(rs.scopeSpans)) {
        for (const sp of list(ss.spans)) {
          sp.traceId = toHex(sp.traceId) ?? '';
          sp.spanId = toHex(sp.spanId) ?? '';
          hexIds(sp, ['parentSpanId']);
          // proto3 leaves zero timestamps off the wire; the JSON shape requires them.
          sp.startTimeUnixNano ??= '0';
          sp.endTimeUnixNano ??= sp.startTimeUnixNano;
        }
      }
    }
  } else if (signal === 'logs') {
    for (const rl of list(obj.resourceLogs)) for (const sl of list(rl.scopeLogs)) for (const lr of list(sl.logRecords)) hexIds(lr, ['traceId', 'spanId']);
  }
  return obj;
}

export function decodeOtlpTraceProtobuf(body: Uint8Array): unknown {
  return decodeOtlpProtobuf('traces', body);
}

/** Which other OTLP request a protobuf body decodes as cleanly (for saying what a misdirected body is), if any. */
export function protobufSignalOf(body: Uint8Array, except: OtlpSignal, plausible: (signal: OtlpSignal, request: unknown) => boolean): OtlpSignal | null {
  for (const signal of SIGNALS) {
    if (signal === except) continue;
    try {
      if (plausible(signal, decodeOtlpProtobuf(signal, body))) return signal;
    } catch {
      /* not this one */
    }
  }
  return null;
}

/** An empty Export*ServiceResponse (full success) is zero bytes. */
export const OTLP_PROTOBUF_SUCCESS = new Uint8Array(0);

/** google.rpc.Status for an OTLP/HTTP protobuf error response. */
export function encodeRpcStatus(code: number, message: string): Uint8Array {
  const { rpcStatus } = schema();
  return rpcStatus.encode(rpcStatus.create({ code, message })).finish();
}
