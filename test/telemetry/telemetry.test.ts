// The telemetry beneath the UI, on a real SQLite file: trace filters, retention by count and age,
// crash safety of a batch, OTLP JSON both ways, log ↔ trace links, golden metrics, /metrics federation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Span } from '../../src/contract/api.js';
import { TraceStore } from '../../src/telemetry/trace-store.js';
import { otlpToSpans, spansToOtlp } from '../../src/telemetry/otlp.js';
import { LogStore, traceIdIn } from '../../src/telemetry/log-store.js';
import { edgesOf, percentile, seriesOf } from '../../src/telemetry/golden-metrics.js';
import { mergeExpositions } from '../../src/telemetry/mesh-metrics.js';
import { Tap } from '../../src/telemetry/tap.js';

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');

function span(trace: number, id: number, over: Partial<Span> = {}): Span {
  return {
    traceId: hex(trace, 32),
    spanId: hex(id, 16),
    parentSpanId: null,
    kind: 'server',
    service: 'front',
    instanceId: 'front-0',
    peerService: null,
    method: 'GET',
    path: '/',
    status: 200,
    startMs: 1_000_000 + trace * 10,
    durationMs: 5,
    attempts: 1,
    error: null,
    attributes: {},
    ...over,
  };
}

function tempDb(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-telemetry-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'traces.db');
}

test('trace list filters: service, route, status, duration, attribute, time range', (t) => {
  const file = tempDb(t);
  const store = new TraceStore(file);
  t.after(() => store.close());
  const pages = new Database(file, { readonly: true });
  assert.equal(pages.pragma('page_size', { simple: true }), 32_768, 'a new file gets large pages (fewer WAL writes per commit)');
  pages.close();
  store.add([
    span(1, 1, { service: 'ingress', kind: 'client', peerService: 'front', durationMs: 50 }),
    span(1, 2, { parentSpanId: hex(1, 16), durationMs: 40 }),
    span(1, 3, { parentSpanId: hex(2, 16), kind: 'client', peerService: 'back', status: 503, attempts: 3, attributes: { route: 'back/split', 'retry.reasons': '503,503' } }),
    span(2, 4, { durationMs: 3, attributes: { mtls: true } }),
    span(3, 5, { service: 'back', status: 404 }),
    // gRPC calls over HTTP 200: one failed with UNAVAILABLE, one OK.
    span(4, 6, { service: 'grpc', error: 'grpc-status 14', attributes: { 'rpc.grpc.status_code': 14 } }),
    span(5, 7, { service: 'grpc', attributes: { 'rpc.grpc.status_code': 0 } }),
  ]);
  const ids = (q: Parameters<TraceStore['listTraces']>[0]) => store.listTraces(q).map((s) => parseInt(s.traceId, 16)).sort();
  assert.deepEqual(ids({}), [1, 2, 3, 4, 5]);
  assert.deepEqual(ids({ service: 'back' }), [1, 3], 'a call to back counts as back');
  assert.deepEqual(ids({ route: 'back/split' }), [1]);
  assert.deepEqual(ids({ status: 'error' }), [1, 4]);
  assert.deepEqual(ids({ status: 'ok' }), [2, 3, 5]);
  assert.deepEqual(ids({ status: 404 }), [3]);
  // A number below 100 is a gRPC status; an HTTP status leaves out gRPC calls that failed over HTTP 200.
  assert.deepEqual(ids({ status: 200 }), [1, 2, 5], 'a failed gRPC call is not a "200"');
  assert.deepEqual(ids({ status: 14 }), [4]);
  assert.deepEqual(ids({ status: 0 }), [5]);
  assert.deepEqual(ids({ minDurationMs: 10 }), [1]);
  assert.deepEqual(ids({ attribute: 'mtls=true' }), [2]);
  assert.deepEqual(ids({ attribute: 'retry.reasons' }), [1]);
  assert.deepEqual(ids({ fromMs: 1_000_015, toMs: 1_000_030 }), [2, 3]);
  assert.deepEqual(ids({ sinceMs: 1_000_020 }), [3, 4, 5]);
  const one = store.listTraces({ route: 'back/split' })[0]!;
  assert.equal(one.rootService, 'front');
  assert.equal(one.spanCount, 3);
  assert.equal(one.errorCount, 1);
  assert.deepEqual([...one.services].sort(), ['back', 'front', 'ingress']);
});

test('retention drops whole traces by age and by count', (t) => {
  const store = new TraceStore(tempDb(t), { maxSpans: 4, maxAgeMs: 60_000 });
  t.after(() => store.close());
  const now = 10_000_000;
  store.add([span(1, 1, { startMs: now - 120_000 }), span(1, 2, { startMs: now - 119_000 })]);
  for (let i = 2; i < 6; i++) store.add([span(i, i * 10, { startMs: now - 1000 + i }), span(i, i * 10 + 1, { startMs: now - 1000 + i })]);
  assert.equal(store.spanCount(), 10);
  store.prune(now);
  assert.ok(store.spanCount() <= 4, `${store.spanCount()} spans left`);
  const left = store.listTraces({}).map((s) => parseInt(s.traceId, 16));
  assert.deepEqual(left, [5, 4], 'the newest whole traces stay');
  for (const id of left) assert.equal(store.getTrace(hex(id, 32)).length, 2);
});

test('the store reopens the same file with its spans (a batch is one transaction)', (t) => {
  const file = tempDb(t);
  const a = new TraceStore(file);
  a.add([span(7, 1), span(7, 2)]);
  a.close();
  const b = new TraceStore(file);
  t.after(() => b.close());
  assert.equal(b.getTrace(hex(7, 32)).length, 2);
  assert.equal(b.listTraces({})[0]!.spanCount, 2);
});

test('a trace whose spans come in several batches, some re-sent, keeps one summary; reads see buffered spans', (t) => {
  const store = new TraceStore(tempDb(t));
  t.after(() => store.close());
  store.add([span(8, 2, { parentSpanId: hex(1, 16), startMs: 2_000_010, service: 'back', status: 503 })]);
  assert.equal(store.listTraces({})[0]!.rootService, 'back', 'before its root comes, the earliest span stands for it');
  store.add([span(8, 1, { kind: 'client', service: 'ingress', peerService: 'front', startMs: 2_000_000, durationMs: 50, attributes: { route: 'front/a' } })]);
  // Re-sent with a new status (an OTLP exporter retrying): replaced, not counted twice.
  store.add([span(8, 2, { parentSpanId: hex(1, 16), startMs: 2_000_010, service: 'back', status: 200 })]);
  const [sum] = store.listTraces({});
  assert.equal(sum!.rootService, 'front');
  assert.equal(sum!.spanCount, 2);
  assert.equal(sum!.errorCount, 0);
  assert.equal(sum!.durationMs, 50);
  assert.deepEqual(store.listTraces({ route: 'front/a' }).length, 1);
  assert.deepEqual(store.getTrace(hex(8, 32)).map((s) => s.spanId), [hex(1, 16), hex(2, 16)]);
  // Ids that are not hex, and 64-bit ids padded with zeros, are found too.
  store.add([span(0, 3, { traceId: 'not-a-hex-id' }), span(0, 4, { traceId: `${'0'.repeat(16)}${hex(99, 16)}` })]);
  assert.equal(store.getTrace('not-a-hex-id').length, 1);
  assert.equal(store.getTrace(`${'0'.repeat(16)}${hex(99, 16)}`).length, 1);
});

test('a span the file refuses drops the open transaction, is reported, and the store goes on', (t) => {
  const store = new TraceStore(tempDb(t));
  t.after(() => store.close());
  const failures: string[] = [];
  store.on('failed', (err) => failures.push(err.message));
  store.add([span(1, 1)]);
  store.flush();
  store.add([span(2, 2)]);
  // A value SQLite cannot bind (nothing a decoded batch makes; stands for a full disk or a locked file).
  store.add([span(3, 3, { startMs: undefined as unknown as number })]);
  assert.equal(failures.length, 1, `reported once: ${failures.join('; ')}`);
  store.add([span(4, 4)]);
  assert.deepEqual(store.listTraces({}).map((s) => parseInt(s.traceId, 16)).sort(), [1, 4], 'the committed trace stays; the open transaction (traces 2 and 3) is gone');
  assert.equal(store.getTrace(hex(4, 32)).length, 1);
  store.add([span(4, 5, { parentSpanId: hex(4, 16) })]);
  assert.equal(store.listTraces({})[0]!.spanCount, 2, 'summaries are right after the rollback');
});

test('a traces.db written by the previous version (schema 2) opens with its spans and summaries', (t) => {
  const file = tempDb(t);
  const old = new Database(file);
  // Schema 2 as it shipped: trace_id on every span, summaries keyed by trace_id.
  old.exec(`CREATE TABLE spans (trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, kind TEXT NOT NULL, service TEXT NOT NULL,
      instance_id TEXT NOT NULL, peer_service TEXT, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL, start_ms REAL NOT NULL,
      duration_ms REAL NOT NULL, attempts INTEGER NOT NULL, error TEXT, route TEXT, attributes TEXT NOT NULL, PRIMARY KEY (trace_id, span_id));
    CREATE INDEX spans_start ON spans (start_ms);
    CREATE INDEX spans_service_start ON spans (service, start_ms);
    CREATE TABLE traces (trace_id TEXT PRIMARY KEY, start_ms REAL NOT NULL, duration_ms REAL NOT NULL, root_service TEXT NOT NULL, method TEXT NOT NULL,
      path TEXT NOT NULL, status INTEGER NOT NULL, span_count INTEGER NOT NULL, error_count INTEGER NOT NULL, services TEXT NOT NULL, routes TEXT NOT NULL);
    CREATE INDEX traces_start ON traces (start_ms);
    PRAGMA user_version = 2;`);
  const insert = old.prepare('INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  insert.run(hex(4, 32), hex(1, 16), null, 'client', 'ingress', 'ingress-0', 'front', 'GET', '/a', 200, 1000, 9, 1, null, 'front/x', '{"route":"front/x","mtls":true}');
  insert.run(hex(4, 32), hex(2, 16), hex(1, 16), 'server', 'front', 'front-0', null, 'GET', '/a', 500, 1001, 7, 1, null, null, '{"mtls":true}');
  old.prepare('INSERT INTO traces VALUES (?, 1000, 9, ?, ?, ?, 200, 2, 1, ?, ?)').run(hex(4, 32), 'front', 'GET', '/a', '|ingress|front|', '|front/x|');
  old.close();

  const store = new TraceStore(file);
  t.after(() => store.close());
  const spans = store.getTrace(hex(4, 32));
  assert.deepEqual(spans.map((s) => [s.spanId, s.status, s.attributes]), [[hex(1, 16), 200, { route: 'front/x', mtls: true }], [hex(2, 16), 500, { mtls: true }]]);
  const [sum] = store.listTraces({ route: 'front/x', status: 'error' });
  assert.equal(sum?.rootService, 'front');
  assert.equal(sum?.spanCount, 2);
  assert.equal(store.listTraces({ attribute: 'mtls=true' }).length, 1);
  store.add([span(5, 9)]);
  assert.equal(store.spanCount(), 3, 'and it takes new spans');
});

/** The trace store's tables as versions 3 and 4 shipped them (4 added the root's grpc_status). */
function shippedSchema(version: 3 | 4): string {
  return `CREATE TABLE traces (seq INTEGER PRIMARY KEY, key INTEGER NOT NULL, trace_id TEXT NOT NULL, start_ms REAL NOT NULL, duration_ms REAL NOT NULL,
      root_service TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,${version === 4 ? ' grpc_status INTEGER,' : ''} span_count INTEGER NOT NULL,
      error_count INTEGER NOT NULL, services TEXT NOT NULL, routes TEXT NOT NULL);
    CREATE INDEX traces_key ON traces (key);
    CREATE INDEX traces_start ON traces (start_ms);
    CREATE TABLE spans (seq INTEGER NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, kind TEXT NOT NULL, service TEXT NOT NULL, instance_id TEXT NOT NULL,
      peer_service TEXT, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL, start_ms REAL NOT NULL, duration_ms REAL NOT NULL,
      attempts INTEGER NOT NULL, error TEXT, route TEXT, attributes TEXT NOT NULL);
    CREATE UNIQUE INDEX spans_trace ON spans (seq, span_id);
    CREATE INDEX spans_start ON spans (start_ms);
    PRAGMA user_version = ${version};`;
}

test('a traces.db written by the previous version (schema 3, whole-millisecond starts) opens; gRPC status and sub-millisecond starts are kept from then on', (t) => {
  const file = tempDb(t);
  const old = new Database(file);
  // Schema 3 as it shipped (before the root's grpc_status column).
  old.exec(shippedSchema(3));
  old.prepare(`INSERT INTO traces VALUES (1, ?, ?, 1000, 0.4, 'front', 'GET', '/a', 200, 1, 0, '|front|', '||')`).run(parseInt(hex(6, 13), 16), hex(6, 32));
  // Before version 5, a sidecar span's headers were among its attributes.
  old.prepare(`INSERT INTO spans VALUES (1, ?, NULL, 'server', 'front', 'front-0', NULL, 'GET', '/a', 200, 1000, 0.4, 1, NULL, NULL, '{"http.request.header.x-user":"jason"}')`).run(hex(1, 16));
  old.close();

  const store = new TraceStore(file);
  const [before] = store.listTraces();
  assert.deepEqual([before?.traceId, before?.startMs, before?.grpcStatus], [hex(6, 32), 1000, null]);
  assert.equal(store.getTrace(hex(6, 32)).length, 1);
  // A failed gRPC call: HTTP 200, rpc.grpc.status_code 14; starts with microseconds.
  store.add([
    span(7, 1, { kind: 'client', service: 'ingress', peerService: 'echo', path: '/echo.Echo/Say', startMs: 2000.123, durationMs: 0.9, error: 'grpc-unavailable', attributes: { 'rpc.grpc.status_code': 14 } }),
    span(7, 2, { parentSpanId: hex(1, 16), service: 'echo', path: '/echo.Echo/Say', startMs: 2000.456, durationMs: 0.5, error: 'grpc-unavailable', attributes: { 'rpc.grpc.status_code': 14 } }),
  ]);
  const grpcTrace = store.listTraces({ status: 'error' }).find((x) => x.traceId === hex(7, 32));
  assert.deepEqual([grpcTrace?.status, grpcTrace?.grpcStatus, grpcTrace?.errorCount, grpcTrace?.startMs], [200, 14, 2, 2000.123]);
  assert.deepEqual(store.getTrace(hex(7, 32)).map((x) => x.startMs), [2000.123, 2000.456]);
  store.close();
  // Reopened at the new version, the summary is read back from the file as it was written.
  const again = new TraceStore(file);
  assert.equal(again.listTraces().find((x) => x.traceId === hex(7, 32))?.grpcStatus, 14);
  again.close();
  const check = new Database(file, { readonly: true });
  assert.equal(check.pragma('user_version', { simple: true }), 5);
  check.close();
});

test('a sidecar span’s headers are stored as lines, read back and exported as attributes, and found by a header search old or new', (t) => {
  const file = tempDb(t);
  const old = new Database(file);
  // Schema 4 as it shipped: no headers column; a span's headers among its attributes.
  old.exec(shippedSchema(4));
  old.prepare(`INSERT INTO traces VALUES (1, ?, ?, 1000, 0.4, 'front', 'GET', '/a', 200, NULL, 1, 0, '|front|', '||')`).run(parseInt(hex(1, 13), 16), hex(1, 32));
  old.prepare(`INSERT INTO spans VALUES (1, ?, NULL, 'server', 'front', 'front-0', NULL, 'GET', '/a', 200, 1000, 0.4, 1, NULL, NULL, ?)`)
    .run(hex(1, 16), JSON.stringify({ mtls: true, 'http.request.header.x-user': 'jason' }));
  old.close();

  const store = new TraceStore(file);
  t.after(() => store.close());
  // As decodeSpanBatch makes them (proxy/protocol/span-headers.ts): request lines, then response lines.
  store.add([
    { ...span(2, 2, { attributes: { mtls: true } }), headers: '> x-user: kim\n> accept: */*\n< content-type: text/plain\n' },
    { ...span(3, 3), headers: '> x-user: jason\n> x-other: x-user: kim\n' },
  ]);
  const ids = (attribute: string) => store.listTraces({ attribute }).map((s) => parseInt(s.traceId, 16)).sort();
  assert.deepEqual(ids('http.request.header.x-user'), [1, 2, 3], 'pre-version-5 spans are found by their attributes');
  assert.deepEqual(ids('http.request.header.x-user=jason'), [1, 3]);
  assert.deepEqual(ids('http.request.header.x-user=kim'), [2], 'a whole line matches, not a value inside another');
  assert.deepEqual(ids('http.response.header.content-type=text/plain'), [2]);
  assert.deepEqual(ids('http.response.header.x-user'), [], 'the direction counts');
  assert.deepEqual(ids('mtls=true'), [1, 2]);
  const [read] = store.getTrace(hex(2, 32));
  assert.deepEqual(read!.attributes, { mtls: true, 'http.request.header.x-user': 'kim', 'http.request.header.accept': '*/*', 'http.response.header.content-type': 'text/plain' });
  assert.deepEqual(store.getTrace(hex(1, 32))[0]!.attributes, { mtls: true, 'http.request.header.x-user': 'jason' });
  // The exporter sends what the inspector shows.
  const [exported] = otlpToSpans(spansToOtlp([{ ...span(2, 2), headers: '> x-user: kim\n' }]));
  assert.equal(exported?.attributes['http.request.header.x-user'], 'kim');
});

test('OTLP JSON export re-imports the same spans; SDK spans map kind, status and base64 ids', () => {
  const spans = [
    span(9, 1, { attributes: { route: 'r', mtls: true, n: 3 } }),
    span(9, 2, { parentSpanId: hex(1, 16), kind: 'client', peerService: 'back', status: 503, error: 'upstream-5xx', attempts: 2 }),
  ];
  const back = otlpToSpans(JSON.parse(JSON.stringify(spansToOtlp(spans))));
  assert.deepEqual(back.sort((a, b) => a.spanId.localeCompare(b.spanId)), spans);

  const sdk = otlpToSpans({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop-app' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: Buffer.from(hex(5, 32), 'hex').toString('base64'),
                spanId: 'AAAAAAAAAAE=',
                name: 'load cart',
                kind: 'SPAN_KIND_INTERNAL',
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000000012500000',
                status: { code: 2, message: 'boom' },
              },
            ],
          },
        ],
      },
    ],
  });
  assert.equal(sdk.length, 1);
  assert.equal(sdk[0]!.traceId, hex(5, 32));
  assert.equal(sdk[0]!.spanId, hex(1, 16));
  assert.equal(sdk[0]!.kind, 'internal');
  assert.equal(sdk[0]!.service, 'shop-app');
  assert.equal(sdk[0]!.durationMs, 12.5);
  assert.equal(sdk[0]!.error, 'boom');
  assert.equal(sdk[0]!.attributes['otel.name'], 'load cart');
  assert.throws(() => otlpToSpans({ resourceSpans: 'nope' }));
});

test("an SDK's spans keep no query-string credential (path, url.full, url.query); other parameters stay", () => {
  const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const [one] = otlpToSpans({
    resourceSpans: [
      {
        resource: { attributes: [str('service.name', 'shop-app')] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: Buffer.from(hex(6, 32), 'hex').toString('base64'),
                spanId: 'AAAAAAAAAAI=',
                name: 'GET',
                kind: 'SPAN_KIND_CLIENT',
                startTimeUnixNano: '1700000000000000000',
                endTimeUnixNano: '1700000000001000000',
                attributes: [
                  str('http.request.method', 'GET'),
                  str('url.path', '/cart?apikey=k1&id=7'),
                  str('url.full', 'https://pay.example/charge?amount=3&access_token=t1'),
                  str('url.query', 'refresh_token=t2&lang=en'),
                ],
              },
            ],
          },
        ],
      },
    ],
  });
  assert.equal(one!.path, '/cart?apikey=[redacted]&id=7');
  assert.equal(one!.attributes['url.full'], 'https://pay.example/charge?amount=3&access_token=[redacted]');
  assert.equal(one!.attributes['url.query'], 'refresh_token=[redacted]&lang=en');
});

test('log lines link to traces: logged ids, and the one request an instance was serving', (t) => {
  assert.equal(traceIdIn('GET / traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), '0af7651916cd43dd8448eb211c80319c');
  assert.equal(traceIdIn('{"msg":"x","trace_id":"0AF7651916CD43DD8448EB211C80319C"}'), '0af7651916cd43dd8448eb211c80319c');
  assert.equal(traceIdIn('no id here 1234'), null);

  const store = new TraceStore(tempDb(t));
  t.after(() => store.close());
  store.add([span(1, 1, { instanceId: 'back-0', startMs: 1000, durationMs: 100 }), span(2, 2, { instanceId: 'back-0', startMs: 1150, durationMs: 100 }), span(3, 3, { instanceId: 'back-0', startMs: 1200, durationMs: 10 })]);
  const logs = new LogStore();
  logs.append('back', 'back-0', 'stdout', 'inside one', 1050);
  logs.append('back', 'back-0', 'stderr', 'inside two at once', 1205);
  logs.append('back', 'back-0', 'stdout', `explicit trace_id=${hex(9, 32)}`, 1300);
  logs.append('front', 'front-0', 'stdout', 'other service', 1050);
  const r = logs.query({ service: 'back' }, (i, a, b) => store.serverSpansOf(i, a, b));
  assert.deepEqual(
    r.lines.map((l) => [l.text, l.traceId && parseInt(l.traceId, 16), l.traceSource]),
    [
      ['inside one', 1, 'inferred'],
      ['inside two at once', null, null],
      [`explicit trace_id=${hex(9, 32)}`, 9, 'logged'],
    ],
  );
  assert.equal(logs.query({ search: 'EXPLICIT' }).lines.length, 1);
  assert.deepEqual(logs.query({ afterSeq: 3 }).lines.map((l) => l.text), ['other service']);
});

test('golden metrics and edges from spans; tap keeps order and filters by service', () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([], 99), null);
  const spans = [1, 2, 3, 4].map((i) => span(i, i, { kind: 'client', peerService: 'back', startMs: 1000 + i * 100, durationMs: i * 10, status: i === 4 ? 503 : 200 }));
  const [edge] = edgesOf(spans, 2000);
  assert.equal(edge!.source, 'front');
  assert.equal(edge!.target, 'back');
  assert.equal(edge!.rps, 2);
  assert.equal(edge!.successRate, 0.75);
  assert.equal(edge!.p99Ms, 40);
  const series = seriesOf(spans, 1000, 2000, 250);
  assert.deepEqual(series.map((p) => p.requests), [2, 2, 0, 0]);
  assert.equal(series[3]!.successRate, null);

  const tap = new Tap();
  tap.push(spans);
  tap.push([span(8, 8, { service: 'other' })]);
  const r = tap.read({ service: 'back' });
  assert.equal(r.events.length, 4);
  assert.equal(tap.read({ afterSeq: r.lastSeq - 1 }).events.length, 1);
});

test('/metrics federation merges families across sidecars and labels each pod', () => {
  const a = '# HELP istio_requests_total Requests.\n# TYPE istio_requests_total counter\nistio_requests_total{reporter="source",response_code="200"} 3\n';
  const b = '# HELP istio_requests_total Requests.\n# TYPE istio_requests_total counter\nistio_requests_total{reporter="destination",response_code="200"} 3\n# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 2\nh_count 1\n';
  const out = mergeExpositions([{ pod: 'front-0', text: a }, { pod: 'back-0', text: b }]);
  assert.equal(out.match(/# TYPE istio_requests_total/g)!.length, 1);
  assert.match(out, /istio_requests_total\{reporter="source",response_code="200",pod="front-0"\} 3/);
  assert.match(out, /istio_requests_total\{reporter="destination",response_code="200",pod="back-0"\} 3/);
  assert.match(out, /# TYPE h histogram\nh_bucket\{le="1",pod="back-0"\} 1\nh_sum\{pod="back-0"\} 2/);
});
