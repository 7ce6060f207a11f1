// `devmesh explain` runs the sidecar's matcher over the rules the control plane would push: the test
// checks its answer for a mesh file, and that the translation of the mesh file keeps Istio's rules
// (a faulted route loses retries and timeout; mirror defaults to 100%).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CLI } from '../helpers/mesh-process.js';
import { MeshSchema } from '../../src/config/mesh-schema.js';
import { routesFor } from '../../src/sidecar-config/route-rules.js';
import { authorizationFor, buildClusters } from '../../src/sidecar-config/sidecar-config.js';

const YAML = `name: shop
services:
  frontend: { run: node f.js, upstreams: [catalog] }
  catalog:
    versions:
      v1: { run: node c.js }
      v2: { run: node c.js }
routes:
  catalog:
    - name: testers
      match: [{ headers: { x-user: { exact: tester } } }, { queryParams: { beta: { exact: "1" } }, sourceLabels: { app: frontend } }]
      route: [{ destination: { subset: v2 } }]
      mirror: { subset: v1 }
    - name: chaos
      match: [{ uri: { prefix: /chaos } }]
      fault: { abort: { httpStatus: 503, percentage: { value: 10 } } }
      route: [{ destination: { subset: v1 } }]
      timeout: 1s
    - route: [{ destination: { subset: v1 }, weight: 90 }, { destination: { subset: v2 }, weight: 10 }]
policies:
  catalog:
    outlierDetection: { consecutive5xxErrors: 3 }
    retryBudget: {}
    subsets: { v2: { loadBalancer: { simple: LEAST_REQUEST } } }
authorization:
  - { name: only-frontend, service: catalog, rules: [{ from: [{ source: { services: [frontend] } }] }] }
`;

test('devmesh explain names the matching rule and why the earlier ones did not match', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-test-explain-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'devmesh.yaml'), YAML);
  // No mesh runs under this DEVMESH_HOME: explain works from the file and says live health is unavailable.
  const env = { ...process.env, DEVMESH_HOME: join(dir, 'home') };
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'explain', ...args], { cwd: dir, encoding: 'utf8', env });

  const plain = run('GET', '/items?beta=1', '--to', 'catalog');
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /rule 0 \(testers\): no match — block 0: header x-user exact "tester" does not hold; block 1: source app "frontend" does not hold/);
  assert.match(plain.stdout, /rule 2 \(catalog\[2\]\): MATCH/);
  assert.match(plain.stdout, /sends to catalog\/v1 \(90%\), catalog\/v2 \(10%\)/);
  assert.match(plain.stdout, /endpoint health: unavailable \(no mesh is running from .*devmesh\.yaml; devmesh up starts one\)/);

  const fromFrontend = run('GET', '/items?beta=1', '--to', 'catalog', '--from', 'frontend');
  assert.match(fromFrontend.stdout, /rule 0 \(testers\): MATCH \(match block 1\)/);
  assert.match(fromFrontend.stdout, /mirrors 100% to catalog\/v1/);

  const chaos = JSON.parse(run('POST', '/chaos', '--to', 'catalog', '-H', 'x-user: alice', '--json').stdout) as { ruleIndex: number; lines: string[]; health: { available: boolean } };
  assert.equal(chaos.ruleIndex, 1);
  assert.equal(chaos.health.available, false);
  assert.ok(chaos.lines.some((l) => /retries and timeout: off, because the rule injects a fault/.test(l)));

  assert.equal(run('GET', '/', '--to', 'nope').status, 1);
  const badHeader = run('GET', '/', '--to', 'catalog', '-H', 'x-user alice');
  assert.equal(badHeader.status, 2);
  assert.match(badHeader.stderr, /-H "x-user alice": expected "name: value"/);
});

test('the mesh file translates into the sidecar snapshot with Istio and Linkerd defaults', () => {
  const mesh = MeshSchema.parse(parseYaml(YAML));
  const rules = routesFor(mesh, 'catalog');
  assert.deepEqual(rules[1]!.retries, { attempts: 0, retryOn: [] });
  assert.equal(rules[1]!.timeoutMs, undefined);
  assert.deepEqual(rules[1]!.fault, { abort: { httpStatus: 503, percent: 10 } });
  assert.deepEqual(rules[0]!.mirror, { service: 'catalog', subset: 'v1', percent: 100 });
  const catalog = buildClusters(mesh, []).find((c) => c.service === 'catalog')!;
  assert.deepEqual(catalog.policy?.outlierDetection, {
    consecutive5xxErrors: 3,
    consecutiveGatewayErrors: 0,
    intervalMs: 10_000,
    baseEjectionTimeMs: 30_000,
    maxEjectionPercent: 10,
    minHealthPercent: 0,
  });
  assert.deepEqual(catalog.policy?.retryBudget, { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 });
  assert.deepEqual(catalog.subsetPolicies?.v2, { loadBalancer: { simple: 'LEAST_REQUEST' } });
  assert.deepEqual(authorizationFor(mesh, 'catalog'), [
    { name: 'only-frontend', action: 'ALLOW', rules: [{ from: [{ principals: ['shop/ns/default/sa/frontend'] }] }] },
  ]);
  assert.deepEqual(authorizationFor(mesh, 'frontend'), []);
});
