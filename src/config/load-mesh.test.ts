// The mesh file's validation: every problem located as file:line:column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshConfigError, parseMesh } from './load-mesh.js';
import { fixedPortClashes, instancesOf, startOrder, upstreamEnvName } from './mesh-model.js';
import { routesFor } from '../sidecar-config/route-rules.js';
import { CLI, REPO } from '../../test/helpers/mesh-process.js';
import { problems } from '../../test/helpers/config-problems.js';


test('a wrong enum value points at its line and column', () => {
  assert.deepEqual(problems('name: shop\nmtls: STRIKT\nservices:\n  a: { run: x }\n'), [
    'devmesh.yaml:2:7: mtls: Invalid option: expected one of "STRICT"|"PERMISSIVE"|"DISABLE"',
  ]);
});

test('an unknown field points at the key', () => {
  assert.deepEqual(problems('name: shop\nservices:\n  a:\n    run: x\n    colour: red\n'), ['devmesh.yaml:5:5: services.a: unknown field "colour"']);
});

test('cross references are checked: upstreams, subsets, weights', () => {
  const yaml = `name: shop
services:
  a:
    run: x
    upstreams: [b, nope]
  b:
    versions:
      v1: { run: y }
routes:
  b:
    - route:
        - { destination: { subset: v9 }, weight: 90 }
        - { destination: { subset: v1 }, weight: 20 }
`;
  assert.deepEqual(problems(yaml), [
    'devmesh.yaml:5:20: services.a.upstreams[1]: unknown service "nope"',
    'devmesh.yaml:12:36: routes.b[0].route[0].destination.subset: service b has no version "v9" (versions: v1)',
    'devmesh.yaml:12:9: routes.b[0].route: weights must add up to 100 (they add up to 110)',
  ]);
});

test('dependsOn names services that exist, not itself, and no cycle; it orders the start like upstreams', () => {
  assert.deepEqual(problems('name: shop\nservices:\n  a: { run: x, dependsOn: [a, ghost] }\n'), [
    'devmesh.yaml:3:28: services.a.dependsOn[0]: a service cannot wait for itself',
    'devmesh.yaml:3:31: services.a.dependsOn[1]: unknown service "ghost"',
  ]);
  assert.deepEqual(problems('name: shop\nservices:\n  a: { run: x, dependsOn: [b] }\n  b: { run: y, dependsOn: [a] }\n'), [
    'devmesh.yaml:3:27: services.a.dependsOn: dependsOn cycle a → b → a: none of these could ever start',
  ]);
  const mesh = parseMesh('name: shop\nservices:\n  app: { run: x, dependsOn: [db] }\n  db: { run: y }\n', 'devmesh.yaml');
  assert.deepEqual(startOrder(mesh), ['db', 'app']);
});

test('a fixed port that several process instances would share is a located error; containers and free ports are not', () => {
  assert.deepEqual(
    problems(`name: shop
services:
  reviews:
    port: 9080
    versions:
      v1: { run: x }
      v2: { run: y, replicas: 2 }
`),
    ['devmesh.yaml:4:11: services.reviews.port: reviews-v1-0, reviews-v2-0, reviews-v2-1 would all listen on port 9080, which only one process can: remove port (each instance then gets a free one in PORT)'],
  );
  assert.deepEqual(
    problems('name: shop\nservices:\n  a: { run: x, port: 8080 }\n  b: { run: y, port: 8080 }\n'),
    ['devmesh.yaml:3:22: services.a.port: a-0, b-0 would all listen on port 8080, which only one process can: remove port (each instance then gets a free one in PORT), or give each service its own'],
  );
  // One process per fixed port, replicas without a port, and container replicas (published networking
  // gives each its own host port; host networking is warned about when the engine is known) all load.
  const mesh = parseMesh('name: shop\nservices:\n  a: { run: x, port: 8080 }\n  b: { run: y, replicas: 3 }\n  c: { image: nginx, port: 80, replicas: 2 }\n', 'devmesh.yaml');
  const instances = instancesOf(mesh, '/tmp');
  assert.deepEqual(fixedPortClashes(instances, false), []);
  // With host networking (what the control plane logs once the engine is known) the containers collide.
  assert.deepEqual(fixedPortClashes(instances, true), [{ port: 80, ids: ['c-0', 'c-1'], services: ['c'] }]);
});

test('YAML syntax errors are located too', () => {
  const [first] = problems('name: x\nservices:\n  a: {run: "x"\n');
  assert.match(first!, /^devmesh\.yaml:\d+:\d+: YAML: /);
});

test('bad durations, regexes and retryOn values are rejected', () => {
  const lines = problems(`name: s
services:
  a: { run: x }
routes:
  a:
    - match: [{ uri: { regex: "(" } }]
      route: [{ destination: { host: a } }]
      timeout: 2 seconds
      retries: { attempts: 2, retryOn: "5xx,sometimes" }
`);
  assert.equal(lines.length, 3);
  assert.match(lines.join('\n'), /6:31: routes\.a\[0\]\.match\[0\]\.uri\.regex: RE2 refuses regex "\(": missing closing \)/);
  assert.match(lines.join('\n'), /timeout: must be a duration/);
  assert.match(lines.join('\n'), /retryOn: must be a comma-separated list/);
});

test('the model: instances per version, start order, env names, Istio default retries', () => {
  const mesh = parseMesh(
    `name: shop
services:
  front: { run: node f.js, upstreams: [user-db, catalog], replicas: 2 }
  catalog:
    run: node c.js
    upstreams: [user-db]
    versions: { v1: {}, v2: { env: { X: "1" } } }
  user-db: { run: db }
`,
    '/m/devmesh.yaml',
  );
  assert.deepEqual(instancesOf(mesh, '/m').map((i) => i.id), ['front-0', 'front-1', 'catalog-v1-0', 'catalog-v2-0', 'user-db-0']);
  assert.deepEqual(startOrder(mesh), ['user-db', 'catalog', 'front']);
  assert.equal(upstreamEnvName('user-db'), 'USER_DB_URL');
  // Istio's default: 2 retries on connection errors and 503 (retriable-status-codes with no code listed).
  assert.deepEqual(routesFor(mesh, 'catalog')[0]!.retries, { attempts: 2, retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', '503'] });
});

test('devmesh validate prints located errors and exits 1; the demo validates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-validate-'));
  writeFileSync(join(dir, 'devmesh.yaml'), 'name: shop\nservices:\n  a:\n    run: x\n    health: healthz\n');
  const bad = spawnSync(process.execPath, [CLI, 'validate'], { cwd: dir, encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /devmesh\.yaml:5:13: services\.a\.health: must be an HTTP path starting with \//);
  const good = spawnSync(process.execPath, [CLI, 'validate', join(REPO, 'fixtures/bookinfo/devmesh.yaml')], { encoding: 'utf8' });
  assert.equal(good.status, 0, good.stderr);
});

test('the published JSON Schema is the current one', () => {
  const out = spawnSync(process.execPath, [CLI, 'schema'], { encoding: 'utf8' });
  assert.equal(out.status, 0);
  const published = readFileSync(join(REPO, 'schema/devmesh.schema.json'), 'utf8');
  assert.deepEqual(JSON.parse(out.stdout), JSON.parse(published));
  assert.deepEqual((JSON.parse(published) as { properties: { mtls: { enum: string[] } } }).properties.mtls.enum, ['STRICT', 'PERMISSIVE', 'DISABLE']);
});

test('included policy files merge in, override per service, and their errors point into them', () => {
  const files: Record<string, string> = {
    '/m/policy.yaml': `routes:
  b:
    - route: [{ destination: { subset: v2 } }]
authorization:
  - name: only-a
    service: b
    rules: [{ from: [{ source: { services: [a] } }] }]
`,
    '/m/bad.yaml': `policies:
  b:
    subsets:
      v9: { loadBalancer: { simple: RANDOM } }
`,
  };
  const read = (p: string) => {
    const text = files[p];
    if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    return text;
  };
  const base = `name: shop
services:
  a: { run: x, upstreams: [b] }
  b:
    versions: { v1: { run: y }, v2: { run: y } }
routes:
  b:
    - route: [{ destination: { subset: v1 } }]
`;
  const mesh = parseMesh(`${base}include: [policy.yaml]\n`, '/m/devmesh.yaml', read);
  assert.equal(mesh.routes?.b?.[0]?.route?.[0]?.destination.subset, 'v2', 'the included file overrides');
  assert.equal(mesh.authorization?.[0]?.name, 'only-a');

  assert.throws(
    () => parseMesh(`${base}include: [bad.yaml]\n`, '/m/devmesh.yaml', read),
    (err: unknown) => err instanceof MeshConfigError && /bad\.yaml:4:11: policies\.b\.subsets\.v9: service b has no version "v9"/.test(err.message),
  );
  assert.throws(
    () => parseMesh(`${base}include: [policy.yaml, gone.yaml]\n`, '/m/devmesh.yaml', read),
    (err: unknown) => err instanceof MeshConfigError && /devmesh\.yaml:9:\d+: include\[1\]: cannot read gone\.yaml: ENOENT/.test(err.message),
  );
});

test('PeerAuthentication semantics: serviceMtls beats the service, port level beats workload, UNSET inherits', async () => {
  const { effectiveMtls } = await import('./mesh-model.js');
  const mesh = parseMesh(
    `name: shop
mtls: STRICT
services:
  a: { run: x, port: 8080, mtls: { mode: PERMISSIVE, portLevelMtls: { "8080": { mode: DISABLE } } } }
  b: { run: x, mtls: { mode: UNSET } }
  c: { run: x, mtls: DISABLE }
serviceMtls:
  c: PERMISSIVE
`,
    'devmesh.yaml',
  );
  assert.equal(effectiveMtls(mesh, 'a', 8080), 'DISABLE');
  assert.equal(effectiveMtls(mesh, 'a', 9090), 'PERMISSIVE');
  assert.equal(effectiveMtls(mesh, 'b'), 'STRICT');
  assert.equal(effectiveMtls(mesh, 'c'), 'PERMISSIVE');
});

test('route actions: exactly one of route, redirect, directResponse; faults need one abort status', () => {
  const lines = problems(`name: s
services:
  a: { run: x }
routes:
  a:
    - route: [{ destination: { host: a } }]
      directResponse: { status: 200 }
    - fault: { abort: { percentage: { value: 10 } } }
      route: [{ destination: { host: a } }]
`);
  assert.match(lines.join('\n'), /6:7: routes\.a\[0\]: needs exactly one of route, redirect, directResponse/);
  assert.match(lines.join('\n'), /routes\.a\[1\]\.fault\.abort: needs exactly one of httpStatus, grpcStatus/);
});

test('tracing.sampling: a percent, checked where it is written, pushed to every sidecar and gateway', async () => {
  const { buildGatewayConfig, buildSidecarConfig } = await import('../sidecar-config/sidecar-config.js');
  assert.deepEqual(problems('name: shop\ntracing:\n  sampling: 150\nservices:\n  a: { run: x }\n'), ['devmesh.yaml:3:13: tracing.sampling: Too big: expected number to be <=100']);
  const tls = { caPem: 'ca', certPem: 'cert', keyPem: 'key' };
  const workload = { service: 'a', version: '', instanceId: 'a-0' };
  const sampled = parseMesh('name: shop\ntracing:\n  sampling: 2.5\nservices:\n  a: { run: x }\n', 'devmesh.yaml');
  assert.deepEqual(buildSidecarConfig(sampled, workload, tls, 1234, []).tracing, { samplingPercent: 2.5 });
  assert.deepEqual(buildGatewayConfig(sampled, 'a', 8080, tls, []).tracing, { samplingPercent: 2.5 });
  const everything = parseMesh('name: shop\nservices:\n  a: { run: x }\n', 'devmesh.yaml');
  assert.equal(buildSidecarConfig(everything, workload, tls, 1234, []).tracing, undefined, 'by default every request is traced');
});
