// OTLP/HTTP protobuf (`application/x-protobuf`) ExportTraceServiceRequest → the OTLP JSON shape that
// otlp.ts already maps to spans, so both encodings share one validated path (zod in otlpToSpans).
//
// The schema below is the subset of opentelemetry-proto (collector/trace/v1, trace/v1, common/v1,
// resource/v1) that the store keeps, written here with the same message names and field numbers (enums
// as int32, the same varint on the wire), so it is wire-compatible with every OTLP exporter. Fields it leaves out (events, links,
// trace_state, dropped counts, schema urls) are skipped by the decoder as unknown fields, which protobuf
// allows by design. protobufjs decodes it by reflection: no generated code, no .proto file to ship.
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
// google.rpc.Status: the body of an OTLP/HTTP protobuf error response.
message RpcStatus { int32 code = 1; string message = 2; }
`;

// Parsed once, on first use: an app that never sends protobuf costs nothing.
let types: { request: protobuf.Type; rpcStatus: protobuf.Type } | null = null;
function schema(): { request: protobuf.Type; rpcStatus: protobuf.Type } {
  if (types === null) {
    const root = protobuf.parse(SCHEMA, { keepCase: false }).root;
    types = {
      request: root.lookupType('opentelemetry.proto.ExportTraceServiceRequest'),
      rpcStatus: root.lookupType('opentelemetry.proto.RpcStatus'),
    };
  }
  return types;
}

type Json = Record<string, unknown>;
const toHex = (b64: unknown) => (typeof b64 === 'string' && b64 !== '' ? Buffer.from(b64, 'base64').toString('hex') : undefined);

/**
 * Decodes a protobuf ExportTraceServiceRequest into its OTLP JSON form (ids in hex, as the JSON encoding
 * has them; 64-bit integers as decimal strings). Throws on a malformed body.
 */
export function decodeOtlpTraceProtobuf(body: Uint8Array): unknown {
  const { request } = schema();
  const obj = request.toObject(request.decode(body), { longs: String, enums: Number, bytes: String, defaults: false, arrays: true }) as Json;
  for (const rs of (obj.resourceSpans ?? []) as Json[]) {
    for (const ss of (rs.scopeSpans ?? []) as Json[]) {
      for (const sp of (ss.spans ?? []) as Json[]) {
        sp.traceId = toHex(sp.traceId) ?? '';
        sp.spanId = toHex(sp.spanId) ?? '';
        const parent = toHex(sp.parentSpanId);
        if (parent === undefined) delete sp.parentSpanId;
        else sp.parentSpanId = parent;
        // proto3 leaves zero timestamps off the wire; the JSON shape requires them.
        sp.startTimeUnixNano ??= '0';
        sp.endTimeUnixNano ??= sp.startTimeUnixNano;
      }
    }
  }
  return obj;
}

/** An empty ExportTraceServiceResponse (full success) is zero bytes. */
export const OTLP_PROTOBUF_SUCCESS = new Uint8Array(0);

/** google.rpc.Status for an OTLP/HTTP protobuf error response. */
export function encodeRpcStatus(code: number, message: string): Uint8Array {
  const { rpcStatus } = schema();
  return rpcStatus.encode(rpcStatus.create({ code, message })).finish();
}
