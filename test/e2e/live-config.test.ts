// Editing the mesh file of a running mesh: an invalid edit changes nothing, a valid one is pushed live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusResponse } from '../../src/contract/api.js';
import { startMesh, waitFor } from '../helpers/mesh-process.js';
import { ISSUE_ROUTES, SHOP_APPS, shopYaml } from '../helpers/shop-mesh.js';

const ALL_TO_V1 = `    - route: [{ destination: { subset: v1 } }]`;
const ALL_TO_V2 = `    - route: [{ destination: { subset: v2 } }]`;

async function versions(url: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/x`);
    assert.equal(res.status, 200);
    seen.add(((await res.json()) as { version: string }).version);
  }
  return seen;
}

test('an invalid edit is rejected with a located error and traffic keeps flowing; a valid edit applies without restarting apps', async (t) => {
  const mesh = await startMesh({ yaml: shopYaml(ALL_TO_V1), files: SHOP_APPS });
  t.after(() => mesh.stop());
  const url = mesh.ingress.frontend!;
  assert.deepEqual(await versions(url, 10), new Set(['v1']));
  const pidsBefore = (await mesh.api<StatusResponse>('/api/status')).services.flatMap((s) => s.instances.map((i) => i.pid));

  // A subset that does not exist: the same error `devmesh validate` gives.
  const file = join(mesh.dir, 'devmesh.yaml');
  writeFileSync(file, shopYaml(`    - route: [{ destination: { subset: v7 } }]`));
  const status = await waitFor('the config error to show in status', async () => {
    const s = await mesh.api<StatusResponse>('/api/status');
    return s.config.error ? s : undefined;
  });
  assert.match(status.config.error!, /devmesh\.yaml:\d+:\d+: routes\.catalog\[0\]\.route\[0\]\.destination\.subset: service catalog has no version "v7"/);
  const validate = mesh.cli(['validate']);
  assert.equal(validate.status, 1);
  assert.match(validate.stderr, /devmesh\.yaml:\d+:\d+: .*no version "v7"/);
  assert.deepEqual(await versions(url, 10), new Set(['v1']), 'last good routes still apply');

  writeFileSync(file, shopYaml(ALL_TO_V2));
  await waitFor('the valid edit to apply', async () => {
    const s = await mesh.api<StatusResponse>('/api/status');
    return s.config.error === null || undefined;
  });
  await waitFor('traffic to move to v2', async () => (await versions(url, 5)).has('v2') && (await versions(url, 10)).size === 1);
  const after = await mesh.api<StatusResponse>('/api/status');
  assert.deepEqual(after.services.flatMap((s) => s.instances.map((i) => i.pid)), pidsBefore, 'no app was restarted');
  for (const s of after.services) for (const i of s.instances) assert.equal(i.sidecar.lastNack, null);
});

test('the issue example mesh validates', async () => {
  const { parseMesh } = await import('../../src/config/load-mesh.js');
  const mesh = parseMesh(shopYaml(ISSUE_ROUTES), 'devmesh.yaml');
  assert.equal(mesh.routes?.catalog?.length, 2);
});
