// W3C traceparent propagation across app → client sidecar → server sidecar → app.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { echoApp, httpClient, plainRequest, productpageToReviews, serverConfig, SidecarProcess, startApp, tempHome, TestMesh } from './helpers.js';
import type { SidecarMessage } from '../../proxy/protocol/index.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const APP_SPAN = '00f067aa0ba902b7';

describe('trace propagation', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('links app span → client span → server span → app, keeping the trace id', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const { client, server, base } = await productpageToReviews(t, mesh, app.port);
    const get = httpClient(t);
    const reply = await get(`${base}/traced`, {
      headers: { traceparent: `00-${TRACE_ID}-${APP_SPAN}-01`, tracestate: 'vendor=1' },
    });
    assert.equal(reply.status, 200);
    const seen = JSON.parse(reply.body);

    const [clientSpan] = await client.waitForSpans((s) => s.kind === 'client' && s.path === '/traced');
    const [serverSpan] = await server.waitForSpans((s) => s.kind === 'server' && s.path === '/traced');
    assert.equal(clientSpan!.traceId, TRACE_ID);
    assert.equal(clientSpan!.parentSpanId, APP_SPAN, 'client span is a child of the span the app sent');
    assert.equal(serverSpan!.traceId, TRACE_ID);
    assert.equal(serverSpan!.parentSpanId, clientSpan!.spanId, 'server span is a child of the client span');
    assert.equal(seen.traceparent, `00-${TRACE_ID}-${serverSpan!.spanId}-01`, 'the app gets the server span as parent');
    assert.match(clientSpan!.spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(clientSpan!.spanId, serverSpan!.spanId);
    assert.equal(clientSpan!.attempts, 1);
    assert.ok(clientSpan!.durationMs >= serverSpan!.durationMs, 'the client span encloses the server span');

    // No traceparent from the app: the client span starts a trace, which the server joins.
    await get(`${base}/untraced`);
    const [rootClient] = await client.waitForSpans((s) => s.path === '/untraced');
    const [joinedServer] = await server.waitForSpans((s) => s.path === '/untraced');
    assert.equal(rootClient!.parentSpanId, null);
    assert.match(rootClient!.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(rootClient!.traceId, TRACE_ID);
    assert.equal(joinedServer!.traceId, rootClient!.traceId);
    assert.equal(joinedServer!.parentSpanId, rootClient!.spanId);
  });

  it('starts a new trace for an inbound request without a valid traceparent', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const server = SidecarProcess.start(t, mesh.home);
    const ports = await server.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'PERMISSIVE' }));
    const invalid = ['garbage', `00-${'0'.repeat(32)}-${APP_SPAN}-01`, `ff-${TRACE_ID}-${APP_SPAN}-01`, `00-${TRACE_ID}-${APP_SPAN}-01-extra`];
    for (const [i, traceparent] of invalid.entries()) {
      const reply = await plainRequest(ports.inbound!, `/bad/${i}`, { traceparent });
      const seen = JSON.parse(reply.body);
      const [span] = await server.waitForSpans((s) => s.path === `/bad/${i}`);
      assert.equal(span!.parentSpanId, null, traceparent);
      assert.notEqual(span!.traceId, TRACE_ID);
      assert.equal(seen.traceparent, `00-${span!.traceId}-${span!.spanId}-01`);
    }
    const reply = await plainRequest(ports.inbound!, '/good', { traceparent: `00-${TRACE_ID}-${APP_SPAN}-01` });
    const [span] = await server.waitForSpans((s) => s.path === '/good');
    assert.equal(span!.parentSpanId, APP_SPAN);
    assert.equal(JSON.parse(reply.body).traceparent, `00-${TRACE_ID}-${span!.spanId}-01`);
    // A caller that did not sample (flags 00) is not overruled: no span, and the app is told the same.
    const unsampled = await plainRequest(ports.inbound!, '/unsampled', { traceparent: `00-${TRACE_ID}-${APP_SPAN}-00` });
    assert.match(JSON.parse(unsampled.body).traceparent, new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`), 'sampling flags are kept');
    await plainRequest(ports.inbound!, '/after-unsampled');
    await server.waitForSpans((s) => s.path === '/after-unsampled');
    assert.equal(server.spans.filter((s) => s.path === '/unsampled').length, 0);
  });

  it('samples new traces at tracing.sampling, keeps a caller’s decision, and counts every request in the metrics', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const { client, server, base } = await productpageToReviews(t, mesh, app.port, { tracing: { samplingPercent: 0 } });
    const get = httpClient(t);
    for (let i = 0; i < 5; i++) {
      const reply = await get(`${base}/not-sampled/${i}`);
      assert.equal(reply.status, 200);
      assert.match(JSON.parse(reply.body).traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'the decision travels with the request');
    }
    // A caller that sampled keeps its trace, whatever the rate.
    await get(`${base}/sampled`, { headers: { traceparent: `00-${TRACE_ID}-${APP_SPAN}-01` } });
    const [clientSpan] = await client.waitForSpans((s) => s.path === '/sampled');
    const [serverSpan] = await server.waitForSpans((s) => s.path === '/sampled');
    assert.equal(serverSpan!.parentSpanId, clientSpan!.spanId);
    assert.equal([...client.spans, ...server.spans].filter((s) => s.path.startsWith('/not-sampled')).length, 0, 'no span for an unsampled trace');
    client.send({ type: 'scrape', id: 1 });
    const metrics = await client.waitFor(
      () => client.messages.find((m): m is Extract<SidecarMessage, { type: 'metrics' }> => m.type === 'metrics' && m.id === 1),
      5_000,
      'metrics',
    );
    const total = metrics.text.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"'));
    assert.match(total ?? '', / 6$/, 'metrics count sampled and unsampled requests alike');
  });
});
