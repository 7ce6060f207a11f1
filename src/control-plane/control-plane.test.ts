// What a running mesh applies from an edited mesh file: policy now, services and ingress after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMesh } from '../config/load-mesh.js';
import { livePart } from './control-plane.js';

const base = `name: shop
ingress: [{ port: 0, service: a }]
services:
  a: { run: node a.js, upstreams: [b] }
  b: { run: node b.js }
`;

test('a policy-only edit applies entirely', () => {
  const next = parseMesh(`${base}routes:\n  b:\n    - route: [{ destination: { host: b } }]\n      timeout: 1s\n`, 'devmesh.yaml');
  const { mesh, needsRestart } = livePart(parseMesh(base, 'devmesh.yaml'), next);
  assert.deepEqual(needsRestart, []);
  assert.equal(mesh, next);
});

test('an mTLS change alone is policy, not a restart', () => {
  const next = parseMesh(base.replace('b: { run: node b.js }', 'b: { run: node b.js, mtls: PERMISSIVE }'), 'devmesh.yaml');
  const { mesh, needsRestart } = livePart(parseMesh(base, 'devmesh.yaml'), next);
  assert.deepEqual(needsRestart, []);
  assert.equal(mesh.services.b?.mtls, 'PERMISSIVE');
});

test('service and ingress edits are named and kept as started, while their policy still applies', () => {
  const current = parseMesh(base, 'devmesh.yaml');
  const next = parseMesh(
    base.replace('node b.js }', 'node b2.js, mtls: DISABLE }').replace('port: 0', 'port: 9999') + `routes:\n  b:\n    - route: [{ destination: { host: b } }]\n      timeout: 3s\n`,
    'devmesh.yaml',
  );
  const { mesh, needsRestart } = livePart(current, next);
  assert.deepEqual(needsRestart, ['services', 'ingress']);
  assert.equal(mesh.services.b?.run, 'node b.js');
  assert.equal(mesh.services.b?.mtls, 'DISABLE');
  assert.equal(mesh.ingress[0]?.port, 0);
  assert.equal(mesh.routes?.b?.[0]?.timeout, '3s');
});

test('a dataPlane edit waits for a restart: the proxies already run one way', () => {
  const current = parseMesh(base, 'devmesh.yaml');
  assert.equal(current.dataPlane, 'sidecar', 'the default');
  const { mesh, needsRestart } = livePart(current, parseMesh(`${base}dataPlane: shared\n`, 'devmesh.yaml'));
  assert.deepEqual(needsRestart, ['dataPlane']);
  assert.equal(mesh.dataPlane, 'sidecar');
});
