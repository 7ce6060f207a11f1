// The data plane through a real `devmesh up`: route actions, faults, policies and authorization written
// in the mesh file reach the sidecars, and a live edit of the authorization applies without a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { SHOP_APPS, shopYaml } from '../helpers/shop-mesh.js';

const ROUTES = `    - name: teapot
      match: [{ uri: { prefix: /teapot } }]
      fault: { abort: { httpStatus: 418 } }
      route: [{ destination: { subset: v1 } }]
    - name: beta
      match: [{ queryParams: { beta: { exact: "1" } }, sourceLabels: { app: frontend } }]
      route: [{ destination: { subset: v2 } }]
      headers: { response: { set: { x-beta: "yes" } } }
    - route: [{ destination: { subset: v1 } }]
policies:
  catalog:
    loadBalancer: { simple: LEAST_REQUEST }
    outlierDetection: { consecutive5xxErrors: 3 }
authorization:
  - name: frontend-only
    service: catalog
    rules: [{ from: [{ source: { services: [frontend] } }], to: [{ operation: { methods: [GET] } }] }]`;

let mesh: RunningMesh;

before(async () => {
  mesh = await startMesh({ yaml: shopYaml(ROUTES), files: SHOP_APPS });
});
after(() => mesh?.stop());

async function get(path: string): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(`${mesh.ingress.frontend}${path}`);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

test('route actions from the mesh file act in the sidecars', async () => {
  const teapot = await get('/teapot');
  assert.equal(teapot.status, 418, teapot.body);
  const beta = await get('/items?beta=1');
  assert.equal(beta.status, 200);
  assert.equal(JSON.parse(beta.body).version, 'v2', 'queryParams + sourceLabels (the frontend is the caller)');
  assert.equal(beta.headers.get('x-catalog-route'), 'beta');
  const plain = await get('/items');
  assert.equal(JSON.parse(plain.body).version, 'v1');
});

test('authorization applies, and a live edit of the mesh file changes it without a restart', async () => {
  assert.equal((await get('/items')).status, 200, 'frontend → catalog is allowed');
  const file = join(mesh.dir, 'devmesh.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('services: [frontend]', 'services: [catalog]'));
  const denied = await waitFor('the edited policy to deny the frontend', async () => {
    const r = await get('/items');
    return r.status === 403 ? r : undefined;
  });
  assert.match(denied.body, /denied|RBAC/);
});
