// Watch mode against a real mesh under steady traffic: a change to a watched file restarts the service's
// instances one at a time (new pids, never all down), with no failed request for the two-replica service
// and none for the one-replica service (its callers' sidecars hold requests while it restarts, bounded);
// an ignored file changes nothing; a bad glob is a located error; `up --no-watch` turns it off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceStatus, StatusResponse } from '../../src/contract/api.js';
import { startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';

// Each app answers with its pid and the version of its "code" (a file it reads at start, as an import would).
const app = (codeFile: string) => `
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
const code = readFileSync(${JSON.stringify(codeFile)}, 'utf8').trim();
if (code === 'broken') throw new Error('a broken edit');
createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, code }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const YAML = `name: watchmesh
ingress:
  - { port: 0, service: web }
  - { port: 0, service: solo }
services:
  web:
    run: ["node", "web.mjs", "--port", "$PORT"]
    replicas: 2
    health: /healthz
    watch:
      paths: ["web/**/*.js", "web.mjs"]
      ignore: ["web/**/*.test.js"]
  solo:
    run: node solo.mjs
    health: /healthz
    watch: [solo]
`;

const FILES = {
  'web.mjs': app('web/lib/util.js'),
  'web/lib/util.js': 'v1',
  'web/lib/util.test.js': 'test v1',
  'solo.mjs': app('solo/handler.js'),
  'solo/handler.js': 'v1',
};

interface Outcome {
  target: 'web' | 'solo';
  startedMs: number;
  ms: number;
  status: number | string;
  code?: string;
}

/** Open-loop load: `rate` requests a second, alternating the two ingresses, at most `maxInFlight` at once. */
function load(mesh: RunningMesh, rate: number, maxInFlight = 200) {
  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  let n = 0;
  let skipped = 0;
  const timer = setInterval(() => {
    if (inFlight.size >= maxInFlight) return void skipped++;
    const target = n++ % 2 === 0 ? 'web' : 'solo';
    const startedMs = Date.now();
    const p = fetch(`${mesh.ingress[target]}/hello`, { signal: AbortSignal.timeout(10_000) })
      .then(async (res) => {
        const body = (await res.json().catch(() => ({}))) as { code?: string };
        outcomes.push({ target, startedMs, ms: Date.now() - startedMs, status: res.status, ...(body.code !== undefined ? { code: body.code } : {}) });
      })
      .catch((err: Error) => void outcomes.push({ target, startedMs, ms: Date.now() - startedMs, status: err.name }))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, 1000 / rate);
  return {
    outcomes,
    skipped: () => skipped,
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
}

const instancesOf = (s: StatusResponse, service: string): InstanceStatus[] => s.services.find((x) => x.name === service)!.instances;

test('watch mode: rolling restarts under load, ignore, located bad glob, --no-watch', { timeout: 240_000 }, async (t) => {
  const mesh = await startMesh({ yaml: YAML, files: FILES });
  t.after(() => mesh.stop());
  const first = await mesh.api<StatusResponse>('/api/status');
  assert.equal(first.config.watching, true);
  assert.deepEqual(first.services.find((s) => s.name === 'web')!.watch, { paths: ['web/**/*.js', 'web.mjs'], ignore: ['web/**/*.test.js'] });
  assert.match(mesh.cli(['status']).stdout, /^web {2}mtls STRICT {2}watch web\/\*\*\/\*\.js, web\.mjs \(not web\/\*\*\/\*\.test\.js\)$/m);
  const pids = (s: StatusResponse, service: string) => instancesOf(s, service).map((i) => i.pid);
  const webBefore = pids(first, 'web');
  const soloBefore = pids(first, 'solo');

  // Sample the instances' states all along: at no moment may both web instances be out of service.
  const samples: { atMs: number; webRunning: number }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await mesh.api<StatusResponse>('/api/status');
      samples.push({ atMs: Date.now(), webRunning: instancesOf(s, 'web').filter((i) => i.state === 'running').length });
      await new Promise((r) => setTimeout(r, 25));
    }
  })();

  const traffic = load(mesh, 50);
  await new Promise((r) => setTimeout(r, 1000));

  // A watched file changes: both web instances restart, one after the other, and serve the new code.
  writeFileSync(join(mesh.dir, 'web/lib/util.js'), 'v2');
  const webAfter = await waitFor(
    'both web instances restarted',
    async () => {
      const s = await mesh.api<StatusResponse>('/api/status');
      const now = instancesOf(s, 'web');
      return now.every((i, k) => i.state === 'running' && i.pid !== null && i.pid !== webBefore[k]) && s.operations?.[0]?.state === 'succeeded' ? now : undefined;
    },
    30_000,
  );
  // One at a time: the second started only after the first was back.
  const [a, b] = webAfter.map((i) => i.startedAtMs!);
  assert.ok(a! < b!, `web-0 started at ${a}, web-1 at ${b}`);
  assert.match(mesh.stdout(), /^watch: web\/lib\/util\.js changed → restarting web \(1\/2\)…$/m);
  assert.match(mesh.stdout(), /^watch: web\/lib\/util\.js changed → restarting web \(2\/2\)…$/m);
  assert.equal(pids(await mesh.api<StatusResponse>('/api/status'), 'solo').join(), soloBefore.join(), 'solo watches other files');

  // An ignored file: nothing restarts.
  writeFileSync(join(mesh.dir, 'web/lib/util.test.js'), 'test v2');
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(pids(await mesh.api<StatusResponse>('/api/status'), 'web'), webAfter.map((i) => i.pid));

  // A broken edit: the first instance fails to start, the restart stops there and says why; the other
  // instance keeps serving the code it has. Fixing the file restarts both.
  writeFileSync(join(mesh.dir, 'web/lib/util.js'), 'broken');
  const failedOp = await waitFor('the restart to fail', async () => {
    const op = (await mesh.api<StatusResponse>('/api/status')).operations?.[0];
    return op?.state === 'failed' ? op : undefined;
  }, 30_000);
  assert.match(failedOp.detail, /^watch: web\/lib\/util\.js changed → restart web: web-0: exited with code 1 before it was ready$/);
  const during = instancesOf(await mesh.api<StatusResponse>('/api/status'), 'web');
  assert.equal(during[1]!.pid, webAfter[1]!.pid, 'web-1 was not touched');
  writeFileSync(join(mesh.dir, 'web/lib/util.js'), 'v2');
  await waitFor(
    'both web instances restarted after the fix',
    async () => {
      const s = await mesh.api<StatusResponse>('/api/status');
      const now = instancesOf(s, 'web');
      return now.every((i) => i.state === 'running') && now[1]!.pid !== webAfter[1]!.pid && s.operations?.[0]?.state === 'succeeded' ? now : undefined;
    },
    30_000,
  );

  // The one-replica service: a new file in its watched folder restarts it; its requests are held meanwhile.
  mkdirSync(join(mesh.dir, 'solo/more'), { recursive: true });
  writeFileSync(join(mesh.dir, 'solo/handler.js'), 'v2');
  await waitFor(
    'solo restarted',
    async () => {
      const s = await mesh.api<StatusResponse>('/api/status');
      const i = instancesOf(s, 'solo')[0]!;
      return i.state === 'running' && i.pid !== soloBefore[0] && s.operations?.[0]?.state === 'succeeded';
    },
    30_000,
  );
  await new Promise((r) => setTimeout(r, 1000));
  await traffic.stop();
  sampling = false;
  await sampler;

  const failed = (target: string) => traffic.outcomes.filter((o) => o.target === target && o.status !== 200);
  const of = (target: string) => traffic.outcomes.filter((o) => o.target === target);
  const slowest = (target: string) => Math.max(...of(target).map((o) => o.ms));
  const summary = `web ${of('web').length} requests (slowest ${slowest('web')} ms), solo ${of('solo').length} (slowest ${slowest('solo')} ms), skipped ${traffic.skipped()}`;
  t.diagnostic(summary);
  assert.ok(of('web').length > 100 && of('solo').length > 100, summary);
  assert.deepEqual(failed('web'), [], 'no failed request to the two-replica service');
  // Held, not failed: every solo request succeeded, none waited longer than the sidecar's 3 s bound allows.
  assert.deepEqual(failed('solo'), [], 'no failed request to the one-replica service');
  assert.ok(slowest('solo') < 3_500, summary);
  // …and some were held: requests arrive every 40 ms, and solo was out of service for longer than that.
  assert.ok(slowest('solo') > 200, summary);
  assert.ok(samples.length > 20 && samples.every((x) => x.webRunning >= 1), `web instances running, sampled: ${samples.map((x) => x.webRunning).join('')}`);
  // The new code answers once the restarts are done.
  assert.ok(of('web').slice(-10).every((o) => o.code === 'v2') && of('solo').slice(-10).every((o) => o.code === 'v2'));

  // A bad glob is a located error of the mesh file (validate says where; the running mesh is untouched).
  writeFileSync(join(mesh.dir, 'bad.yaml'), 'name: bad\nservices:\n  web:\n    run: node web.mjs\n    watch: ["web/[a-"]\n');
  const bad = mesh.cli(['validate', 'bad.yaml']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr + bad.stdout, /bad\.yaml:5:13: services\.web\.watch\[0\]: "web\/\[a-" is not a valid glob: Missing closing: "\]"/);

  // up --no-watch: the same change restarts nothing.
  mesh.child.kill('SIGTERM');
  await waitFor('devmesh up to stop', () => mesh.child.exitCode !== null, 30_000);
  await mesh.upAgain(['--no-watch']);
  const quiet = await mesh.api<StatusResponse>('/api/status');
  assert.equal(quiet.config.watching, false);
  assert.match(mesh.stdout(), /^watch: off \(--no-watch\); web, solo would restart on changes$/m);
  writeFileSync(join(mesh.dir, 'web/lib/util.js'), 'v3');
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(pids(await mesh.api<StatusResponse>('/api/status'), 'web'), pids(quiet, 'web'));
});
