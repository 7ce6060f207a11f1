// Processes: a killed app comes back; stopping or killing `devmesh up` leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusResponse } from '../../src/contract/api.js';
import { processesOfHome, startMesh, waitFor } from '../helpers/mesh-process.js';
import { ISSUE_ROUTES, SHOP_APPS, shopYaml } from '../helpers/shop-mesh.js';

test('a killed app instance is restarted and serves again', async (t) => {
  const mesh = await startMesh({ yaml: shopYaml(ISSUE_ROUTES), files: SHOP_APPS });
  t.after(() => mesh.stop());
  const before = await mesh.api<StatusResponse>('/api/status');
  const v2 = before.services.find((s) => s.name === 'catalog')!.instances.find((i) => i.version === 'v2')!;
  process.kill(v2.pid!, 'SIGKILL');
  const restarted = await waitFor('catalog v2 running again with a new pid', async () => {
    const s = await mesh.api<StatusResponse>('/api/status');
    const i = s.services.find((x) => x.name === 'catalog')!.instances.find((x) => x.id === v2.id)!;
    return i.state === 'running' && i.pid !== v2.pid && i.restarts >= 1 ? i : undefined;
  });
  assert.equal(restarted.lastExit, 'killed by SIGKILL');
  const res = await fetch(`${mesh.ingress.frontend}/x`, { headers: { 'x-user': 'tester' } });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { pid: number }).pid, restarted.pid);
});

// With DEVMESH_TEST_DATA_PLANE=shared (test/helpers/mesh-process.ts) one process serves every workload.
const SHARED = process.env.DEVMESH_TEST_DATA_PLANE === 'shared';

test('a killed sidecar is restarted, and status counts it (instance and ingress)', { skip: SHARED && 'one process is every sidecar: shared-data-plane.test.ts kills it' }, async (t) => {
  const mesh = await startMesh({ yaml: shopYaml(ISSUE_ROUTES), files: SHOP_APPS });
  t.after(() => mesh.stop());
  const before = await mesh.api<StatusResponse>('/api/status');
  const catalog = before.services.find((s) => s.name === 'catalog')!.instances[0]!;
  assert.equal(catalog.sidecar.restarts, 0);
  // Twice for the instance's sidecar, once for the ingress gateway's: each death is one restart.
  let pid = catalog.sidecar.pid!;
  for (let round = 1; round <= 2; round++) {
    process.kill(pid, 'SIGKILL');
    const back = await waitFor(`catalog's sidecar restarted (${round})`, async () => {
      const s = await mesh.api<StatusResponse>('/api/status');
      const i = s.services.find((x) => x.name === 'catalog')!.instances.find((x) => x.id === catalog.id)!;
      return i.sidecar.pid !== null && i.sidecar.pid !== pid && i.sidecar.restarts === round ? i : undefined;
    });
    assert.equal(back.sidecar.lastExit, 'sidecar killed by SIGKILL');
    pid = back.sidecar.pid!;
  }
  const gateway = before.ingress[0]!;
  process.kill(gateway.sidecar.pid!, 'SIGKILL');
  await waitFor('the ingress gateway restarted and counted', async () => {
    const s = await mesh.api<StatusResponse>('/api/status');
    return s.ingress[0]!.sidecar.restarts === 1 && s.ingress[0]!.sidecar.pid !== gateway.sidecar.pid;
  });
  const text = mesh.cli(['status']);
  assert.match(text.stdout, /sidecar restarts 2 \(sidecar killed by SIGKILL\)/);
  assert.match(text.stdout, /ingress frontend: .* sidecar restarts 1/);
});

test('SIGTERM to devmesh up stops every process it started', async () => {
  const mesh = await startMesh({ yaml: shopYaml(ISSUE_ROUTES), files: SHOP_APPS });
  try {
    const started = processesOfHome(mesh.home);
    // devmesh up, the reaper, 3 apps, 3 sidecars and the ingress gateway at least (shared: one proxy for the 4)
    assert.ok(started.length >= (SHARED ? 6 : 9), `expected the mesh's processes, found ${started.length}`);
    mesh.child.kill('SIGTERM');
    await waitFor('devmesh up to exit', () => mesh.child.exitCode !== null, 20_000);
    assert.equal(mesh.child.exitCode, 0);
    assert.deepEqual(processesOfHome(mesh.home), [], 'no process survives');
  } finally {
    await mesh.stop();
  }
});

test('SIGKILL to devmesh up with --grace-period 0 leaves no process behind at once', async () => {
  const mesh = await startMesh({ yaml: shopYaml(ISSUE_ROUTES), files: SHOP_APPS, env: { DEVMESH_GRACE_PERIOD: '0' } });
  try {
    mesh.child.kill('SIGKILL');
    const left = await waitFor('every mesh process to exit', () => processesOfHome(mesh.home).length === 0 || undefined, 10_000).catch(() => false);
    assert.ok(left, `processes left: ${processesOfHome(mesh.home).join(', ')}`);
  } finally {
    await mesh.stop();
  }
});
