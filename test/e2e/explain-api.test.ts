// `devmesh explain` against a running mesh, from a user's side: POST /api/explain answers with the rule the
// applied configuration matches and, from the caller's own sidecar, each destination's endpoints with their
// live health — outlier ejections, requests in flight, and whether the circuit breaker would shed. The CLI
// prints the same answer when the mesh runs, and a sidecar that does not answer gives an error, not a hang.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiError, ExplainDestination, ExplainRequest, ExplainResponse, StatusResponse } from '../../src/contract/api.js';
import { startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { EJECTING_SHOP_YAML, SHOP_APPS } from '../helpers/shop-mesh.js';

let mesh: RunningMesh;

before(async () => {
  mesh = await startMesh({ yaml: EJECTING_SHOP_YAML, files: SHOP_APPS });
});
after(() => mesh?.stop());

function post(body: unknown, token: string | null = mesh.token): Promise<Response> {
  return fetch(mesh.apiBase + '/api/explain', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

async function explain(req: ExplainRequest): Promise<ExplainResponse> {
  const res = await post(req);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as ExplainResponse;
}

/** The catalog destination as frontend-0's sidecar sees it. */
/** The destinations of the matched rule as frontend-0's sidecar sees them. */
function seenByFrontend(r: ExplainResponse): ExplainDestination[] {
  assert.ok(r.health.available, JSON.stringify(r.health));
  const sidecar = r.health.sidecars.find((s) => s.sidecar === 'frontend-0');
  assert.ok(sidecar, JSON.stringify(r.health.sidecars));
  assert.equal(sidecar.error, null);
  return sidecar.destinations;
}

/** The catalog destination as frontend-0's sidecar sees it (the rule's only one). */
function catalogSeenByFrontend(r: ExplainResponse): ExplainDestination {
  const destinations = seenByFrontend(r);
  assert.equal(destinations.length, 1);
  return destinations[0]!;
}

test('POST /api/explain names the matching rule and lists the endpoints the caller has for its destinations', async () => {
  const status = await mesh.api<StatusResponse>('/api/status');
  const testers = await explain({ to: 'catalog', from: 'frontend', method: 'GET', path: '/items', headers: { 'X-User': 'tester' } });
  assert.equal(testers.configVersion, status.config.version);
  assert.equal(testers.ruleIndex, 0);
  assert.equal(testers.rule?.name, 'testers');
  const [v2, mirror] = seenByFrontend(testers);
  assert.ok(v2 && mirror);
  assert.deepEqual([v2.service, v2.subset, v2.known], ['catalog', 'v2', true]);
  assert.deepEqual(v2.endpoints.map((e) => e.instanceId), ['catalog-v2-0']);
  // The mirror target is listed too: copies go through its own circuit breaker and outlier detection.
  assert.deepEqual([mirror.service, mirror.subset, mirror.weight, mirror.mirrorPercent, mirror.known], ['catalog', 'v1', 0, 25, true]);
  assert.deepEqual(mirror.endpoints.map((e) => e.instanceId), ['catalog-v1-0']);
  assert.ok(testers.lines.some((l) => l.includes('frontend-0 → catalog/v1 (mirror, 25% copied): 0 requests in flight')), testers.lines.join('\n'));

  const everyone = await explain({ to: 'catalog', from: 'frontend', method: 'GET', path: '/items' });
  assert.equal(everyone.ruleIndex, 1);
  assert.ok(everyone.lines.some((l) => /rule 0 \(testers\): no match/.test(l)), everyone.lines.join('\n'));
  const all = catalogSeenByFrontend(everyone);
  assert.deepEqual([all.subset, all.outlierDetection, all.limits, all.shedding], [null, true, { maxRequests: 1 }, false]);
  assert.deepEqual(
    all.endpoints.map((e) => [e.instanceId, e.ejected, e.ejections, e.inRotation]),
    [
      ['catalog-v1-0', false, 0, true],
      ['catalog-v2-0', false, 0, true],
    ],
  );
  assert.ok(everyone.lines.some((l) => /catalog-v1-0 .*healthy/.test(l)), everyone.lines.join('\n'));
});

test('a request in flight shows as active, and the circuit breaker (maxRequests: 1) as shedding', async () => {
  const slow = fetch(`${mesh.ingress.frontend}/slow`).then((r) => r.text());
  const busy = await waitFor('a request in flight to catalog', async () => {
    const d = catalogSeenByFrontend(await explain({ to: 'catalog', from: 'frontend', method: 'GET', path: '/slow' }));
    return d.activeRequests === 1 ? d : undefined;
  }, 2_500, 50);
  assert.equal(busy.shedding, true);
  assert.match(busy.sheddingReason ?? '', /1 requests in flight, maxRequests is 1/);
  assert.equal(busy.endpoints.reduce((n, e) => n + e.activeRequests, 0), 1);
  assert.match(await slow, /"version":"v[12]"/);
  const idle = catalogSeenByFrontend(await explain({ to: 'catalog', from: 'frontend', method: 'GET', path: '/slow' }));
  assert.deepEqual([idle.activeRequests, idle.shedding], [0, false]);
});

test('an endpoint that keeps failing shows as ejected by outlier detection, until when and how often', async () => {
  // v1 answers 503 to everything: the route's default retries hide it from the caller, outlier detection ejects it.
  for (let i = 0; i < 6; i++) await fetch(`${mesh.ingress.frontend}/items`).then((r) => r.text());
  const before = Date.now();
  const r = await explain({ to: 'catalog', from: 'frontend', method: 'GET', path: '/items' });
  const [v1, v2] = catalogSeenByFrontend(r).endpoints;
  assert.equal(v1!.instanceId, 'catalog-v1-0');
  assert.equal(v1!.ejected, true);
  assert.equal(v1!.ejections, 1);
  assert.equal(v1!.inRotation, false);
  assert.ok(v1!.ejectedUntilMs !== null && v1!.ejectedUntilMs > before && v1!.ejectedUntilMs <= before + 60_000, String(v1!.ejectedUntilMs));
  assert.deepEqual([v2!.instanceId, v2!.ejected, v2!.inRotation], ['catalog-v2-0', false, true]);
  assert.ok(r.lines.some((l) => /catalog-v1-0 .*EJECTED by outlier detection until \S+ \(ejection 1, \d+ s left\)/.test(l)), r.lines.join('\n'));
});

test('devmesh explain in the mesh folder asks the running mesh and prints the health lines', () => {
  const out = mesh.cli(['explain', 'GET', '/items', '--to', 'catalog', '--from', 'frontend']);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /running mesh shop, config v\d+/);
  assert.match(out.stdout, /rule 1 \(everyone\): MATCH/);
  assert.match(out.stdout, /frontend-0 → catalog: 0 requests in flight, circuit breaker: not shedding \(maxRequests 1\)/);
  assert.match(out.stdout, /catalog-v1-0 \(v1\): EJECTED by outlier detection until \S+ \(ejection 1, \d+ s left\)/);
  assert.match(out.stdout, /catalog-v2-0 \(v2\): healthy, 0 active/);

  const json = JSON.parse(mesh.cli(['explain', 'GET', '/items', '--to', 'catalog', '--from', 'frontend', '--json']).stdout) as ExplainResponse;
  assert.equal(json.ruleIndex, 1);
  assert.equal(json.health.available, true);
});

test('explain uses the applied configuration, not the file on disk', async () => {
  const status = await mesh.api<StatusResponse>('/api/status');
  writeFileSync(join(mesh.dir, 'devmesh.yaml'), `${EJECTING_SHOP_YAML}\n  not: [valid`);
  await waitFor('the mesh to report the invalid file', async () => (await mesh.api<StatusResponse>('/api/status')).config.error !== null);
  const r = await explain({ to: 'catalog', from: 'frontend', method: 'GET', path: '/items', headers: { 'x-user': 'tester' } });
  assert.equal(r.configVersion, status.config.version);
  assert.equal(r.rule?.name, 'testers');
  writeFileSync(join(mesh.dir, 'devmesh.yaml'), EJECTING_SHOP_YAML);
  await waitFor('the mesh to accept the file again', async () => (await mesh.api<StatusResponse>('/api/status')).config.error === null);
});

test('a bad body is a 400 naming the field, an unknown service a 404, and no token a 401', async () => {
  const bad = await post({ to: 'catalog', method: 'GET', path: 42 });
  assert.equal(bad.status, 400);
  const err = (await bad.json()) as ApiError;
  assert.equal(err.code, 'BAD_REQUEST');
  assert.match(err.error, /^path: /);
  const extra = await post({ to: 'catalog', method: 'GET', path: '/', verbose: true });
  assert.equal(extra.status, 400);
  assert.match(((await extra.json()) as ApiError).error, /verbose/);
  const unknown = await post({ to: 'nope', method: 'GET', path: '/' });
  assert.equal(unknown.status, 404);
  assert.match(((await unknown.json()) as ApiError).error, /unknown service "nope"/);
  const anonymous = await post({ to: 'catalog', method: 'GET', path: '/' }, null);
  assert.equal(anonymous.status, 401);
});

test('from the ingress, the gateway sidecar answers; a sidecar that does not answer is an error within the time bound', async () => {
  const ingress = await explain({ to: 'frontend', method: 'GET', path: '/' });
  assert.ok(ingress.health.available);
  assert.deepEqual(ingress.health.sidecars.map((s) => [s.sidecar, s.destinations[0]?.endpoints.map((e) => e.instanceId)]), [['ingress-frontend', ['frontend-0']]]);

  const noGateway = await explain({ to: 'catalog', method: 'GET', path: '/' });
  assert.deepEqual(noGateway.health, { available: false, reason: 'no ingress gateway sends to catalog: pass from (the calling service) to see its endpoints' });

  const status = await mesh.api<StatusResponse>('/api/status');
  const pid = status.services.find((s) => s.name === 'frontend')!.instances[0]!.sidecar.pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    const started = Date.now();
    const r = await explain({ to: 'catalog', from: 'frontend', method: 'GET', path: '/items' });
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
    assert.equal(r.ruleIndex, 1);
    assert.ok(r.health.available);
    assert.match(r.health.sidecars[0]!.error ?? '', /frontend-0: no endpoint health within \d+ ms/);
    assert.ok(r.lines.some((l) => /frontend-0: no endpoint health within/.test(l)), r.lines.join('\n'));
  } finally {
    process.kill(pid, 'SIGCONT');
  }
});

test('the federated /metrics still reads every sidecar (scrape and endpoint health share one question-and-answer path)', async () => {
  const res = await fetch(`${mesh.apiBase}/metrics`, { headers: { authorization: `Bearer ${mesh.token}` } });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /istio_requests_total\{[^}]*pod="frontend-0"/);
  assert.match(text, /istio_requests_total\{[^}]*pod="catalog-v2-0"/);
});
