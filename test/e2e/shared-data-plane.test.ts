// `dataPlane: shared` through a real `devmesh up`: one proxy process serves every process instance and the
// ingress gateway, and each workload in it behaves as its own sidecar would: subset routing, retries, mTLS
// STRICT, authorization, its own identity (the peer the app sees), its own metrics, a trace across them.
// A SIGKILL of the shared process restarts it with every listener on its old port; a control plane killed
// and started again re-adopts it (same pid). The other e2e suites run in this mode with
// DEVMESH_TEST_DATA_PLANE=shared (test/helpers/mesh-process.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { StatusResponse, TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { processesOfHome, startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { SHOP_APPS, shopYaml } from '../helpers/shop-mesh.js';

const ROUTES = `    - name: testers
      match: [{ headers: { x-user: { exact: tester } } }]
      route: [{ destination: { subset: v2 } }]
    - name: default
      route: [{ destination: { subset: v1 } }]
      retries: { attempts: 3, retryOn: "5xx" }
authorization:
  - name: frontend-not-secret
    service: catalog
    rules: [{ from: [{ source: { services: [frontend] } }], to: [{ operation: { notPaths: [/secret] } }] }]
dataPlane: shared`;

// catalog also answers with the caller identity its sidecar verified, and v1 fails every second request.
const APPS = {
  ...SHOP_APPS,
  'services/catalog.js': SHOP_APPS['services/catalog.js']!.replace('pid: process.pid', "pid: process.pid, peer: req.headers['x-devmesh-peer']"),
};

let mesh: RunningMesh;

before(async () => {
  mesh = await startMesh({ yaml: shopYaml(ROUTES, ', FAIL_EVERY: "2"'), files: APPS });
});
after(() => mesh?.stop());

async function status(): Promise<StatusResponse> {
  return mesh.api<StatusResponse>('/api/status');
}

/** Every proxy pid the mesh reports: instances' and gateways'. */
function proxyPids(s: StatusResponse): (number | null)[] {
  return [...s.services.flatMap((svc) => svc.instances.map((i) => i.sidecar.pid)), ...s.ingress.map((g) => g.sidecar.pid)];
}

/** Pids of the mesh's proxy processes, found the way a user would (ps), not through the API. */
function proxyProcesses(): number[] {
  return processesOfHome(mesh.home).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('proxy/main.js');
    } catch {
      return false;
    }
  });
}

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(`${mesh.ingress.frontend}${path}`, { headers });
  return { status: res.status, body: await res.text() };
}

test('one proxy process serves every instance and the ingress, and status shows its pid for each', async () => {
  const s = await status();
  const pids = proxyPids(s);
  assert.equal(pids.length, 4, 'frontend, catalog v1 and v2, the ingress gateway');
  assert.ok(pids[0] !== null && pids.every((p) => p === pids[0]), `one pid for all: ${pids.join(', ')}`);
  assert.deepEqual(proxyProcesses(), [pids[0]]);
  // Each workload still has its own listeners.
  const inbound = s.services.flatMap((svc) => svc.instances.map((i) => i.inboundPort));
  assert.equal(new Set(inbound).size, 3);
  const json = JSON.parse(mesh.cli(['status', '--json']).stdout) as StatusResponse;
  assert.deepEqual(proxyPids(json), pids, 'devmesh status --json says the same');
});

test('routing by subset, retries, and each workload its own identity', async () => {
  const tester = await get('/items', { 'x-user': 'tester' });
  assert.equal(tester.status, 200, tester.body);
  const v2 = JSON.parse(tester.body) as { version: string; peer: string };
  assert.equal(v2.version, 'v2');
  // The frontend's session dialed catalog with the frontend's certificate, not another workload's.
  assert.equal(v2.peer, 'spiffe://shop/ns/default/sa/frontend');
  // v1 fails every second request; the route's retries hide it.
  for (let i = 0; i < 10; i++) {
    const r = await get(`/items?n=${i}`);
    assert.equal(r.status, 200, `request ${i}: ${r.body}`);
    assert.equal((JSON.parse(r.body) as { version: string }).version, 'v1');
  }
});

test('mTLS STRICT: a plaintext call to a workload inbound listener is refused', async () => {
  const s = await status();
  const port = s.services.find((x) => x.name === 'catalog')!.instances[0]!.inboundPort!;
  await assert.rejects(
    new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/items', timeout: 3000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    }),
  );
});

test('authorization denies per workload', async () => {
  const denied = await get('/secret');
  assert.equal(denied.status, 403, denied.body);
  assert.equal((await get('/items', { 'x-user': 'tester' })).status, 200);
});

test("a trace crosses the workloads, and each workload's metrics carry its own labels", async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const res = await get('/items', { 'x-user': 'tester', traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
  assert.equal(res.status, 200);
  const trace = await waitFor('spans from the ingress, frontend and catalog', async () => {
    const d = await mesh.api<TraceDetailResponse>(`/api/traces/${traceId}`).catch(() => undefined);
    const services = new Set(d?.spans.map((sp) => sp.service));
    return d && ['ingress', 'frontend', 'catalog'].every((x) => services.has(x)) ? d : undefined;
  });
  const client = trace.spans.find((sp) => sp.kind === 'client' && sp.service === 'frontend' && sp.peerService === 'catalog');
  const server = trace.spans.find((sp) => sp.kind === 'server' && sp.service === 'catalog');
  assert.ok(client && server, 'frontend → catalog client and server spans');
  assert.equal(server.parentSpanId, client.spanId);
  const list = await mesh.api<TraceListResponse>('/api/traces?service=catalog&limit=50');
  assert.ok(list.traces.some((t) => t.traceId === traceId));

  const text = await (await fetch(`${mesh.apiBase}/metrics`, { headers: { authorization: `Bearer ${mesh.token}` } })).text();
  const series = text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
  // A scrape of one session returns that workload's registry only: every series of pod catalog-v2-0 is
  // reported by the catalog (destination), none by the frontend.
  const catalogV2 = series.filter((l) => l.includes('pod="catalog-v2-0"'));
  assert.ok(catalogV2.length > 0, text);
  for (const l of catalogV2) assert.match(l, /reporter="destination"/);
  for (const l of catalogV2) assert.match(l, /destination_workload="catalog[^"]*"/);
  const frontend = series.filter((l) => l.includes('pod="frontend-0"') && l.includes('reporter="source"'));
  assert.ok(frontend.length > 0, text);
  for (const l of frontend) assert.match(l, /source_workload="frontend[^"]*"/);
});

test('the shared process killed with SIGKILL is restarted, every listener on its old port, and serves again', async () => {
  const before = await status();
  const pid = proxyPids(before)[0]!;
  const ports = (s: StatusResponse) => [...s.services.flatMap((svc) => svc.instances.map((i) => i.inboundPort)), ...s.ingress.map((g) => g.port)];
  process.kill(pid, 'SIGKILL');
  const after = await waitFor('every workload served by a new shared process', async () => {
    const s = await status();
    const pids = proxyPids(s);
    const configured = s.services.every((svc) => svc.instances.every((i) => i.sidecar.ackedVersion > 0 && i.state === 'running'));
    return pids.every((p) => p !== null && p !== pid && p === pids[0]) && configured ? s : undefined;
  }, 20_000);
  assert.deepEqual(ports(after), ports(before), 'same ports: apps and peers keep their addresses');
  for (const svc of after.services) for (const i of svc.instances) assert.equal(i.sidecar.lastExit, 'shared proxy killed by SIGKILL');
  assert.deepEqual(proxyProcesses(), [proxyPids(after)[0]]);
  const r = await waitFor('a request through the restarted data plane', async () => {
    const x = await get('/items', { 'x-user': 'tester' });
    return x.status === 200 ? x : undefined;
  });
  assert.equal((JSON.parse(r.body) as { version: string }).version, 'v2');
});

test('a control plane killed and started again re-adopts the shared process (same pid, no restart)', async () => {
  const before = proxyPids(await status());
  mesh.child.kill('SIGKILL');
  await mesh.upAgain();
  assert.match(mesh.stdout(), /re-adopted 3 instances and 1 gateway/);
  const s = await status();
  assert.deepEqual(proxyPids(s), before);
  assert.equal((await get('/items', { 'x-user': 'tester' })).status, 200);
  // And it is managed as before: every session runs the new control plane's config.
  for (const svc of s.services) for (const i of svc.instances) assert.equal(i.sidecar.ackedVersion, s.config.version, i.id);
});
