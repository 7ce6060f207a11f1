// OTLP/HTTP protobuf ingest with a real OpenTelemetry SDK and its protobuf exporter (no hand-made
// bodies): straight to the receiver (plain and gzip), and from an instrumented app inside a running mesh,
// whose span must join the sidecars' trace (same trace id, parent = the sidecar span that called it) in
// the store and through the API. Plus the receiver's answers to bodies it cannot take.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { context, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Span, StatusResponse, TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { OTLP_TOKEN_HEADER, OtlpReceiver } from '../../src/telemetry/otlp-receiver.js';
import { REPO, startMesh, waitFor } from '../helpers/mesh-process.js';

const TOKEN = '5f1c0d7e9a8b4c3d2e1f00112233aabb';
const AUTH = { [OTLP_TOKEN_HEADER]: TOKEN };

async function receiver(t: { after(fn: () => unknown): void }): Promise<{ url: string; spans: Span[] }> {
  const spans: Span[] = [];
  const r = new OtlpReceiver((b) => {
    if (b.signal === 'traces') spans.push(...b.spans);
  }, TOKEN);
  const port = await r.listen(0);
  t.after(() => r.close());
  return { url: `http://127.0.0.1:${port}`, spans };
}

test('an SDK exporting OTLP protobuf (plain and gzip) is decoded: ids, parent, kind, status, attributes, resource', async (t) => {
  const { url, spans } = await receiver(t);
  for (const compression of ['none', 'gzip'] as const) {
    const exporter = new OTLPTraceExporter({ url: `${url}/v1/traces`, compression: compression as never, headers: AUTH });
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'shop-app', 'service.instance.id': `shop-app-${compression}` }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('otlp-protobuf-test');
    // The remote parent stands for the sidecar span whose traceparent the app received.
    const traceId = compression === 'none' ? '4bf92f3577b34da6a3ce929d0e0e4736' : '0af7651916cd43dd8448eb211c80319c';
    const parentSpanId = '00f067aa0ba902b7';
    const parent = trace.setSpanContext(context.active(), { traceId, spanId: parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const server = tracer.startSpan('GET /cart', {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': 'GET', 'url.path': '/cart', 'http.response.status_code': 200, 'cart.items': 3, 'cart.vip': true, 'cart.total': 12.5, 'cart.tags': ['a', 'b'] },
    }, parent);
    const child = tracer.startSpan('load cart', { kind: SpanKind.INTERNAL }, trace.setSpan(parent, server));
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'cache miss' });
    child.end();
    server.end();
    await provider.forceFlush();
    await provider.shutdown();

    const got = await waitFor(`both spans (${compression})`, () => {
      const mine = spans.filter((s) => s.traceId === traceId);
      return mine.length === 2 ? mine : undefined;
    }, 5000);
    const srv = got.find((s) => s.kind === 'server')!;
    const int = got.find((s) => s.kind === 'internal')!;
    assert.equal(srv.service, 'shop-app');
    assert.equal(srv.instanceId, `shop-app-${compression}`);
    assert.equal(srv.parentSpanId, parentSpanId, 'the remote parent link survives');
    assert.match(srv.spanId, /^[0-9a-f]{16}$/);
    assert.equal(srv.method, 'GET');
    assert.equal(srv.path, '/cart');
    assert.equal(srv.status, 200);
    assert.equal(srv.attributes['cart.items'], 3, 'int64 attribute as a number');
    assert.equal(srv.attributes['cart.vip'], true);
    assert.equal(srv.attributes['cart.total'], 12.5);
    assert.match(String(srv.attributes['cart.tags']), /"a".*"b"/);
    assert.equal(int.parentSpanId, srv.spanId);
    assert.equal(int.error, 'cache miss');
    assert.equal(int.attributes['otel.name'], 'load cart');
    assert.ok(srv.durationMs >= int.durationMs && srv.startMs > Date.now() - 60_000, `times in ms: ${srv.startMs} ${srv.durationMs}`);
  }
});

test('the receiver answers what it cannot take, in the request\'s encoding', async (t) => {
  const { url, spans } = await receiver(t);
  const bad = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...AUTH }, body: new Uint8Array([0x0a, 0xff, 0xff, 0x01]) });
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get('content-type'), 'application/x-protobuf');
  assert.match(Buffer.from(await bad.arrayBuffer()).toString('latin1'), /index out of range|invalid|offset/i, 'a google.rpc.Status with the reason');
  const text = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'text/plain', ...AUTH }, body: 'x' });
  assert.equal(text.status, 415);
  assert.match(await text.text(), /x-protobuf or application\/json/);
  // The shared OTLP metrics sample (opentelemetry-proto examples/metrics.json) posted as spans: a 400 saying where it belongs.
  const metrics = readFileSync(join(REPO, '..', 'shared', 'fixtures', 'otel', 'otlp-metrics.json'), 'utf8');
  const m = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json', ...AUTH }, body: metrics });
  assert.equal(m.status, 400);
  assert.match(await m.text(), /OTLP metrics request \(ExportMetricsServiceRequest\), not traces: send it to \/v1\/metrics/);
  const unknown = await fetch(`${url}/v1/profiles`, { method: 'POST', headers: { 'content-type': 'application/json', ...AUTH }, body: '{}' });
  assert.equal(unknown.status, 404);
  assert.match(await unknown.text(), /POST \/v1\/traces, \/v1\/metrics or \/v1\/logs/);
  assert.equal(spans.length, 0);
});

test('the receiver takes spans only with the mesh\'s ingest token', async (t) => {
  const { url, spans } = await receiver(t);
  const body = JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'intruder' } }] }, scopeSpans: [{ spans: [{ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00000000000000bb', name: 'x', kind: 1, startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }] });
  const none = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(none.status, 401);
  assert.match(await none.text(), /send the mesh's OTLP token in x-devmesh-otlp-token/);
  const wrong = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', [OTLP_TOKEN_HEADER]: TOKEN.replace('5', '6') }, body: new Uint8Array() });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get('content-type'), 'application/x-protobuf', 'a google.rpc.Status (UNAUTHENTICATED) for a protobuf client');
  assert.equal(spans.length, 0, 'nothing stored without the token');
  // Authorization: Bearer works too, for exporters that only set that header.
  const bearer = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body });
  assert.equal(bearer.status, 200);
  assert.equal(spans.length, 1);
});

const MESH = `name: otlpproto
ingress:
  - { port: 0, service: shop }
services:
  shop:
    run: node shop.js
    health: /healthz
`;

// An app instrumented with the OpenTelemetry SDK and its protobuf exporter, sending to the endpoint the
// mesh gives it; its server span continues the traceparent its sidecar sent.
const SHOP = `
const m = (name) => require(${JSON.stringify(join(REPO, 'node_modules'))} + '/' + name);
const { context, trace, SpanKind, TraceFlags } = m('@opentelemetry/api');
const { OTLPTraceExporter } = m('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = m('@opentelemetry/resources');
const { BasicTracerProvider, SimpleSpanProcessor } = m('@opentelemetry/sdk-trace-base');
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: process.env.OTEL_EXPORTER_OTLP_ENDPOINT + '/v1/traces' }))],
});
const tracer = provider.getTracer('shop');
require('node:http').createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const [, traceId, spanId] = String(req.headers.traceparent).split('-');
  const parent = trace.setSpanContext(context.active(), { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
  const span = tracer.startSpan('checkout', { kind: SpanKind.SERVER, attributes: { 'app.step': 'checkout', 'http.request.method': req.method, 'url.path': req.url, 'http.response.status_code': 200 } }, parent);
  span.end();
  await provider.forceFlush();
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

test('an instrumented app in a running mesh: its protobuf span joins the sidecars\' trace', { timeout: 60_000 }, async (t) => {
  const mesh = await startMesh({ yaml: MESH, files: { 'shop.js': SHOP, 'package.json': '{ "type": "commonjs" }\n' } });
  t.after(() => mesh.stop());
  const status = await mesh.api<StatusResponse>('/api/status');
  assert.ok(status.otlpEndpoint, 'the mesh serves OTLP');
  const res = await fetch(`${mesh.ingress['shop']}/buy`);
  assert.equal(res.status, 200, await res.text());

  const detail = await waitFor('the app span in the sidecars\' trace', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?attribute=app.step%3Dcheckout&limit=5');
    if (list.traces.length === 0) return undefined;
    const d = await mesh.api<TraceDetailResponse>(`/api/traces/${list.traces[0]!.traceId}`);
    return d.spans.some((s) => s.instanceId === 'shop-0') ? d : undefined;
  }, 20_000);
  const app = detail.spans.find((s) => s.attributes['app.step'] === 'checkout')!;
  assert.equal(app.service, 'shop');
  assert.equal(app.path, '/buy');
  const parent = detail.spans.find((s) => s.spanId === app.parentSpanId);
  assert.ok(parent, `the app span's parent ${app.parentSpanId} is in the trace: ${JSON.stringify(detail.spans.map((s) => [s.service, s.instanceId, s.kind, s.spanId, s.parentSpanId]))}`);
  assert.equal(parent.instanceId, 'shop-0', 'the parent is the shop sidecar\'s inbound span');
  assert.equal(parent.kind, 'server');
  assert.ok(detail.spans.every((s) => s.traceId === app.traceId));
  assert.ok(detail.spans.length >= 3, 'ingress, sidecar and app spans in one trace');
  // The app sent the ingest token it got in OTEL_EXPORTER_OTLP_HEADERS; an app outside the mesh reads it from devmesh status.
  assert.deepEqual(Object.keys(status.otlpHeaders ?? {}), [OTLP_TOKEN_HEADER]);
  const printed = mesh.cli(['status']);
  assert.equal(printed.status, 0, printed.stderr);
  assert.ok(printed.stdout.includes(`otlp ${status.otlpEndpoint}  (for apps outside the mesh: OTEL_EXPORTER_OTLP_ENDPOINT=${status.otlpEndpoint} OTEL_EXPORTER_OTLP_HEADERS=${OTLP_TOKEN_HEADER}=${status.otlpHeaders![OTLP_TOKEN_HEADER]})`), printed.stdout);
  // The gRPC endpoint beside it, on its own line, with what an SDK needs to pick gRPC.
  assert.match(status.otlpGrpcEndpoint ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(printed.stdout.includes(`\notlp-grpc ${status.otlpGrpcEndpoint}  (for apps outside the mesh: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=${status.otlpGrpcEndpoint} OTEL_EXPORTER_OTLP_HEADERS=${OTLP_TOKEN_HEADER}=${status.otlpHeaders![OTLP_TOKEN_HEADER]})\n`), printed.stdout);
  assert.ok(printed.stdout.indexOf('\notlp-grpc ') === printed.stdout.indexOf('\notlp ') + printed.stdout.split('\n').find((l) => l.startsWith('otlp '))!.length + 1, 'right after the OTLP/HTTP line');
  const anonymous = await fetch(`${status.otlpEndpoint}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(anonymous.status, 401);
});
