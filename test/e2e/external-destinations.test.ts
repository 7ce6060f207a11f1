// External destinations (Istio ServiceEntry): an app calls a service outside the mesh through its sidecar,
// plain HTTP or HTTPS, and the mesh's routes and retries apply to those calls as to any other.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { LocalCa } from '../../src/ca/local-ca.js';
import { startMesh, tempHome, waitFor, type RunningMesh } from '../helpers/mesh-process.js';

let mesh: RunningMesh;
let payments: Server;
let geo: Server;
let rogue: Server;
let paymentsCalls = 0;
const caHome = tempHome();

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

before(async () => {
  // payments: plain HTTP, fails every other call.
  payments = createServer((req, res) => {
    paymentsCalls++;
    if (paymentsCalls % 2 === 1) return void res.writeHead(503).end('busy');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ paid: true, path: req.url }));
  });
  // geo: HTTPS with a certificate from a CA the sidecars trust through NODE_EXTRA_CA_CERTS (as a user's
  // corporate CA would be), not from the mesh CA.
  const ca = LocalCa.loadOrCreate(join(caHome, 'external-ca'), 'external test CA');
  const leaf = ca.issue({ commonName: 'localhost', uris: [], dnsNames: ['localhost'] });
  const caFile = join(caHome, 'external-ca.pem');
  writeFileSync(caFile, ca.rootPem);
  geo = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ city: 'Lisbon', path: req.url }));
  });
  // rogue: HTTPS with a certificate from a CA nobody trusts; the sidecar must refuse it.
  const other = LocalCa.loadOrCreate(join(caHome, 'untrusted-ca'), 'untrusted CA').issue({ commonName: 'localhost', uris: [], dnsNames: ['localhost'] });
  rogue = createHttpsServer({ cert: other.certPem, key: other.keyPem }, (_req, res) => res.end('should never be reached'));
  const [paymentsPort, geoPort, roguePort] = [await listen(payments), await listen(geo as unknown as Server), await listen(rogue as unknown as Server)];

  mesh = await startMesh({
    env: { NODE_EXTRA_CA_CERTS: caFile },
    files: {
      'front.js': `
import { createServer } from 'node:http';
createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const base = req.url.startsWith('/geo') ? process.env.GEO_URL : req.url.startsWith('/rogue') ? process.env.ROGUE_URL : process.env.PAYMENTS_URL;
  const r = await fetch(base + req.url, { headers: req.headers.traceparent ? { traceparent: req.headers.traceparent } : {} });
  res.writeHead(r.status, { 'content-type': 'application/json', 'x-upstream-error': r.headers.get('x-devmesh-error') ?? '' });
  res.end(await r.text());
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
      'package.json': '{ "type": "module" }',
    },
    yaml: `name: ext
ingress: [{ port: 0, service: front }]
services:
  front: { run: node front.js, upstreams: [payments, geo, rogue], health: /healthz }
external:
  payments: { url: "http://127.0.0.1:${paymentsPort}" }
  geo: { url: "https://localhost:${geoPort}" }
  rogue: { url: "https://localhost:${roguePort}" }
routes:
  payments:
    - route: [{ destination: { host: payments } }]
      retries: { attempts: 3, retryOn: "5xx" }
`,
  });
});

after(async () => {
  await mesh?.stop();
  payments?.close();
  geo?.close();
  rogue?.close();
  rmSync(caHome, { recursive: true, force: true });
});

test('calls to a plain HTTP external destination go through the sidecar, with its retries', async () => {
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${mesh.ingress.front}/pay/${i}`);
    assert.equal(res.status, 200, `call ${i}`);
    assert.deepEqual(await res.json(), { paid: true, path: `/pay/${i}` });
  }
  assert.equal(paymentsCalls, 12, 'each call failed once and was retried once');
  const span = await waitFor('a retried client span to payments', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?limit=20');
    for (const t of list.traces) {
      const d = await mesh.api<TraceDetailResponse>(`/api/traces/${t.traceId}`);
      const s = d.spans.find((x) => x.kind === 'client' && x.peerService === 'payments' && x.attempts === 2);
      if (s) return s;
    }
    return undefined;
  });
  assert.equal(span.service, 'front');
  assert.equal(span.status, 200);
});

test('calls to an HTTPS external destination are verified against the trust store (NODE_EXTRA_CA_CERTS)', async () => {
  const res = await fetch(`${mesh.ingress.front}/geo/where`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { city: 'Lisbon', path: '/geo/where' });
});

test('an HTTPS external destination whose certificate nobody trusts is refused by the sidecar', async () => {
  const res = await fetch(`${mesh.ingress.front}/rogue/x`);
  assert.ok(res.status >= 500, `status ${res.status}`);
  assert.notEqual(res.headers.get('x-upstream-error'), '', 'the refusal is the sidecar\'s, marked x-devmesh-error');
  assert.doesNotMatch(await res.text(), /should never be reached/);
});
