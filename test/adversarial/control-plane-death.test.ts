// The control plane dies with SIGKILL under load (open loop, 50 req/s through the ingress, each crossing
// four sidecars and two apps, as a browser would send them). Production meshes keep serving when istiod is gone; so must devmesh:
//  - restarted within the grace period: `devmesh up` re-adopts every app and sidecar (same pids, no
//    restart) and not one request fails, before, during or after;
//  - not restarted: the mesh serves through the grace period, then nothing is left (no process, no run
//    file, no token file, no control socket).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusResponse } from '../../src/contract/api.js';
import { processesOfHome, startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { ISSUE_ROUTES, SHOP_APPS, shopYaml } from '../helpers/shop-mesh.js';

const RATE = 50;

interface Load {
  sent: number;
  answered: number;
  failures: string[];
  stop(): Promise<void>;
}

/** Open loop: requests leave on schedule whether or not earlier ones were answered. */
function startLoad(url: string): Load {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const target = new URL(url);
  const load: Load = { sent: 0, answered: 0, failures: [], stop: async () => {} };
  const pending = new Set<Promise<void>>();
  const one = (n: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (ok: boolean, why: string) => {
        if (ok) load.answered++;
        else load.failures.push(`#${n}: ${why}`);
        resolve();
      };
      const req = http.get(
        { host: target.hostname, port: Number(target.port), path: `/cp-death-${n}`, agent, timeout: 10_000, headers: { 'x-user': 'tester' } },
        (res) => {
          res.resume();
          res.on('end', () => done(res.statusCode === 200, `${res.statusCode} ${res.headers['x-devmesh-error'] ?? ''}`));
          res.on('error', (err) => done(false, `body: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
        },
      );
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (err) => done(false, (err as NodeJS.ErrnoException).code ?? err.message));
    });
  const started = Date.now();
  let running = true;
  const loop = (async () => {
    while (running) {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE);
      while (load.sent < due) {
        const p = one(load.sent++);
        pending.add(p);
        void p.then(() => pending.delete(p));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  load.stop = async () => {
    running = false;
    await loop;
    await Promise.all(pending);
    agent.destroy();
  };
  return load;
}

/** Every app and sidecar pid the mesh reports, by instance. */
async function pids(mesh: RunningMesh): Promise<Record<string, { app: number | null; sidecar: number | null }>> {
  const status = await mesh.api<StatusResponse>('/api/status');
  const out: Record<string, { app: number | null; sidecar: number | null }> = {};
  for (const s of status.services) for (const i of s.instances) out[i.id] = { app: i.pid, sidecar: i.sidecar.pid };
  for (const g of status.ingress) out[`ingress-${g.service}`] = { app: null, sidecar: g.sidecar.pid };
  return out;
}

function summarise(failures: string[]): string {
  return failures.slice(0, 10).join('; ') + (failures.length > 10 ? ` … (${failures.length})` : '');
}

test('control plane killed and restarted within the grace period: every instance re-adopted, zero failed requests', async (t) => {
  const mesh = await startMesh({ yaml: shopYaml(ISSUE_ROUTES), files: SHOP_APPS });
  t.after(() => mesh.stop());
  const before = await pids(mesh);
  const load = startLoad(`${mesh.ingress.frontend}/`);
  await new Promise((r) => setTimeout(r, 1000));
  const oldPid = mesh.child.pid!;
  mesh.child.kill('SIGKILL');
  const killedAt = load.sent;
  await new Promise((r) => setTimeout(r, 1500)); // the mesh without a control plane
  const duringOutage = load.sent - killedAt;
  await mesh.upAgain();
  await new Promise((r) => setTimeout(r, 1500)); // and after it is back
  await load.stop();
  const after = await pids(mesh);
  const adopted = /re-adopted (\d+) instances? and (\d+) gateways?/.exec(mesh.stdout());
  console.log(
    [
      `control plane SIGKILL, restarted within the grace period (${RATE} req/s through the ingress):`,
      '| requests sent | during the outage | failed | instances re-adopted | gateways re-adopted |',
      '|---|---|---|---|---|',
      `| ${load.sent} | ${duringOutage} | ${load.failures.length} | ${adopted?.[1] ?? 0} | ${adopted?.[2] ?? 0} |`,
    ].join('\n'),
  );
  assert.notEqual(mesh.child.pid, oldPid);
  assert.ok(adopted, `the new control plane says what it re-adopted:\n${mesh.stdout()}`);
  assert.equal(Number(adopted[1]), 3, 'frontend, catalog v1 and v2');
  assert.equal(Number(adopted[2]), 1, 'the ingress gateway');
  assert.deepEqual(after, before, `the same processes serve: nothing was restarted\n${mesh.stdout()}`);
  assert.equal(load.failures.length, 0, summarise(load.failures));
  assert.equal(load.answered, load.sent);
  // The re-adopted mesh is managed as before: a route edit reaches the re-adopted sidecars.
  const status = await mesh.api<StatusResponse>('/api/status');
  assert.equal(status.config.error, null);
  for (const s of status.services) for (const i of s.instances) assert.equal(i.sidecar.ackedVersion, status.config.version, `${i.id} runs the new control plane's config`);
});

test('control plane killed and not restarted: the mesh serves through the grace period, then nothing is left', async (t) => {
  const mesh = await startMesh({ yaml: shopYaml(ISSUE_ROUTES), files: SHOP_APPS, env: { DEVMESH_GRACE_PERIOD: '2s' } });
  t.after(() => mesh.stop());
  const runDir = join(mesh.home, 'run');
  assert.ok(readdirSync(runDir).some((f) => f.endsWith('.json')), 'the run file is there while the mesh runs');
  const load = startLoad(`${mesh.ingress.frontend}/`);
  await new Promise((r) => setTimeout(r, 500));
  const killedAt = Date.now();
  mesh.child.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 1200));
  await load.stop();
  assert.equal(load.failures.length, 0, `served within the grace period: ${summarise(load.failures)}`);
  await waitFor('every mesh process to exit', () => processesOfHome(mesh.home).length === 0 || undefined, 15_000);
  const gone = Date.now() - killedAt;
  assert.ok(gone >= 1900, `torn down after the grace period, not before (${gone} ms)`);
  await waitFor('the run, token and socket files to be removed', () => readdirSync(runDir).length === 0 || undefined, 5_000).catch(() => {
    throw new Error(`left in ${runDir}: ${readdirSync(runDir).join(', ')}`);
  });
  console.log(`control plane SIGKILL, not restarted (grace 2 s): ${load.sent} requests sent during the grace period, ${load.failures.length} failed; everything gone ${gone} ms after the kill`);
});

test('devmesh down stops a mesh whose control plane died, without waiting out the grace period', async (t) => {
  const mesh = await startMesh({ yaml: shopYaml(ISSUE_ROUTES), files: SHOP_APPS });
  t.after(() => mesh.stop());
  mesh.child.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(processesOfHome(mesh.home).length > 0, 'apps and sidecars wait for a control plane');
  const status = mesh.cli(['status']);
  assert.match(status.stderr, /the control plane of shop .* died; its apps and sidecars keep serving for the grace period: `devmesh up` re-adopts them, `devmesh down` stops them/);
  const down = mesh.cli(['down']);
  assert.equal(down.status, 0, down.stderr);
  assert.match(down.stdout, /waiting for their control plane/);
  await waitFor('every mesh process to exit', () => processesOfHome(mesh.home).length === 0 || undefined, 10_000);
  assert.deepEqual(readdirSync(join(mesh.home, 'run')), []);
});
