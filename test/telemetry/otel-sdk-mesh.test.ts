// The SDK side, proven in a real `devmesh up`: three apps instrumented with the OpenTelemetry Node SDK,
// `new NodeSDK().start()` and nothing else (no endpoint, protocol, header or resource in code: all of it
// from the environment devmesh gives them, NodeSDK's autoconfiguration), one per OTLP protocol:
// front exports http/protobuf (devmesh's default), middle http/json and back grpc (each chosen in the mesh
// file's env, as a user would). One request through ingress → front → middle → back: every app's span
// joins the sidecars' trace, nested under its own sidecar's inbound server span (parent ids checked), and
// every app's metrics and log records arrive, through the API the UI reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { AppLogResponse, AppMetricsResponse, ServiceMetricsResponse, Span, StatusResponse, TapResponse, TopologyResponse, TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { REPO, startMesh, waitFor } from '../helpers/mesh-process.js';

const MESH = `name: otelsdk
ingress:
  - { port: 0, service: front }
services:
  front:
    run: node app.js
    health: /healthz
    upstreams: [middle]
    env: { NEXT: MIDDLE_URL }
  middle:
    run: node app.js
    health: /healthz
    upstreams: [back]
    env: { NEXT: BACK_URL, OTEL_EXPORTER_OTLP_PROTOCOL: http/json }
  back:
    run: node app.js
    health: /healthz
    env: { OTEL_EXPORTER_OTLP_PROTOCOL: grpc }
`;

// The app: the SDK configured by the environment alone; the W3C propagator it registers reads the
// sidecar's traceparent and writes the next one for the outbound call.
const APP = `
const m = (name) => require(${JSON.stringify(join(REPO, 'node_modules'))} + '/' + name);
const { NodeSDK } = m('@opentelemetry/sdk-node');
const api = m('@opentelemetry/api');
const { logs, SeverityNumber } = m('@opentelemetry/api-logs');
const sdk = new NodeSDK();
sdk.start();
const service = process.env.OTEL_SERVICE_NAME;
const protocol = process.env.OTEL_EXPORTER_OTLP_PROTOCOL;
const tracer = api.trace.getTracer('otel-app');
const requests = api.metrics.getMeter('otel-app').createCounter('app.orders', { description: 'orders handled', unit: '{order}' });
const logger = logs.getLogger('otel-app');
require('node:http').createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
  const span = tracer.startSpan('handle order', { kind: api.SpanKind.SERVER, attributes: { 'app.protocol': protocol, 'app.service': service } }, parent);
  let status = 200;
  let body = service;
  let why = '';
  await api.context.with(api.trace.setSpan(parent, span), async () => {
    requests.add(1, { 'app.protocol': protocol });
    logger.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: 'order handled by ' + service, attributes: { 'app.protocol': protocol, 'order.id': 42 } });
    if (process.env.NEXT) {
      const headers = {};
      api.propagation.inject(api.context.active(), headers);
      const r = await fetch(process.env[process.env.NEXT] + req.url, { headers });
      status = r.status;
      why = r.headers.get('x-devmesh-error') ?? r.headers.get('x-hop-error') ?? '';
      if (status !== 200 && !r.headers.has('x-hop-error')) why = service + ' -> ' + process.env.NEXT + ': ' + why;
      body += ' > ' + (await r.text());
    }
  });
  span.end();
  // Which hop failed and why (the sidecar's x-devmesh-error), passed back to the test's assertion.
  res.writeHead(status, why ? { 'x-hop-error': why } : {}).end(body);
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => sdk.shutdown().finally(() => process.exit(0)));
`;

const PROTOCOL = { front: 'http/protobuf', middle: 'http/json', back: 'grpc' } as const;

test('NodeSDK apps configured only by devmesh\'s environment: spans, metrics and logs over http/protobuf, http/json and gRPC', { timeout: 120_000 }, async (t) => {
  const mesh = await startMesh({ yaml: MESH, files: { 'app.js': APP, 'package.json': '{ "type": "commonjs" }\n' }, readyTimeoutMs: 60_000 });
  t.after(() => mesh.stop());
  const status = await mesh.api<StatusResponse>('/api/status');
  assert.match(status.otlpEndpoint ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(status.otlpGrpcEndpoint ?? '', /^http:\/\/127\.0\.0\.1:\d+$/, 'an OTLP/gRPC endpoint beside the HTTP one');

  const res = await fetch(`${mesh.ingress['front']}/order`);
  const body = await res.text();
  // On a failure, everything that says which hop failed and why: the sidecars' error codes and the mesh's log.
  const why = () => `${res.status} ${JSON.stringify(Object.fromEntries(res.headers))} ${body}\n${mesh.stdout().split('\n').slice(-40).join('\n')}`;
  assert.equal(res.status, 200, why());
  assert.equal(body, 'front > middle > back', why());

  // The trace, as the UI's API gives it, once the three app spans are in.
  const detail = await waitFor('the three apps\' spans in the sidecars\' trace', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?attribute=app.service%3Dfront&limit=5');
    if (list.traces.length === 0) return undefined;
    const d = await mesh.api<TraceDetailResponse>(`/api/traces/${list.traces[0]!.traceId}`);
    return d.spans.filter((s) => s.attributes['app.service'] !== undefined).length === 3 ? d : undefined;
  }, 45_000);
  const dump = JSON.stringify(detail.spans.map((s) => [s.service, s.instanceId, s.kind, s.spanId, s.parentSpanId, s.attributes['app.service'] ?? '']));
  for (const service of ['front', 'middle', 'back'] as const) {
    const app = detail.spans.find((s) => s.attributes['app.service'] === service)!;
    assert.equal(app.service, service, dump);
    assert.equal(app.instanceId, `${service}-0`, 'service.instance.id from OTEL_RESOURCE_ATTRIBUTES');
    assert.equal(app.attributes['app.protocol'], PROTOCOL[service], 'the app exported over the protocol it was given');
    const parent: Span | undefined = detail.spans.find((s) => s.spanId === app.parentSpanId);
    assert.ok(parent, `${service}'s app span has its parent in the trace: ${dump}`);
    assert.equal(parent.kind, 'server', `${service}'s app span nests under a server span: ${dump}`);
    assert.equal(parent.instanceId, `${service}-0`, `…its own sidecar's inbound span: ${dump}`);
    assert.notEqual(parent.attributes['app.service'], service, 'the sidecar span, not the app span');
    if (service !== 'back') {
      // The app's outbound call (its sidecar's client span) nests under the app span.
      const out = detail.spans.find((s) => s.kind === 'client' && s.parentSpanId === app.spanId);
      assert.ok(out, `${service}'s outbound call is a child of its app span: ${dump}`);
    }
  }
  assert.ok(detail.spans.every((s) => s.traceId === detail.traceId));
  // The apps' spans do not count as more requests: one request in the golden metrics, the topology and tap.
  for (const service of ['front', 'middle', 'back'] as const) {
    const golden = await mesh.api<ServiceMetricsResponse>(`/api/services/${service}/metrics?windowMs=600000&stepMs=60000`);
    assert.equal(golden.inbound.reduce((n, p) => n + p.requests, 0), 1, `${service} served one request`);
  }
  const topology = await mesh.api<TopologyResponse>('/api/topology?windowMs=600000');
  assert.equal(topology.edges.find((e) => e.source === 'front' && e.target === 'middle')?.requests, 1, JSON.stringify(topology.edges));
  const tap = await mesh.api<TapResponse>('/api/tap?service=middle');
  assert.equal(tap.events.filter((e) => e.service === 'middle' && e.direction === 'inbound' && e.traceId === detail.traceId).length, 1, JSON.stringify(tap.events));

  // Logs: each app's record arrives with its attributes, linked to its app span.
  for (const service of ['front', 'middle', 'back'] as const) {
    const app = detail.spans.find((s) => s.attributes['app.service'] === service)!;
    const logs = await waitFor(`${service}'s log record`, async () => {
      const r = await mesh.api<AppLogResponse>(`/api/app-logs?service=${service}&traceId=${detail.traceId}`);
      return r.records.length > 0 ? r : undefined;
    }, 30_000);
    const rec = logs.records[0]!;
    assert.equal(rec.body, `order handled by ${service}`);
    assert.equal(rec.severityText, 'WARN');
    assert.equal(rec.instanceId, `${service}-0`);
    assert.deepEqual(rec.attributes, { 'app.protocol': PROTOCOL[service], 'order.id': 42 });
    assert.equal(rec.spanId, app.spanId, 'the record is linked to the span it was written in');
    assert.equal(rec.resource['service.namespace'], 'otelsdk', 'service.namespace is the mesh');
  }
  const warnAndUp = await mesh.api<AppLogResponse>('/api/app-logs?minSeverity=warn&attribute=order.id%3D42');
  assert.ok(warnAndUp.records.length >= 3);
  const bad = await fetch(`${mesh.apiBase}/api/app-logs?minSeverity=loud`, { headers: { authorization: `Bearer ${mesh.token}` } });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /minSeverity/);

  // Metrics: each app's counter, per instance, exported every 5 s (OTEL_METRIC_EXPORT_INTERVAL from devmesh).
  for (const service of ['front', 'middle', 'back'] as const) {
    const m = await waitFor(`${service}'s app.orders counter`, async () => {
      const r = await mesh.api<AppMetricsResponse>(`/api/services/${service}/app-metrics`);
      return r.metrics.find((x) => x.name === 'app.orders');
    }, 30_000);
    assert.equal(m.type, 'sum');
    assert.equal(m.monotonic, true);
    assert.equal(m.unit, '{order}');
    const series = m.series.find((s) => s.attributes['app.protocol'] === PROTOCOL[service]);
    assert.ok(series, JSON.stringify(m.series));
    assert.equal(series.attributes['service.instance.id'], `${service}-0`);
    assert.equal(series.points[series.points.length - 1]!.value, 1);
  }
  // Each SDK really used its protocol: the receivers count accepted requests by signal and protocol.
  const scrape = await (await fetch(`${mesh.apiBase}/metrics`, { headers: { authorization: `Bearer ${mesh.token}` } })).text();
  for (const protocol of Object.values(PROTOCOL)) {
    for (const signal of ['traces', 'metrics', 'logs']) {
      const line = scrape.split('\n').find((l) => l.startsWith('devmesh_otlp_requests_total{') && l.includes(`signal="${signal}"`) && l.includes(`protocol="${protocol}"`) && l.includes('outcome="accepted"'));
      assert.ok(line && Number(line.split(' ').pop()) > 0, `${signal} over ${protocol} in:\n${scrape.split('\n').filter((l) => l.includes('otlp')).join('\n')}`);
    }
  }
  assert.ok(!scrape.includes('outcome="rejected"'), 'nothing refused');
});
