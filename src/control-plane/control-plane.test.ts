// What a running mesh applies from an edited mesh file: policy now, services and ingress after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMesh } from '../config/load-mesh.js';
import type { InstanceState } from '../contract/api.js';
import { buildClusters } from '../sidecar-config/sidecar-config.js';
import { describeChange, livePart } from './control-plane.js';

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

test('a config version says what made it: edited sections, endpoints out (and why) and back, certificates', () => {
  const before = parseMesh(base, 'devmesh.yaml');
  const edited = parseMesh(`${base}routes:\n  b:\n    - route: [{ destination: { host: b } }]\n      timeout: 1s\ntracing: { sampling: 10 }\n`, 'devmesh.yaml');
  const clusters = buildClusters(before, [
    { instanceId: 'b-0', service: 'b', version: '', inboundPort: 4001, healthy: true },
    { instanceId: 'b-1', service: 'b', version: '', inboundPort: 4002, healthy: true },
  ]);
  const withoutB0 = buildClusters(before, [{ instanceId: 'b-1', service: 'b', version: '', inboundPort: 4002, healthy: true }]);
  const states: Record<string, { state: InstanceState; draining: boolean; sidecar: { serving: boolean } }> = {
    'b-0': { state: 'running', draining: true, sidecar: { serving: true } },
    'b-1': { state: 'backoff', draining: false, sidecar: { serving: true } },
  };
  const at = (mesh: typeof before, c: typeof clusters, certGeneration = 0) => ({ mesh, clusters: c, certGeneration });
  assert.equal(describeChange(null, at(before, clusters), (id) => states[id]), 'first configuration');
  assert.equal(describeChange(at(before, clusters), at(edited, clusters), (id) => states[id]), 'mesh file edited: routes.b, tracing.sampling');
  assert.equal(describeChange(at(before, clusters), at(before, withoutB0), (id) => states[id]), 'endpoints: b −b-0 (restarting)');
  assert.equal(describeChange(at(before, withoutB0), at(before, clusters), (id) => states[id]), 'endpoints: b +b-0');
  // The same instance back on another port is out and in at once; a crashed one says its state.
  const moved = buildClusters(before, [{ instanceId: 'b-0', service: 'b', version: '', inboundPort: 4003, healthy: true }]);
  assert.equal(describeChange(at(before, clusters), at(before, moved), (id) => ({ ...states[id]!, draining: false })), 'endpoints: b −b-0 (running), −b-1 (backoff), +b-0');
  assert.equal(describeChange(at(before, clusters), at(before, clusters, 1), (id) => states[id]), 'certificates renewed');
  assert.equal(describeChange(at(edited, clusters), at(before, clusters), (id) => states[id], 'back to the last good configuration: sidecars rejected v7'), 'back to the last good configuration: sidecars rejected v7');
});
