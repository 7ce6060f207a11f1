// Propagation as Istio's Envoy does it, through real sidecars: ingress gateway → productpage's sidecar →
// the productpage app → productpage's sidecar (outbound) → reviews' sidecar → the reviews app. The
// productpage app forwards only what the test tells it to (B3 multi, B3 single, traceparent, x-request-id,
// or nothing), the way an app instrumented with one convention would; the trace must hold together in every
// case but the last, which shows the test can tell a joined trace from a split one.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import {
  clientConfig,
  cluster,
  endpoint,
  httpClient,
  route,
  serverConfig,
  SidecarProcess,
  startApp,
  tempHome,
  TestMesh,
  type TestApp,
} from './helpers.js';
import type { SpanRecord } from '../../proxy/protocol/index.js';

type Cleanup = Parameters<typeof startApp>[0];
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Header names a mode forwards (`b3single` builds the single header from the multi ones it was given). */
const FORWARD: Record<string, readonly string[]> = {
  b3: ['x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'],
  b3single: [],
  traceparent: ['traceparent', 'tracestate'],
  'x-request-id': ['x-request-id'],
  none: [],
};

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The reviews app: answers with the headers it received. */
function headersApp(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ headers: req.headers }));
  });
}

interface Chain {
  ingress: SidecarProcess;
  productpage: SidecarProcess;
  reviews: SidecarProcess;
  base: string;
}

async function startChain(t: Cleanup, mesh: TestMesh): Promise<Chain> {
  const reviewsApp = await startApp(t, headersApp);
  const reviews = SidecarProcess.start(t, mesh.home);
  const reviewsPorts = await reviews.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: reviewsApp.port }));

  const productpage = SidecarProcess.start(t, mesh.home);
  // The app needs its sidecar's outbound port, which the sidecar picks: the app reads it from here.
  const outbound = { url: '' };
  const productpageApp: TestApp = await startApp(t, (req, res) => {
    const mode = new URL(req.url ?? '/', 'http://x').searchParams.get('forward') ?? 'none';
    const headers: Record<string, string> = {};
    for (const name of FORWARD[mode] ?? []) {
      const v = one(req.headers[name]);
      if (v !== undefined) headers[name] = v;
    }
    if (mode === 'b3single') {
      const h = req.headers;
      headers.b3 = [one(h['x-b3-traceid']), one(h['x-b3-spanid']), one(h['x-b3-sampled']), one(h['x-b3-parentspanid'])].filter((x) => x !== undefined).join('-');
    }
    if (req.headers['x-test-sampled'] !== undefined && headers['x-b3-sampled'] !== undefined) headers['x-b3-sampled'] = String(req.headers['x-test-sampled']);
    fetch(`${outbound.url}/reviews/0`, { headers, signal: AbortSignal.timeout(10_000) })
      .then((r) => r.json() as Promise<{ headers: IncomingHttpHeaders }>)
      .then((upstream) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ received: req.headers, sent: headers, upstream: upstream.headers }));
      })
      .catch((err: Error) => {
        res.writeHead(502).end(err.message);
      });
  });
  const productpagePorts = await productpage.apply(
    clientConfig({
      tls: mesh.tls('productpage'),
      service: 'productpage',
      appPort: productpageApp.port,
      outbound: [{ service: 'reviews', port: 0, routes: [route({ destinations: [{ service: 'reviews', weight: 100 }] })] }],
      clusters: [cluster('reviews', [endpoint('reviews', 'v1', reviewsPorts.inbound!)])],
    }),
  );
  outbound.url = `http://127.0.0.1:${productpagePorts.outbound.reviews}`;

  const ingress = SidecarProcess.start(t, mesh.home);
  const ingressPorts = await ingress.apply(
    clientConfig({
      tls: mesh.tls('ingress'),
      service: 'ingress',
      outbound: [{ service: 'productpage', port: 0, routes: [route({ destinations: [{ service: 'productpage', weight: 100 }] })] }],
      clusters: [cluster('productpage', [endpoint('productpage', 'v1', productpagePorts.inbound!)])],
    }),
  );
  return { ingress, productpage, reviews, base: `http://127.0.0.1:${ingressPorts.outbound.productpage}` };
}

interface Hop {
  ingressClient: SpanRecord;
  ppServer: SpanRecord;
  ppClient: SpanRecord;
  reviewsServer: SpanRecord;
}

async function spansOf(chain: Chain, path: string): Promise<Hop> {
  const [ingressClient] = await chain.ingress.waitForSpans((s) => s.kind === 'client' && s.path === path, 1, 15_000);
  const [ppServer] = await chain.productpage.waitForSpans((s) => s.kind === 'server' && s.path === path, 1, 15_000);
  const [ppClient] = await chain.productpage.waitForSpans((s) => s.kind === 'client' && s.attributes.listener === 'reviews' && s.startMs >= ppServer!.startMs && s.traceId !== '' && !used.has(s.spanId), 1, 15_000);
  used.add(ppClient!.spanId);
  const [reviewsServer] = await chain.reviews.waitForSpans((s) => s.kind === 'server' && s.parentSpanId === ppClient!.spanId, 1, 15_000);
  return { ingressClient: ingressClient!, ppServer: ppServer!, ppClient: ppClient!, reviewsServer: reviewsServer! };
}
const used = new Set<string>();

describe('propagation as Istio’s Envoy does it (B3, traceparent, x-request-id)', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('joins one trace whichever header the app forwards, and generates x-request-id at the ingress', { timeout: 120_000 }, async (t) => {
    const chain = await startChain(t, mesh);
    const get = httpClient(t);
    for (const mode of ['b3', 'b3single', 'traceparent', 'x-request-id']) {
      // One request at a time: the productpage client span found is this request's.
      const reply = await get(`${chain.base}/page/${mode}?forward=${mode}`);
      assert.equal(reply.status, 200, `${mode}: ${reply.body}`);
      const { received, sent, upstream } = JSON.parse(reply.body) as { received: IncomingHttpHeaders; sent: Record<string, string>; upstream: IncomingHttpHeaders };
      const hop = await spansOf(chain, `/page/${mode}?forward=${mode}`);

      // The ingress started the trace and made the request id; every hop kept both.
      assert.equal(hop.ingressClient.parentSpanId, null, mode);
      const traceId = hop.ingressClient.traceId;
      for (const span of [hop.ppServer, hop.ppClient, hop.reviewsServer]) assert.equal(span.traceId, traceId, `${mode}: one trace (${span.kind} of ${span.service})`);
      assert.equal(hop.ppServer.parentSpanId, hop.ingressClient.spanId, `${mode}: productpage's server span under the ingress`);
      assert.equal(hop.ppClient.parentSpanId, hop.ppServer.spanId, `${mode}: the app's outbound call under its inbound request`);
      assert.equal(hop.reviewsServer.parentSpanId, hop.ppClient.spanId, `${mode}: reviews under productpage's call`);
      assert.equal(Object.keys(sent).length > 0, true, `${mode}: the app forwarded something`);
      assert.match(String(received['x-request-id']), UUID_V4, `${mode}: x-request-id made at the ingress, a UUID v4`);
      if (mode === 'x-request-id') {
        assert.equal(upstream['x-request-id'], received['x-request-id'], 'the forwarded x-request-id reaches reviews unchanged');
        assert.equal(hop.ppClient.attributes['trace.joined_by'], 'x-request-id');
      } else {
        assert.equal(hop.ppClient.attributes['trace.joined_by'], undefined, `${mode}: joined by its trace headers`);
        // The app forwarded no x-request-id: its sidecar made one for the call, as Envoy does.
        assert.match(String(upstream['x-request-id']), UUID_V4);
        assert.notEqual(upstream['x-request-id'], received['x-request-id']);
      }

      // What the apps are given, in every form: traceparent and B3 naming the same span.
      const serverSpan = hop.ppServer.spanId;
      assert.equal(received.traceparent, `00-${traceId}-${serverSpan}-01`, mode);
      assert.equal(received['x-b3-traceid'], traceId, mode);
      assert.equal(received['x-b3-spanid'], serverSpan, mode);
      assert.equal(received['x-b3-parentspanid'], hop.ingressClient.spanId, mode);
      assert.equal(received['x-b3-sampled'], '1', mode);
      assert.equal(received.b3, undefined, `${mode}: no single b3 header unless the caller used it`);
      assert.equal(upstream['x-b3-spanid'], hop.reviewsServer.spanId, mode);
      assert.equal(upstream.traceparent, `00-${traceId}-${hop.reviewsServer.spanId}-01`, mode);
      if (mode === 'b3single') assert.equal(upstream.b3, `${traceId}-${hop.reviewsServer.spanId}-1-${hop.ppClient.spanId}`, 'single b3 written back to an app that used it');
      else assert.equal(upstream.b3, undefined, mode);
    }

    // The control: an app that forwards nothing splits the trace, so the joins above are the headers' doing.
    const reply = await get(`${chain.base}/page/none?forward=none`);
    assert.equal(reply.status, 200);
    const [ppServer] = await chain.productpage.waitForSpans((s) => s.kind === 'server' && s.path === '/page/none?forward=none', 1, 15_000);
    const [ppClient] = await chain.productpage.waitForSpans((s) => s.kind === 'client' && s.startMs >= ppServer!.startMs && !used.has(s.spanId), 1, 15_000);
    assert.equal(ppClient!.parentSpanId, null, 'nothing forwarded: a new trace');
    assert.notEqual(ppClient!.traceId, ppServer!.traceId);
  });

  it('keeps B3 sampling decisions and 64-bit trace ids, and a client’s own x-request-id', { timeout: 60_000 }, async (t) => {
    const chain = await startChain(t, mesh);
    const get = httpClient(t);
    // A client that already has an x-request-id keeps it end to end.
    const own = 'client-chosen-request-id-1';
    const kept = JSON.parse((await get(`${chain.base}/own-id?forward=x-request-id`, { headers: { 'x-request-id': own } })).body) as { received: IncomingHttpHeaders; upstream: IncomingHttpHeaders };
    assert.equal(kept.received['x-request-id'], own);
    assert.equal(kept.upstream['x-request-id'], own);

    // A caller's 64-bit B3 trace id (Zipkin's older form) is widened to 128 bits, as OpenTelemetry does.
    const short = '463ac35c9f6413ad';
    const caller = 'a2fb4a1d1a96d312';
    const widened = JSON.parse((await get(`${chain.base}/b3-64?forward=b3`, { headers: { 'x-b3-traceid': short, 'x-b3-spanid': caller, 'x-b3-sampled': '1' } })).body) as {
      received: IncomingHttpHeaders;
    };
    const [ingressSpan] = await chain.ingress.waitForSpans((s) => s.path === '/b3-64?forward=b3', 1, 15_000);
    assert.equal(ingressSpan!.traceId, `${'0'.repeat(16)}${short}`);
    assert.equal(ingressSpan!.parentSpanId, caller, 'the ingress span is a child of the B3 caller');
    assert.equal(widened.received['x-b3-traceid'], ingressSpan!.traceId);

    // x-b3-sampled: 0 from the app is honoured: its call is not recorded, and reviews is told so in both forms.
    const unsampled = JSON.parse((await get(`${chain.base}/b3-unsampled?forward=b3`, { headers: { 'x-test-sampled': '0' } })).body) as { upstream: IncomingHttpHeaders };
    assert.equal(unsampled.upstream['x-b3-sampled'], '0');
    assert.match(String(unsampled.upstream.traceparent), /-00$/);
    // Single-header b3 with sampling "d" (debug) samples.
    const debug = JSON.parse(
      (await get(`${chain.base}/b3-debug?forward=traceparent`, { headers: { b3: `${'ab'.repeat(16)}-${caller}-d` } })).body,
    ) as { received: IncomingHttpHeaders };
    assert.match(String(debug.received.traceparent), new RegExp(`^00-${'ab'.repeat(16)}-[0-9a-f]{16}-01$`));
    assert.match(String(debug.received.b3), new RegExp(`^${'ab'.repeat(16)}-[0-9a-f]{16}-1-[0-9a-f]{16}$`), 'a b3 caller gets b3 back');
  });
});
