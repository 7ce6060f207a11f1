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

/** devmesh_proxy_config_updates_total by pod and outcome, from the control plane's federated /metrics. */
async function configUpdates(mesh: { apiBase: string; token: string }): Promise<Map<string, number>> {
  const text = await (await fetch(`${mesh.apiBase}/metrics`, { headers: { authorization: `Bearer ${mesh.token}` } })).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^devmesh_proxy_config_updates_total\{([^}]*)\} (\d+)$/gm)) {
    const pod = /pod="([^"]+)"/.exec(m[1]!)?.[1];
    const outcome = /outcome="([^"]+)"/.exec(m[1]!)?.[1];
    out.set(`${pod} ${outcome}`, Number(m[2]));
  }
  return out;
}

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

  const updatesBefore = await configUpdates(mesh);
  writeFileSync(file, shopYaml(ALL_TO_V2));
  await waitFor('the valid edit to apply', async () => {
    const s = await mesh.api<StatusResponse>('/api/status');
    return s.config.error === null || undefined;
  });
  await waitFor('traffic to move to v2', async () => (await versions(url, 5)).has('v2') && (await versions(url, 10)).size === 1);
  const after = await waitFor('every sidecar to ACK the edit', async () => {
    const s = await mesh.api<StatusResponse>('/api/status');
    return s.services.every((svc) => svc.instances.every((i) => i.sidecar.ackedVersion === s.config.version)) ? s : undefined;
  });
  // Only the caller of catalog (frontend) runs a changed config; catalog's sidecars were reconfirmed, nothing rebuilt.
  const updatesAfter = await configUpdates(mesh);
  const delta = (pod: string, outcome: string) => (updatesAfter.get(`${pod} ${outcome}`) ?? 0) - (updatesBefore.get(`${pod} ${outcome}`) ?? 0);
  const pods = (service: string) => after.services.find((s) => s.name === service)!.instances.map((i) => i.id);
  for (const pod of pods('frontend')) assert.ok(delta(pod, 'applied') >= 1, `${pod} applied the edit`);
  for (const pod of pods('catalog')) {
    assert.equal(delta(pod, 'applied'), 0, `${pod}'s config did not change: not rebuilt`);
    assert.ok(delta(pod, 'reconfirmed') >= 1, `${pod} reconfirmed the new version`);
  }
  assert.deepEqual(after.services.flatMap((s) => s.instances.map((i) => i.pid)), pidsBefore, 'no app was restarted');
  for (const s of after.services) for (const i of s.instances) assert.equal(i.sidecar.lastNack, null);
});

test('the issue example mesh validates', async () => {
  const { parseMesh } = await import('../../src/config/load-mesh.js');
  const mesh = parseMesh(shopYaml(ISSUE_ROUTES), 'devmesh.yaml');
  assert.equal(mesh.routes?.catalog?.length, 2);
});

test('while a chain of services starts, each sidecar rebuilds its config only when what it can reach changes: other services\' endpoints are reconfirms', async (t) => {
  const N = 8;
  const name = (i: number) => `s${i}`;
  const services = Array.from({ length: N }, (_, i) => `  ${name(i)}:\n    run: node app.js\n${i + 1 < N ? `    upstreams: [${name(i + 1)}]\n` : ''}`).join('');
  const app = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n";
  const mesh = await startMesh({ yaml: `name: chain\ningress:\n  - { port: 0, service: s0 }\nservices:\n${services}`, files: { 'app.js': app, 'package.json': '{ "type": "commonjs" }\n' } });
  t.after(() => mesh.stop());
  const status = await mesh.api<StatusResponse>('/api/status');
  const updates = await configUpdates(mesh);
  const count = (pod: string, outcome: string) => updates.get(`${pod} ${outcome}`) ?? 0;
  const dump = JSON.stringify(Object.fromEntries(updates));
  for (const s of status.services) {
    for (const i of s.instances) {
      // Its first config, and the one in which its upstream's endpoint arrived (none for the last of the chain).
      assert.ok(count(i.id, 'applied') <= 2, `${i.id} rebuilt its config ${count(i.id, 'applied')} times: ${dump}`);
      assert.equal(count(i.id, 'rejected'), 0, dump);
      assert.equal(i.sidecar.ackedVersion, status.config.version, `${i.id} runs the current version`);
      assert.equal(i.sidecar.lastNack, null);
    }
  }
  assert.ok(status.services.some((s) => s.instances.some((i) => count(i.id, 'reconfirmed') >= 1)), `the other versions were reconfirms: ${dump}`);
  assert.equal(await (await fetch(`${mesh.ingress.s0}/`)).text(), 'ok');
});
