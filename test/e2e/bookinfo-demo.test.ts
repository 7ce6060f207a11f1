// The demo a user starts with `npm start`: Bookinfo through the ingress, traced end to end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import type { StatusResponse, TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { REPO, startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';

let mesh: RunningMesh;
let startupMs = 0;

before(async () => {
  const t0 = Date.now();
  mesh = await startMesh({
    fromFolder: join(REPO, 'fixtures', 'bookinfo'),
    transform: (yaml) => yaml.replace(/port: 9080/, 'port: 0'),
  });
  startupMs = Date.now() - t0;
});
after(() => mesh?.stop());

test('the demo starts every instance and reports them in status --json', async () => {
  const r = mesh.cli(['status', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const status = JSON.parse(r.stdout) as StatusResponse;
  const byName = Object.fromEntries(status.services.map((s) => [s.name, s]));
  assert.deepEqual(Object.keys(byName).sort(), ['details', 'productpage', 'ratings', 'reviews']);
  assert.deepEqual(byName.reviews!.instances.map((i) => i.version).sort(), ['v1', 'v2', 'v3']);
  for (const svc of status.services) {
    for (const i of svc.instances) {
      assert.equal(i.state, 'running', `${i.id} is ${i.state}`);
      assert.ok(i.pid && i.pid > 0, `${i.id} has a pid`);
      assert.ok(i.appPort > 0 && i.inboundPort && i.inboundPort > 0, `${i.id} has ports`);
    }
  }
  console.log(`# demo startup (devmesh up → ready, 6 instances + ingress): ${startupMs} ms`);
});

test('a request through the ingress returns the product page, traced across at least three services', async () => {
  const res = await fetch(`${mesh.ingress.productpage}/productpage`);
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /The Comedy of Errors/);
  assert.match(html, /Book Details/);
  assert.doesNotMatch(html, /Error fetching product details/);
  assert.match(html, /reviews served by <span id="reviews-version">v[123]<\/span>/);

  // Spans arrive in batches; wait for the whole trace.
  const trace = await waitFor('a trace with spans from productpage, details and reviews', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?limit=5');
    for (const t of list.traces) {
      const d = await mesh.api<TraceDetailResponse>(`/api/traces/${t.traceId}`);
      const services = new Set(d.spans.map((s) => s.service));
      if (['ingress', 'productpage', 'details', 'reviews'].every((s) => services.has(s))) return d;
    }
    return undefined;
  });
  const ids = new Set(trace.spans.map((s) => s.spanId));
  const roots = trace.spans.filter((s) => s.parentSpanId === null);
  assert.equal(roots.length, 1, 'one root span');
  assert.equal(roots[0]!.service, 'ingress');
  for (const s of trace.spans) {
    assert.equal(s.traceId, trace.traceId);
    if (s.parentSpanId !== null) assert.ok(ids.has(s.parentSpanId), `parent of ${s.service} ${s.kind} span is in the trace`);
  }
  // productpage's call to details: a client span of productpage whose child is details' server span.
  const client = trace.spans.find((s) => s.kind === 'client' && s.service === 'productpage' && s.peerService === 'details');
  assert.ok(client, 'productpage → details client span');
  const server = trace.spans.find((s) => s.kind === 'server' && s.service === 'details');
  assert.equal(server?.parentSpanId, client.spanId);
  // and the productpage server span is the parent of that client span (the app forwarded traceparent).
  const ppServer = trace.spans.find((s) => s.kind === 'server' && s.service === 'productpage');
  assert.equal(client.parentSpanId, ppServer?.spanId);
});

test('traces --json filters by service and limit', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${mesh.ingress.productpage}/productpage`)).status, 200);
  await waitFor('three traces', async () => (await mesh.api<TraceListResponse>('/api/traces?service=details')).traces.length >= 3);
  const r = mesh.cli(['traces', '--json', '--service', 'details', '--limit', '2']);
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout) as TraceListResponse;
  assert.equal(list.traces.length, 2);
  for (const t of list.traces) assert.ok(t.services.includes('details'));
});

test('the user jason is routed to reviews v2 (black stars), as in Istio\'s Bookinfo rule', async () => {
  for (let i = 0; i < 5; i++) {
    const html = await (await fetch(`${mesh.ingress.productpage}/productpage`, { headers: { 'end-user': 'jason' } })).text();
    assert.match(html, /id="reviews-version">v2</);
    assert.match(html, /color:black/);
  }
});

test('the API refuses requests without the token', async () => {
  const res = await fetch(`${mesh.apiBase}/api/status`);
  assert.equal(res.status, 401);
  const wrong = await fetch(`${mesh.apiBase}/api/status`, { headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.status, 401);
  // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host; it is refused.
  const port = Number(new URL(mesh.apiBase).port);
  const rebound = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/status', headers: { host: `evil.example:${port}`, authorization: `Bearer ${mesh.token}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(rebound, 403);
});
