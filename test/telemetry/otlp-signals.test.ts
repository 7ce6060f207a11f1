// OTLP for every signal, straight against the receivers (no mesh): real OpenTelemetry SDK exporters
// (protobuf, JSON, gRPC) for metrics and logs, a real gRPC client, bodies captured from the SDK's own
// exporters and sent to the wrong signal, the shared metrics sample, the SQLite log store's filters and
// bounds, and DEVMESH_OTLP_EXPORT forwarding all three signals to a second receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Client, Metadata, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor, type LogRecordExporter } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { OTLPLogExporter as LogsJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as LogsGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPMetricExporter as MetricsJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as MetricsProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as MetricsGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import type { AppLogRecord } from '../../src/contract/api.js';
import { AppLogStore } from '../../src/telemetry/app-log-store.js';
import { AppMetricsStore } from '../../src/telemetry/app-metrics.js';
import { OtlpExporter, parseHeaderList } from '../../src/telemetry/otlp-exporter.js';
import { OtlpGrpcReceiver } from '../../src/telemetry/otlp-grpc.js';
import { OTLP_TOKEN_HEADER, OtlpReceiver } from '../../src/telemetry/otlp-receiver.js';
import type { OtlpBatch } from '../../src/telemetry/otlp-signals.js';
import { otlpToSpans } from '../../src/telemetry/otlp.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { REPO, waitFor } from '../helpers/mesh-process.js';

const TOKEN = '0123456789abcdef0123456789abcdef';
const AUTH = { [OTLP_TOKEN_HEADER]: TOKEN };
type Protocol = 'http/protobuf' | 'http/json' | 'grpc';
const PROTOCOLS: Protocol[] = ['http/protobuf', 'http/json', 'grpc'];

interface Receivers {
  http: string;
  grpc: string;
  grpcPort: number;
  batches: OtlpBatch[];
}

async function receivers(t: { after(fn: () => unknown): void }): Promise<Receivers> {
  const batches: OtlpBatch[] = [];
  const http = new OtlpReceiver((b) => batches.push(b), TOKEN);
  const grpc = new OtlpGrpcReceiver((b) => batches.push(b), TOKEN);
  const httpPort = await http.listen(0);
  const grpcPort = await grpc.listen(0);
  t.after(() => Promise.all([http.close(), grpc.close()]));
  return { http: `http://127.0.0.1:${httpPort}`, grpc: `http://127.0.0.1:${grpcPort}`, grpcPort, batches };
}

function metricExporter(p: Protocol, r: Receivers): PushMetricExporter {
  if (p === 'grpc') {
    const metadata = new Metadata();
    metadata.set(OTLP_TOKEN_HEADER, TOKEN);
    return new MetricsGrpc({ url: r.grpc, metadata });
  }
  const opts = { url: `${r.http}/v1/metrics`, headers: AUTH };
  return p === 'http/json' ? new MetricsJson(opts) : new MetricsProto(opts);
}

function logExporter(p: Protocol, r: Receivers): LogRecordExporter {
  if (p === 'grpc') {
    const metadata = new Metadata();
    metadata.set(OTLP_TOKEN_HEADER, TOKEN);
    return new LogsGrpc({ url: r.grpc, metadata });
  }
  const opts = { url: `${r.http}/v1/logs`, headers: AUTH };
  return p === 'http/json' ? new LogsJson(opts) : new LogsProto(opts);
}

/** Exports one counter, one histogram and one log record (in a span's context) with the SDK, over `p`. */
async function sendWithSdk(p: Protocol, r: Receivers): Promise<void> {
  const resource = resourceFromAttributes({ 'service.name': `cart-${p}`, 'service.instance.id': `cart-${p}-0` });
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter(p, r), exportIntervalMillis: 3_600_000 });
  const meters = new MeterProvider({ resource, readers: [reader] });
  const meter = meters.getMeter('cart');
  meter.createCounter('cart.checkouts', { description: 'checkouts done', unit: '{checkout}' }).add(3, { 'payment.method': 'card' });
  meter.createHistogram('cart.value', { unit: 'EUR' }).record(12.5);
  await meters.forceFlush();
  await meters.shutdown();

  const loggers = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: logExporter(p, r) })] });
  loggers.getLogger('cart').emit({
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    body: `payment slow over ${p}`,
    attributes: { 'payment.ms': 812, 'payment.method': 'card', retried: true },
    context: undefined,
  });
  await loggers.forceFlush();
  await loggers.shutdown();
}

test('metrics and logs from the SDK\'s exporters arrive over http/protobuf, http/json and gRPC', { timeout: 60_000 }, async (t) => {
  const r = await receivers(t);
  for (const p of PROTOCOLS) {
    await sendWithSdk(p, r);
    const service = `cart-${p}`;
    const metrics = await waitFor(`metrics over ${p}`, () => {
      const m = r.batches.flatMap((b) => (b.signal === 'metrics' ? b.metrics : [])).filter((x) => x.service === service);
      return m.length >= 2 ? m : undefined;
    });
    const counter = metrics.find((m) => m.name === 'cart.checkouts')!;
    assert.equal(counter.type, 'sum');
    assert.equal(counter.monotonic, true);
    assert.equal(counter.temporality, 'cumulative');
    assert.equal(counter.unit, '{checkout}');
    assert.equal(counter.instanceId, `${service}-0`);
    assert.equal(counter.points[0]!.value, 3);
    assert.deepEqual(counter.points[0]!.attributes, { 'payment.method': 'card' });
    const histogram = metrics.find((m) => m.name === 'cart.value')!;
    assert.equal(histogram.type, 'histogram');
    assert.equal(histogram.points[0]!.count, 1);
    assert.equal(histogram.points[0]!.sum, 12.5);

    const log = await waitFor(`a log record over ${p}`, () => r.batches.flatMap((b) => (b.signal === 'logs' ? b.logs : [])).find((l) => l.service === service));
    assert.equal(log.body, `payment slow over ${p}`);
    assert.equal(log.severityNumber, 13);
    assert.equal(log.severityText, 'WARN');
    assert.deepEqual(log.attributes, { 'payment.ms': 812, 'payment.method': 'card', retried: true });
    assert.equal(log.scope, 'cart');
    assert.ok(Math.abs(log.timeMs - Date.now()) < 60_000, `time in ms: ${log.timeMs}`);
  }
});

/** What the SDK's protobuf exporters put on the wire, captured by a plain HTTP server. */
async function captureProtobuf(t: { after(fn: () => unknown): void }): Promise<{ metrics: Buffer; logs: Buffer }> {
  const bodies = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.set(req.url ?? '', Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const port = (server.address() as { port: number }).port;
  const capture: Receivers = { http: `http://127.0.0.1:${port}`, grpc: '', grpcPort: 0, batches: [] };
  await sendWithSdk('http/protobuf', capture);
  return { metrics: bodies.get('/v1/metrics')!, logs: bodies.get('/v1/logs')! };
}

function grpcExport(port: number, service: string, body: Buffer, token = TOKEN): Promise<{ error: ServiceError | null }> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const md = new Metadata();
  md.set(OTLP_TOKEN_HEADER, token);
  return new Promise((resolve) => {
    client.makeUnaryRequest(`/opentelemetry.proto.collector.${service}/Export`, (b: Buffer) => b, (b: Buffer) => b, body, md, (error) => {
      client.close();
      resolve({ error: error ?? null });
    });
  });
}

test('a body of one signal sent as another gets a 400 (HTTP) or INVALID_ARGUMENT (gRPC) saying where it belongs', { timeout: 60_000 }, async (t) => {
  const r = await receivers(t);
  const captured = await captureProtobuf(t);
  assert.ok(captured.metrics.length > 0 && captured.logs.length > 0, 'the SDK sent both');
  const post = async (path: string, body: Uint8Array | string, type: string) => {
    const res = await fetch(`${r.http}${path}`, { method: 'POST', headers: { 'content-type': type, ...AUTH }, body });
    return { status: res.status, text: Buffer.from(await res.arrayBuffer()).toString('latin1') };
  };
  const proto = 'application/x-protobuf';
  const asSpans = await post('/v1/traces', captured.metrics, proto);
  assert.equal(asSpans.status, 400);
  assert.match(asSpans.text, /POST \/v1\/traces: this is an OTLP metrics request \(ExportMetricsServiceRequest\), not traces: send it to \/v1\/metrics/);
  const logsAsMetrics = await post('/v1/metrics', captured.logs, proto);
  assert.equal(logsAsMetrics.status, 400);
  assert.match(logsAsMetrics.text, /OTLP logs request \(ExportLogsServiceRequest\), not metrics: send it to \/v1\/logs/);
  const logsAsSpans = await post('/v1/traces', captured.logs, proto);
  assert.equal(logsAsSpans.status, 400);
  assert.match(logsAsSpans.text, /OTLP logs request/);
  // The JSON encoding: the shared sample (opentelemetry-proto examples/metrics.json) on /v1/logs.
  const sample = readFileSync(join(REPO, '..', 'shared', 'fixtures', 'otel', 'otlp-metrics.json'), 'utf8');
  const jsonWrong = await post('/v1/logs', sample, 'application/json');
  assert.equal(jsonWrong.status, 400);
  assert.match(jsonWrong.text, /OTLP metrics request \(ExportMetricsServiceRequest\), not logs: send it to \/v1\/metrics/);
  // A field of the wrong type is named with its path.
  const badField = await post('/v1/logs', JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'x' }, traceId: 'nothex' }] }] }] }), 'application/json');
  assert.equal(badField.status, 400);
  assert.match(badField.text, /resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.traceId: \\"nothex\\" is not a 16-byte id/);
  const badMetric = await post('/v1/metrics', JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', gauge: { dataPoints: [{ asDouble: 'lots' }] } }] }] }] }), 'application/json');
  assert.equal(badMetric.status, 400);
  assert.match(badMetric.text, /resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.gauge\.dataPoints\[0\]\.asDouble/);
  // Garbage as protobuf: named as not being the request, with the decoder's reason.
  const garbage = await post('/v1/logs', new Uint8Array([0x0a, 0xff, 0xff, 0x01]), proto);
  assert.equal(garbage.status, 400);
  assert.match(garbage.text, /not a protobuf ExportLogsServiceRequest/);

  // gRPC: a real client calling each service.
  const wrong = await grpcExport(r.grpcPort, 'trace.v1.TraceService', captured.metrics);
  assert.equal(wrong.error?.code, grpcStatus.INVALID_ARGUMENT);
  assert.match(wrong.error!.details, /TraceService\/Export: this is an OTLP metrics request .* \(OTLP\/gRPC: MetricsService\/Export\)/);
  const noToken = await grpcExport(r.grpcPort, 'logs.v1.LogsService', captured.logs, 'wrong');
  assert.equal(noToken.error?.code, grpcStatus.UNAUTHENTICATED);
  assert.match(noToken.error!.details, /x-devmesh-otlp-token/);
  assert.equal(r.batches.length, 0, 'nothing taken from a rejected request');
  const right = await grpcExport(r.grpcPort, 'logs.v1.LogsService', captured.logs);
  assert.equal(right.error, null);
  assert.equal(r.batches.filter((b) => b.signal === 'logs').length, 1);
  // And the sample on its own path: every kind of metric in it is mapped.
  const ok = await post('/v1/metrics', sample, 'application/json');
  assert.equal(ok.status, 200, ok.text);
  const kinds = r.batches.flatMap((b) => (b.signal === 'metrics' ? b.metrics : [])).filter((m) => m.service === 'my.service').map((m) => m.type);
  assert.deepEqual(kinds.sort(), ['exponentialHistogram', 'gauge', 'histogram', 'sum']);
});

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-applogs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function record(i: number, over: Partial<AppLogRecord> = {}): Omit<AppLogRecord, 'seq'> {
  return {
    timeMs: 1_000_000 + i,
    service: i % 2 ? 'cart' : 'shop',
    instanceId: i % 2 ? 'cart-0' : 'shop-0',
    severityNumber: [5, 9, 13, 17][i % 4]!,
    severityText: ['DEBUG', 'INFO', 'WARN', 'ERROR'][i % 4]!,
    body: `message ${i}`,
    attributes: { n: i, even: i % 2 === 0, 'user.id': `u${i % 3}` },
    resource: { 'service.namespace': 'm' },
    scope: 'app',
    eventName: null,
    traceId: i === 3 ? 'a'.repeat(32) : null,
    spanId: i === 3 ? 'b'.repeat(16) : null,
    ...over,
  };
}

test('the log store: filters by service, severity, text, attribute and trace; bounded by count and age; survives a reopen', (t) => {
  const file = join(tempDir(t), 'app-logs.db');
  const store = new AppLogStore(file, { maxRecords: 5, maxAgeMs: 60_000 });
  store.add(Array.from({ length: 8 }, (_, i) => record(i)));
  const bodies = (q: Parameters<AppLogStore['query']>[0]) => store.query(q).records.map((r) => r.body);
  assert.equal(store.query({}).records.length, 8);
  assert.deepEqual(bodies({ service: 'cart' }), ['message 1', 'message 3', 'message 5', 'message 7']);
  assert.deepEqual(bodies({ minSeverity: 'warn' }), ['message 2', 'message 3', 'message 6', 'message 7']);
  assert.deepEqual(bodies({ minSeverity: 17 }), ['message 3', 'message 7']);
  assert.deepEqual(bodies({ search: 'SAGE 5' }), ['message 5']);
  assert.deepEqual(bodies({ attribute: 'user.id=u1' }), ['message 1', 'message 4', 'message 7']);
  assert.deepEqual(bodies({ attribute: 'even=true', service: 'shop', limit: 2 }), ['message 4', 'message 6'], 'the newest, oldest first');
  assert.deepEqual(bodies({ attribute: 'n=6' }), ['message 6']);
  assert.deepEqual(bodies({ traceId: 'A'.repeat(32) }), ['message 3']);
  assert.deepEqual(bodies({ afterSeq: 6 }), ['message 6', 'message 7']);
  const one = store.query({ traceId: 'a'.repeat(32) }).records[0]!;
  assert.deepEqual(one.attributes, { n: 3, even: false, 'user.id': 'u0' });
  assert.equal(one.spanId, 'b'.repeat(16));
  // Bounds: by age first (relative to "now"), then the oldest beyond maxRecords.
  assert.equal(store.prune(1_000_000 + 60_000 + 2), 3, 'two older than a minute, then the oldest over five');
  assert.equal(store.count(), 5);
  store.add([record(8), record(9)]);
  assert.equal(store.prune(1_000_000 + 60_000), 2, 'none too old, two over five');
  assert.deepEqual(bodies({}), ['message 5', 'message 6', 'message 7', 'message 8', 'message 9']);
  store.close();
  const again = new AppLogStore(file);
  t.after(() => again.close());
  assert.equal(again.count(), 5, 'kept on disk');
  assert.equal(again.query({}).lastSeq, 10);
});

test('the app metrics store: series per attribute set and instance, rates of counters, bounded', () => {
  const metrics = new AppMetricsStore({ seriesPerMetric: 2, pointsPerSeries: 3 });
  const batch = (t: number, value: number, attrs: Record<string, string> = {}) => ({
    service: 'cart',
    instanceId: 'cart-0',
    scope: 'cart',
    name: 'orders',
    description: 'orders taken',
    unit: '{order}',
    type: 'sum' as const,
    monotonic: true,
    temporality: 'cumulative' as const,
    points: [{ attributes: attrs, tMs: t, value }],
  });
  for (let i = 0; i < 5; i++) metrics.add([batch(1000 * i, 10 * i)]);
  metrics.add([batch(0, 1, { k: 'a' }), batch(0, 1, { k: 'b' })]);
  const got = metrics.of('cart');
  assert.equal(got.metrics.length, 1);
  const m = got.metrics[0]!;
  assert.equal(m.series.length, 2, 'a third series is over the bound');
  const first = m.series[0]!;
  assert.deepEqual(first.attributes, { 'service.instance.id': 'cart-0' });
  assert.deepEqual(first.points.map((p) => p.value), [20, 30, 40], 'the last three points');
  assert.equal(first.ratePerSec, 10);
  assert.match(got.source, /1 points dropped/);
  assert.deepEqual(metrics.of('nobody').metrics, []);
});

test('DEVMESH_OTLP_EXPORT forwards spans, metrics and logs to the collector', { timeout: 30_000 }, async (t) => {
  const collector = await receivers(t);
  // The collector here is another devmesh receiver: it wants its token, as a real collector may want its own headers.
  const exporter = new OtlpExporter(collector.http, (line) => assert.fail(line), parseHeaderList(`${OTLP_TOKEN_HEADER}=${TOKEN}`));
  const sample = JSON.parse(readFileSync(join(REPO, '..', 'shared', 'fixtures', 'otel', 'otlp-metrics.json'), 'utf8')) as Record<string, unknown>;
  exporter.enqueueMetrics(sample);
  exporter.enqueueLogs({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'cart' } }] }, scopeLogs: [{ logRecords: [{ timeUnixNano: '1700000000000000000', severityNumber: 9, body: { stringValue: 'forwarded' }, traceId: 'ab'.repeat(16) }] }] }] });
  exporter.enqueue([{ traceId: 'cd'.repeat(16), spanId: 'ef'.repeat(8), parentSpanId: null, kind: 'server', service: 'cart', instanceId: 'cart-0', peerService: null, method: 'GET', path: '/', status: 200, startMs: 1_700_000_000_000, durationMs: 3, attempts: 1, error: null, attributes: {} }]);
  await exporter.close();
  const signals = collector.batches.map((b) => b.signal).sort();
  assert.deepEqual(signals, ['logs', 'metrics', 'traces']);
  const logs = collector.batches.find((b) => b.signal === 'logs');
  assert.equal(logs?.signal === 'logs' && logs.logs[0]!.body, 'forwarded');
  assert.equal(logs?.signal === 'logs' && logs.logs[0]!.traceId, 'ab'.repeat(16));
  const metrics = collector.batches.find((b) => b.signal === 'metrics');
  assert.equal(metrics?.signal === 'metrics' && metrics.metrics.length, 4, 'all four metrics of the sample, as received');
});

test('a span name is a method and a path only when it reads like one', () => {
  const spanNamed = (name: string) => ({ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), name, kind: 2, startTimeUnixNano: '1000000', endTimeUnixNano: '2000000' });
  const [server, http, bare] = otlpToSpans({ resourceSpans: [{ scopeSpans: [{ spans: [spanNamed("I'm a server span"), spanNamed('POST /orders/7'), spanNamed('GET')] }] }] });
  assert.deepEqual([server!.method, server!.path], ['', "I'm a server span"]);
  assert.deepEqual([http!.method, http!.path], ['POST', '/orders/7']);
  assert.deepEqual([bare!.method, bare!.path], ['', 'GET']);
});

test('a mesh\'s telemetry with DEVMESH_OTLP_EXPORT: what apps send over OTLP/HTTP and gRPC reaches the collector, all three signals', { timeout: 60_000 }, async (t) => {
  const collector = await receivers(t);
  const dir = tempDir(t);
  const telemetry = new Telemetry({
    tracesDb: join(dir, 'traces.db'),
    mesh: 'exported',
    otlpPort: 0,
    otlpGrpcPort: 0,
    otlpExport: collector.http,
    otlpExportHeaders: `${OTLP_TOKEN_HEADER}=${TOKEN}`,
    log: (line) => assert.fail(line),
  });
  await telemetry.start();
  t.after(() => telemetry.stop());
  assert.ok(telemetry.otlpEndpoint && telemetry.otlpGrpcEndpoint);
  const env = telemetry.otelEnv({ mesh: 'exported', service: 'cart', instanceId: 'cart-1', version: 'v2', appEnv: {} });
  assert.equal(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf');
  assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, telemetry.otlpEndpoint);
  assert.equal(env.OTEL_RESOURCE_ATTRIBUTES, 'service.namespace=exported,service.instance.id=cart-1,service.version=v2');
  assert.equal(telemetry.otelEnv({ mesh: 'exported', service: 'cart', instanceId: 'cart-1', appEnv: { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } }).OTEL_EXPORTER_OTLP_ENDPOINT, telemetry.otlpGrpcEndpoint);
  // The SDK's exporters, pointed at the mesh's receivers with the headers the env says.
  const token = env.OTEL_EXPORTER_OTLP_HEADERS!.split('=')[1]!;
  const mesh: Receivers = { http: telemetry.otlpEndpoint, grpc: telemetry.otlpGrpcEndpoint, grpcPort: 0, batches: [] };
  assert.equal(token, telemetry.otlpToken);
  const sent = await fetch(`${telemetry.otlpEndpoint}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...telemetry.otlpHeaders },
    body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'cart' } }] }, scopeSpans: [{ spans: [{ traceId: 'ef'.repeat(16), spanId: '01'.repeat(8), name: 'GET /cart', kind: 2, startTimeUnixNano: String(Date.now() * 1e6), endTimeUnixNano: String(Date.now() * 1e6 + 1e6) }] }] }] }),
  });
  assert.equal(sent.status, 200);
  for (const [signal, body] of Object.entries(await captureProtobuf(t))) {
    const res = await fetch(`${mesh.http}/v1/${signal}`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...telemetry.otlpHeaders }, body });
    assert.equal(res.status, 200, await res.text());
  }
  await waitFor('all three signals at the collector', () => {
    const signals = new Set(collector.batches.map((b) => b.signal));
    return signals.size === 3 ? signals : undefined;
  }, 15_000);
  const spans = collector.batches.flatMap((b) => (b.signal === 'traces' ? b.spans : []));
  assert.ok(spans.some((s) => s.traceId === 'ef'.repeat(16) && s.path === '/cart'));
  const logs = collector.batches.flatMap((b) => (b.signal === 'logs' ? b.logs : []));
  assert.equal(logs[0]?.body, 'payment slow over http/protobuf');
  const metrics = collector.batches.flatMap((b) => (b.signal === 'metrics' ? b.metrics : []));
  assert.deepEqual(metrics.map((m) => m.name).sort(), ['cart.checkouts', 'cart.value']);
  // Kept locally too.
  assert.equal(telemetry.appLogs.query({ service: 'cart-http/protobuf' }).records.length, 1);
  assert.equal(telemetry.appMetrics.of('cart-http/protobuf').metrics.length, 2);
});
