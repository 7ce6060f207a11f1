// Containers in the mesh, against a real Docker engine this file starts (and stops) itself: a process
// service and a container service with mTLS and one trace across both, routes and retries to a container
// service, crash and restart, cleanup after SIGKILL of `devmesh up`, `devmesh down`, and clear errors for
// a missing image. Without root or dockerd every test here is skipped with the reason, never silently.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusResponse, TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { CLI, REPO, processesOfHome, startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { BASE_IMAGE, instanceLog, meshContainers, startEngine, whyNoEngine, type TestEngine } from './docker-engine-fixture.js';

const skipReason = whyNoEngine();
let engine: TestEngine | null = null;
let engineError: string | null = null;

before(async () => {
  if (skipReason) {
    console.log(`# container tests skipped: ${skipReason}`);
    return;
  }
  try {
    engine = await startEngine();
    process.env.DOCKER_HOST = engine.dockerHost; // every `devmesh up` these tests start talks to this engine
    console.log(`# dockerd answered in ${engine.startMs} ms`);
  } catch (err) {
    engineError = (err as Error).message;
  }
});

after(async () => {
  await engine?.stop();
});

/** Skips with the reason when no engine runs here; fails when one should have but did not start. */
function needEngine(t: TestContext): TestEngine | null {
  if (skipReason) {
    t.skip(`no Docker engine here: ${skipReason}`);
    return null;
  }
  if (!engine) throw new Error(`dockerd did not start: ${engineError}`);
  return engine;
}

// The catalog app runs inside the container: it says so (/app/app.mjs, only in the image), and FAIL_EVERY=N makes every Nth
// call a 503, to show a route's retries reaching into a container.
const CATALOG = `
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
const failEvery = Number(process.env.FAIL_EVERY ?? 0);
let n = 0;
console.log('catalog listening on ' + process.env.PORT);
createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  n++;
  if (failEvery && n % failEvery === 0) { res.writeHead(503); return res.end('flaky'); }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ inContainer: existsSync('/app/app.mjs'), version: process.env.DEVMESH_VERSION, peer: req.headers['x-devmesh-peer'] ?? null, n, argv: process.argv.slice(2) }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const FRONTEND = `
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const headers = {};
  for (const h of ['traceparent', 'x-user']) if (req.headers[h]) headers[h] = req.headers[h];
  try {
    const r = await fetch(process.env.CATALOG_URL + req.url, { headers });
    res.writeHead(r.status, { 'content-type': 'application/json', 'x-catalog-route': r.headers.get('x-devmesh-route') ?? '' });
    res.end(JSON.stringify({ frontendInContainer: existsSync('/app/app.mjs'), catalog: await r.text() }));
  } catch (err) { res.writeHead(502).end(String(err)); }
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const FILES: Record<string, string> = {
  'frontend/app.mjs': FRONTEND,
  'catalog/app.mjs': CATALOG,
  'catalog/Dockerfile': `FROM ${BASE_IMAGE}\nCOPY app.mjs /app/app.mjs\nCMD ["node", "/app/app.mjs"]\n`,
};

function mixedYaml(catalog: string, routes = ''): string {
  return `name: mixed
mtls: STRICT
ingress:
  - port: 0
    service: frontend
services:
  frontend:
    run: node app.mjs
    cwd: frontend
    upstreams: [catalog]
    health: /healthz
  catalog:
${catalog}
${routes}`;
}

async function status(mesh: RunningMesh): Promise<StatusResponse> {
  return mesh.api<StatusResponse>('/api/status');
}

function instancesOf(s: StatusResponse, service: string) {
  return s.services.find((x) => x.name === service)!.instances;
}

test('a process service calls a container service over mTLS, one trace crosses both, logs and build log land in the instance log', { timeout: 120_000 }, async (t) => {
  const eng = needEngine(t);
  if (!eng) return;
  const started = Date.now();
  const mesh = await startMesh({
    yaml: mixedYaml('    build: { context: catalog }\n    health: /healthz\n    env: { GREETING: hi }'),
    files: FILES,
  });
  t.after(() => mesh.stop());
  console.log(`# mesh with a built container service ready in ${Date.now() - started} ms`);

  const res = await fetch(`${mesh.ingress.frontend}/items`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { frontendInContainer: boolean; catalog: string };
  const catalog = JSON.parse(body.catalog) as { inContainer: boolean; peer: string };
  assert.equal(body.frontendInContainer, false, 'frontend is a host process');
  assert.equal(catalog.inContainer, true, 'catalog runs in a container');
  assert.match(catalog.peer, /^spiffe:\/\/mixed\/(.*\/)?frontend$/, 'the container app sees the caller identity its sidecar verified over mTLS');

  const trace = await waitFor('a trace through frontend and catalog', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?service=catalog&limit=20');
    const hit = list.traces.find((x) => x.path === '/items');
    if (!hit) return undefined;
    const d = await mesh.api<TraceDetailResponse>(`/api/traces/${hit.traceId}`);
    const services = new Set(d.spans.map((s) => s.service));
    return services.has('frontend') && services.has('catalog') ? d : undefined;
  });
  assert.ok(trace.spans.some((s) => s.service === 'catalog' && s.kind === 'server' && s.status === 200));

  const s = await status(mesh);
  const inst = instancesOf(s, 'catalog')[0]!;
  assert.equal(inst.state, 'running');
  const containers = await meshContainers(eng.docker, 'mixed');
  assert.equal(containers.length, 1);
  assert.equal(containers[0]!.Labels['dev.devmesh.service'], 'catalog');
  assert.equal(containers[0]!.Labels['dev.devmesh.instance'], 'catalog-0');
  assert.ok(containers[0]!.Labels['dev.devmesh.run']);

  const log = await waitFor('the app line in the instance log', () => {
    const text = instanceLog(mesh.home, 'mixed', 'catalog-0');
    return text.includes('catalog listening on') ? text : undefined;
  });
  assert.match(log, /\[build\] Step 1\/\d+ : FROM devmesh-test\/node:1/, 'the build log is streamed into the instance log');

  // devmesh down stops the running `up` and removes its containers.
  const down = mesh.cli(['down', 'devmesh.yaml']);
  assert.equal(down.status, 0, down.stderr);
  assert.match(down.stdout, /stopped devmesh up/);
  await waitFor('devmesh up to exit', () => mesh.child.exitCode !== null, 20_000);
  assert.deepEqual(await meshContainers(eng.docker, 'mixed'), []);
});

test('routes and retries apply to a container service; versions and replicas run as containers', { timeout: 120_000 }, async (t) => {
  const eng = needEngine(t);
  if (!eng) return;
  // v1 from an image the engine already has (the built one is tagged by the first run of this file),
  // v2 built; v1 fails every 2nd call and the route retries 5xx.
  const mesh = await startMesh({
    yaml: mixedYaml(
      `    health: /healthz
    versions:
      v1: { build: { context: catalog }, env: { FAIL_EVERY: 2 }, replicas: 2 }
      v2: { build: { context: catalog }, command: "node /app/app.mjs --mode 'from a string'" }`,
      `routes:
  catalog:
    - match: [{ headers: { x-user: { exact: tester } } }]
      route: [{ destination: { subset: v2 } }]
    - route: [{ destination: { subset: v1 } }]
      retries: { attempts: 3, retryOn: "5xx" }
`,
    ),
    files: FILES,
  });
  t.after(() => mesh.stop());
  assert.equal((await meshContainers(eng.docker, 'mixed')).length, 3);

  for (let i = 0; i < 6; i++) {
    const r = await fetch(`${mesh.ingress.frontend}/x${i}`);
    assert.equal(r.status, 200, 'a 503 from the container is retried by the sidecar');
    assert.equal((JSON.parse(((await r.json()) as { catalog: string }).catalog) as { version: string }).version, 'v1');
  }
  const tester = await fetch(`${mesh.ingress.frontend}/y`, { headers: { 'x-user': 'tester' } });
  const v2 = JSON.parse(((await tester.json()) as { catalog: string }).catalog) as { version: string; argv: string[] };
  assert.equal(v2.version, 'v2');
  assert.deepEqual(v2.argv, ['--mode', 'from a string'], "a version's command replaces the image's CMD (a string split into words, quotes kept together)");

  const retried = await waitFor('a span with more than one attempt', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?service=catalog&limit=50');
    for (const tr of list.traces) {
      const d = await mesh.api<TraceDetailResponse>(`/api/traces/${tr.traceId}`);
      const span = d.spans.find((s) => s.kind === 'client' && s.peerService === 'catalog' && s.attempts > 1);
      if (span) return span;
    }
    return undefined;
  });
  assert.equal(retried.status, 200);
});

test('a crashed container is restarted with backoff and serves again', { timeout: 120_000 }, async (t) => {
  const eng = needEngine(t);
  if (!eng) return;
  const mesh = await startMesh({ yaml: mixedYaml('    build: { context: catalog }\n    health: /healthz'), files: FILES });
  t.after(() => mesh.stop());
  const before = instancesOf(await status(mesh), 'catalog')[0]!;
  assert.ok(before.pid, 'a running container reports its init pid');
  process.kill(before.pid, 'SIGKILL');
  const again = await waitFor('catalog running again', async () => {
    const i = instancesOf(await status(mesh), 'catalog')[0]!;
    return i.state === 'running' && i.restarts >= 1 && i.pid !== before.pid ? i : undefined;
  }, 20_000);
  assert.match(again.lastExit ?? '', /SIGKILL|137/);
  assert.equal(again.detail, null, 'a running instance has no state detail');
  assert.equal((await fetch(`${mesh.ingress.frontend}/z`)).status, 200);
  assert.equal((await meshContainers(eng.docker, 'mixed')).length, 1, 'restarted in place, not duplicated');
});

test("without a health path, the image's HEALTHCHECK decides when a container is ready", { timeout: 120_000 }, async (t) => {
  const eng = needEngine(t);
  if (!eng) return;
  // The app listens at once but is healthy only 2 s later: a port probe would call it ready too early.
  const app = `import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
setTimeout(() => writeFileSync('/tmp/ready', ''), 2000);`;
  const check = `process.exit(require('fs').existsSync('/tmp/ready') ? 0 : 1)`;
  const mesh = await startMesh({
    yaml: `name: healthy\nservices:\n  slow:\n    build: { context: slow }\n`,
    files: {
      'slow/app.mjs': app,
      'slow/Dockerfile': `FROM ${BASE_IMAGE}\nCOPY app.mjs /app/app.mjs\nHEALTHCHECK --interval=1s CMD ["node", "-e", "${check}"]\nCMD ["node", "/app/app.mjs"]\n`,
    },
  });
  t.after(() => mesh.stop());
  const [c] = await meshContainers(eng.docker, 'healthy');
  const state = (await eng.docker.getContainer(c!.Id).inspect()).State as { Health?: { Status: string } };
  assert.equal(state.Health?.Status, 'healthy', 'ready was reported only once the engine said healthy');
  assert.equal(instancesOf(await status(mesh), 'slow')[0]!.state, 'running');
});

test('SIGKILL of devmesh up: the reaper removes its containers; a later up removes what a dead reaper left', { timeout: 120_000 }, async (t) => {
  const eng = needEngine(t);
  if (!eng) return;
  // Only container services (plus sidecars, which exit on their own once no control plane has come back for
  // the grace period plus 10 s), so killing the reaper too leaks no process. Grace period 0: tear down at once.
  const yaml = `name: orphans
services:
  catalog:
    build: { context: catalog }
    health: /healthz
    replicas: 2
`;
  const mesh = await startMesh({ yaml, files: FILES, env: { DEVMESH_GRACE_PERIOD: '0' } });
  t.after(() => mesh.stop());
  assert.equal((await meshContainers(eng.docker, 'orphans')).length, 2);
  mesh.child.kill('SIGKILL');
  await waitFor('the reaper to remove the containers', async () => (await meshContainers(eng.docker, 'orphans')).length === 0, 15_000);
  await waitFor('every mesh process to exit', () => processesOfHome(mesh.home).length === 0, 10_000);

  // Same folder and home again; this time the reaper dies too (as in a machine crash): the containers stay…
  const env = { ...process.env, DEVMESH_HOME: mesh.home, DEVMESH_GRACE_PERIOD: '0' };
  const runUp = () => {
    const child = spawn(process.execPath, [CLI, 'up', 'devmesh.yaml'], { cwd: mesh.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    return { child, out: () => out };
  };
  const first = runUp();
  await waitFor('ready', () => /^ready: 2\/2/m.test(first.out()), 60_000);
  const reaper = processesOfHome(mesh.home).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('reaper-main'));
  assert.ok(reaper, 'the reaper runs');
  process.kill(reaper, 'SIGKILL');
  first.child.kill('SIGKILL');
  // Sidecars leave 10 s after their control plane (grace 0 + 10 s); what remains is the containers' own processes.
  const ofRepo = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(REPO);
    } catch {
      return false;
    }
  };
  await waitFor('sidecars to exit', () => !processesOfHome(mesh.home).some(ofRepo), 20_000);
  assert.equal((await meshContainers(eng.docker, 'orphans')).length, 2, 'nobody was left to remove them');

  // …and the next `devmesh up` of the mesh removes them before starting its own.
  const second = runUp();
  try {
    await waitFor('ready', () => /^ready: 2\/2/m.test(second.out()), 60_000);
    assert.match(second.out(), /removed 2 containers left by an earlier run of orphans/);
    const now = await meshContainers(eng.docker, 'orphans');
    assert.equal(now.length, 2);
    assert.equal(new Set(now.map((c) => c.Labels['dev.devmesh.run'])).size, 1, 'only the new run');
  } finally {
    second.child.kill('SIGTERM');
    await waitFor('second up to exit', () => second.child.exitCode !== null, 20_000);
  }
  assert.deepEqual(await meshContainers(eng.docker, 'orphans'), []);
});

test('a missing image fails that service with a clear reason; process services still start', { timeout: 120_000 }, async (t) => {
  const eng = needEngine(t);
  if (!eng) return;
  const mesh = await startMesh({ yaml: mixedYaml('    image: devmesh-test/no-such-image:9\n    port: 8080'), files: FILES });
  t.after(() => mesh.stop());
  const s = await status(mesh);
  const cat = instancesOf(s, 'catalog')[0]!;
  assert.equal(cat.state, 'failed');
  assert.match(cat.lastExit ?? '', /image devmesh-test\/no-such-image:9 is not on this machine and (pulling it failed|the registry has no such image)/);
  assert.equal(cat.detail, cat.lastExit, 'the status carries the last state detail');
  assert.equal(instancesOf(s, 'frontend')[0]!.state, 'running');
  assert.match(mesh.stdout(), /catalog-0: failed: image devmesh-test\/no-such-image:9/);
  // The frontend answers; its calls to the failed service get the sidecar's 503, marked as a proxy error.
  const r = await fetch(`${mesh.ingress.frontend}/a`);
  assert.equal(r.status, 503);
});

test('no Docker engine: container services fail with the reason, process services start', { timeout: 120_000 }, async (t) => {
  // Needs no engine: it points DOCKER_HOST at a socket nobody listens on.
  const saved = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = 'unix:///nonexistent/devmesh-test/docker.sock';
  let mesh: RunningMesh;
  try {
    mesh = await startMesh({ yaml: mixedYaml('    image: devmesh-test/node:1\n    port: 8080'), files: FILES });
  } finally {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  }
  t.after(() => mesh.stop());
  const s = await status(mesh);
  const cat = instancesOf(s, 'catalog')[0]!;
  assert.equal(cat.state, 'failed');
  assert.match(cat.lastExit ?? '', /no Docker engine at unix:\/\/\/nonexistent\/devmesh-test\/docker\.sock .*start Docker or set DOCKER_HOST/);
  assert.equal(instancesOf(s, 'frontend')[0]!.state, 'running');
  assert.match(mesh.stdout(), /containers: no Docker engine/);
});

test('a compose file adopted with devmesh init runs as a mesh: build, ports, depends_on, healthcheck', { timeout: 120_000 }, async (t) => {
  const eng = needEngine(t);
  if (!eng) return;
  // Apps as a compose user writes them: fixed ports, the upstream reached by its compose name in compose
  // and through CATALOG_URL in devmesh (the app prefers the latter).
  const compose = `services:
  frontend:
    build: ./frontend
    ports: ["127.0.0.1:0:38471"]
    environment:
      - CATALOG_HOST=http://catalog:38472
    depends_on:
      catalog: { condition: service_healthy }
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost:38471/healthz"]
  catalog:
    build: { context: ./catalog, dockerfile: Dockerfile }
    expose: ["38472"]
    command: ["node", "/app/app.mjs", "--from", "compose file"]
    environment: { FLAVOR: compose }
    healthcheck:
      test: wget -q -O- http://127.0.0.1:38472/healthz || exit 1
`;
  const frontendApp = FRONTEND.replace('process.env.CATALOG_URL', '(process.env.CATALOG_URL ?? process.env.CATALOG_HOST)');
  const files: Record<string, string> = {
    'frontend/app.mjs': frontendApp,
    'frontend/Dockerfile': `FROM ${BASE_IMAGE}\nCOPY app.mjs /app/app.mjs\nCMD ["node", "/app/app.mjs"]\n`,
    'catalog/app.mjs': CATALOG,
    'catalog/Dockerfile': FILES['catalog/Dockerfile']!,
  };
  // devmesh init in a folder of its own, then the written mesh file runs beside the same apps.
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-test-compose-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'docker-compose.yml'), compose);
  const init = spawnSync(process.execPath, [CLI, 'init', '--from', 'docker-compose.yml'], { cwd: dir, env: { ...process.env, DEVMESH_HOME: dir }, encoding: 'utf8' });
  assert.equal(init.status, 0, init.stderr);
  assert.match(init.stdout, /frontend: CATALOG_HOST name the compose host "catalog"/);
  const yaml = readFileSync(join(dir, 'devmesh.yaml'), 'utf8');
  assert.doesNotMatch(init.stdout, /command/, 'command is carried over, not reported');

  const mesh = await startMesh({ yaml, files });
  t.after(() => mesh.stop());
  const s = await status(mesh);
  assert.deepEqual(s.services.map((x) => [x.name, x.instances[0]!.state]), [['frontend', 'running'], ['catalog', 'running']]);
  assert.equal(instancesOf(s, 'catalog')[0]!.appPort, 38472, 'host networking: the app listens on its compose port');
  const ingress = mesh.ingress.frontend!;
  const res = await fetch(`${ingress}/from-compose`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { frontendInContainer: boolean; catalog: string };
  assert.equal(body.frontendInContainer, true);
  const catalog = JSON.parse(body.catalog) as { inContainer: boolean; argv: string[] };
  assert.equal(catalog.inContainer, true);
  assert.deepEqual(catalog.argv, ['--from', 'compose file'], "compose's command (a list) runs instead of the image's CMD");
  assert.equal((await meshContainers(eng.docker, s.mesh)).length, 2);
});
