// Input forms the fixtures do not cover: Consul HCL and CamelCase JSON, Linkerd ServiceProfiles with
// quantity weights, kubectl List output, delegate VirtualServices, zero weights, --map to a version,
// --from, and a fuzz run that throws random and truncated YAML at every importer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importPolicy } from '../../src/import/import-policy.js';
import { parseQuantity } from '../../src/import/linkerd/linkerd.js';
import { entries, readFixture, testMesh, assertFits } from './helpers.js';
import { readdirSync } from 'node:fs';
import { FIXTURES, TEST_MESH_YAML } from './helpers.js';
import { parseMesh } from '../../src/config/load-mesh.js';
import { buildSidecarConfig } from '../../src/sidecar-config/sidecar-config.js';
import { diffPolicies } from '../../src/diff/effective-policy.js';
import { exportIstio } from '../../src/export/export-policy.js';

const mesh = testMesh();
const imp = (name: string, text: string, opts = {}) => importPolicy([{ name, text }], { mesh, ...opts });

test('consul: HCL service-router with blocks, a splitter and a resolver chain together', () => {
  const router = `
Kind = "service-router"
Name = "api"
Routes = [
  {
    Match {
      HTTP {
        PathPrefix = "/admin"
        Header = [{ Name = "x-debug", Exact = "1" }]
        Methods = ["GET", "POST"]
      }
    }
    Destination {
      ServiceSubset = "v2"
      RequestTimeout = "2s"
      NumRetries = 3
      RetryOnConnectFailure = true
      RetryOnStatusCodes = [503]
    }
  },
]
`;
  const splitter = `{ "Kind": "service-splitter", "Name": "api", "Splits": [ { "Weight": 90, "ServiceSubset": "v1" }, { "Weight": 10, "ServiceSubset": "v2" } ] }`;
  const resolver = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceResolver
metadata: { name: api }
spec:
  defaultSubset: v1
  subsets:
    v1: { filter: 'Service.Meta.version == v1' }
    v2: { filter: 'Service.Meta.version == v2' }
`;
  const r = importPolicy([{ name: 'router.hcl', text: router }, { name: 'splitter.json', text: splitter }, { name: 'resolver.yaml', text: resolver }], { mesh });
  assert.equal(r.report.counts.invalid, 0, JSON.stringify(r.report.entries.filter((e) => e.outcome === 'invalid')));
  assert.deepEqual(r.policy.routes?.api, [
    {
      match: [{ uri: { prefix: '/admin' }, method: { regex: '^(GET|POST)$' }, headers: { 'x-debug': { exact: '1' } } }],
      route: [{ destination: { subset: 'v2' } }],
      timeout: '2s',
      retries: { attempts: 3, retryOn: 'connect-failure,503' },
    },
    { name: 'default', route: [{ destination: { subset: 'v1' }, weight: 90 }, { destination: { subset: 'v2' }, weight: 10 }], retries: { attempts: 0 } },
  ]);
  assertFits(r);
});

test('consul: snake_case and CamelCase JSON read the same; a bad split sum is a located error', () => {
  const snake = imp('a.json', readFixture('consul/demo-api-service-splitter-50-50.json'));
  const camel = imp('b.json', JSON.stringify({ Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 50, ServiceSubset: 'v1' }, { Weight: 50, ServiceSubset: 'v2' }] }));
  assert.deepEqual(snake.policy, camel.policy);
  const bad = imp('c.json', JSON.stringify({ Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 50, ServiceSubset: 'v1' }] }));
  assert.deepEqual(entries(bad, { outcome: 'invalid' }).map((e) => [e.file, e.document, e.path]), [['c.json', 0, 'Splits']]);
  const hclError = imp('d.hcl', 'Kind = "service-router"\nName = "api\n');
  assert.equal(entries(hclError, { outcome: 'invalid' })[0]?.file, 'd.hcl');
  assert.match(entries(hclError, { outcome: 'invalid' })[0]!.detail, /^HCL: /);
});

test('consul: intentions with a wildcard deny and an exact allow; L7 permissions', () => {
  const r = imp('i.hcl', `
Kind = "service-intentions"
Name = "payments"
Sources = [
  { Name = "public-api", Action = "allow" },
  { Name = "*", Action = "deny" },
  { Name = "frontend", Permissions = [ { Action = "allow", HTTP { PathPrefix = "/pay", Methods = ["POST"] } } ] },
]
`);
  assert.deepEqual(r.policy.authorization, [
    { name: 'payments-intentions-allow', action: 'ALLOW', service: 'payments', rules: [{ from: [{ source: { services: ['public-api'] } }] }, { from: [{ source: { services: ['frontend'] } }], to: [{ operation: { paths: ['/pay*'], methods: ['POST'] } }] }] },
  ]);
});

test('linkerd: ServiceProfile routes, default 10s timeout, retry budget, dstOverrides with quantity weights', () => {
  assert.equal(parseQuantity('500m'), 0.5);
  assert.equal(parseQuantity('1'), 1);
  assert.equal(parseQuantity('1k'), 1000);
  assert.equal(parseQuantity('abc'), null);
  const r = imp('sp.yaml', `apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: api.default.svc.cluster.local, namespace: default }
spec:
  routes:
  - name: GET /books
    condition: { method: GET, pathRegex: '/books/[^/]*' }
    isRetryable: true
  - name: POST /books
    condition: { all: [ { method: POST }, { pathRegex: /books } ] }
    timeout: 300ms
  retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: 10s }
  dstOverrides:
  - { authority: api-v1.default.svc.cluster.local:8080, weight: 500m }
  - { authority: api-v2.default.svc.cluster.local:8080, weight: 1500m }
`);
  const rules = r.policy.routes!.api!;
  assert.deepEqual(rules[0]!.match, [{ method: { exact: 'GET' }, uri: { regex: '^(?:/books/[^/]*)$' } }]);
  assert.equal(rules[0]!.timeout, '10s');
  assert.deepEqual(rules[0]!.route, [{ destination: { subset: 'v1' }, weight: 25 }, { destination: { subset: 'v2' }, weight: 75 }]);
  assert.equal(rules[1]!.timeout, '300ms');
  assert.deepEqual(rules[1]!.retries, { attempts: 0 });
  assert.deepEqual(rules[2], { name: 'default', route: rules[0]!.route, retries: { attempts: 0 } });
  assert.deepEqual(r.policy.policies?.api?.retryBudget, { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' });
  assertFits(r);
  const bad = imp('sp.yaml', 'apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata: { name: api }\nspec:\n  dstOverrides:\n  - { authority: api, weight: lots }\n');
  assert.deepEqual(entries(bad, { outcome: 'invalid' }).map((e) => [e.document, e.path, e.line]), [[0, 'spec.dstOverrides[0].weight', 6]]);
});

test('kubectl List output, delegate VirtualServices, zero weights and --map to a version', () => {
  const list = `apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1beta1
  kind: VirtualService
  metadata: { name: root, namespace: default }
  spec:
    hosts: [reviews.default.svc.cluster.local]
    http:
    - match: [{ uri: { prefix: /api } }]
      delegate: { name: child, namespace: default }
    - route: [{ destination: { host: reviews, subset: v1 }, weight: 100 }, { destination: { host: reviews, subset: v2 }, weight: 0 }]
- apiVersion: networking.istio.io/v1alpha3
  kind: VirtualService
  metadata: { name: child, namespace: default }
  spec:
    http:
    - match: [{ headers: { x-canary: { exact: "1" } } }]
      route: [{ destination: { host: reviews-canary } }]
    - route: [{ destination: { host: reviews, subset: v3 } }]
`;
  const r = imp('list.yaml', list, { map: { 'reviews-canary': 'reviews/v2' } });
  assert.equal(r.report.counts.invalid, 0);
  assert.deepEqual(r.policy.routes?.reviews, [
    { match: [{ uri: { prefix: '/api' }, headers: { 'x-canary': { exact: '1' } } }], route: [{ destination: { subset: 'v2' } }] },
    { match: [{ uri: { prefix: '/api' } }], route: [{ destination: { subset: 'v3' } }] },
    { route: [{ destination: { subset: 'v1' }, weight: 100 }, { destination: { subset: 'v2' }, weight: 0 }] },
  ]);
  assert.ok(entries(r, { name: 'child' }).some((e) => /inlined/.test(e.detail)));
  assert.equal(r.report.entries[0]!.path.startsWith('items['), true);
  assertFits(r);
});

test('gateway-api: every backend weighing 0 answers 500; --from forces a format', () => {
  const r = imp('w.yaml', `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: zero }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules:
  - backendRefs: [{ name: reviews-v1, port: 80, weight: 0 }, { name: reviews-v2, port: 80, weight: 0 }]
`);
  assert.deepEqual(r.policy.routes?.reviews?.[0]?.directResponse, { status: 500 });
  const forced = imp('x.yaml', readFixture('istio/bookinfo-vs-reviews-80-20.yaml'), { from: 'consul' });
  assert.match(forced.report.entries[0]!.detail, /--from consul/);
  assert.equal(forced.policy.routes, undefined);
});

test('unknown input is reported, never thrown: non-resources, foreign kinds, syntax errors keep the rest of a file', () => {
  const r = imp('mixed.yaml', `apiVersion: apps/v1
kind: Deployment
metadata: { name: x }
---
just a string
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews, subset: v2 } }] }] }
---
a: [unclosed
`);
  assert.deepEqual(r.report.entries.filter((e) => e.outcome !== 'mapped').map((e) => [e.document, e.outcome]), [[0, 'ignored'], [1, 'invalid'], [3, 'invalid']]);
  assert.deepEqual(r.policy.routes?.reviews, [{ route: [{ destination: { subset: 'v2' } }] }]);
});

// Telemetry resources as Istio's reference page shows them (istio.io/latest/docs/reference/config/telemetry/):
// a mesh-wide one in the root namespace, a namespace's override, and a workload's.
const TELEMETRY_MESH = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
  - randomSamplingPercentage: 10.00
    providers:
    - name: otel-tracing
  accessLogging:
  - providers:
    - name: envoy
`;
const TELEMETRY_NAMESPACE = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: namespace-override
  namespace: bookinfo
spec:
  tracing:
  - randomSamplingPercentage: 25
`;
const TELEMETRY_WORKLOAD = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: foo-tracing
  namespace: bar
spec:
  selector:
    matchLabels:
      service.istio.io/canonical-name: foo
  tracing:
  - disableSpanReporting: true
`;

test('istio: Telemetry sampling becomes tracing.sampling; a namespace beats the root; workloads, providers and logs are reported', () => {
  const meshWide = imp('telemetry.yaml', `${TELEMETRY_MESH}---\n${TELEMETRY_WORKLOAD}`);
  assert.deepEqual(meshWide.policy.tracing, { sampling: 10 });
  const line = (name: string, path: string) => meshWide.report.entries.find((e) => e.name === name && e.path === path);
  assert.deepEqual([line('mesh-default', 'spec.tracing[0].randomSamplingPercentage')?.outcome, line('mesh-default', 'spec.tracing[0].randomSamplingPercentage')?.line], ['mapped', 8]);
  assert.match(line('mesh-default', 'spec.tracing[0].providers')?.detail ?? '', /trace store/);
  assert.equal(line('mesh-default', 'spec.accessLogging')?.outcome, 'ignored');
  assert.match(line('foo-tracing', 'spec.selector')?.detail ?? '', /not per workload/);
  assert.equal(meshWide.report.entries.filter((e) => e.name === 'foo-tracing').length, 1, 'a workload-scoped resource is one line');

  // The namespace's resource wins whichever comes first in the files, and the root's says it was overridden.
  for (const text of [`${TELEMETRY_MESH}---\n${TELEMETRY_NAMESPACE}`, `${TELEMETRY_NAMESPACE}---\n${TELEMETRY_MESH}`]) {
    const r = imp('telemetry.yaml', text);
    assert.deepEqual(r.policy.tracing, { sampling: 25 });
    const root = r.report.entries.find((e) => e.name === 'mesh-default' && e.path === 'spec.tracing[0].randomSamplingPercentage');
    assert.equal(root?.outcome, 'ignored');
    assert.match(root?.detail ?? '', /overrides this mesh-wide one/);
    assert.equal(r.report.entries.find((e) => e.name === 'namespace-override')?.outcome, 'approximated');
  }

  // disableSpanReporting mesh-wide: no new traces, said to be an approximation.
  const off = imp('off.yaml', TELEMETRY_WORKLOAD.replace(/ {2}selector:\n.*\n.*\n/, '').replace('namespace: bar', 'namespace: istio-system'));
  assert.deepEqual(off.policy.tracing, { sampling: 0 });
  assert.equal(off.report.entries.find((e) => e.path === 'spec.tracing[0].disableSpanReporting')?.outcome, 'approximated');

  // Out of range: a located error, as Istio's validation gives, and no sampling imported.
  const bad = imp('bad.yaml', TELEMETRY_NAMESPACE.replace('25', '150'));
  assert.equal(bad.policy.tracing, undefined);
  const invalid = bad.report.entries.find((e) => e.outcome === 'invalid');
  assert.deepEqual([invalid?.path, invalid?.line], ['spec.tracing[0].randomSamplingPercentage', 8]);
  assert.match(invalid?.detail ?? '', /range \[0\.0, 100\.0\]/);
});

test('tracing.sampling from a policy file reaches the sidecars, exports to a Telemetry and back, and shows in diff', () => {
  const policy = imp('telemetry.yaml', TELEMETRY_MESH).policy;
  const local = parseMesh(`${TEST_MESH_YAML}tracing: { sampling: 100 }\ninclude: [p.yaml]\n`, 'test-mesh.yaml', () => JSON.stringify(policy));
  assert.deepEqual(local.tracing, { sampling: 10 }, "the policy file's tracing replaces the mesh file's");
  const sidecar = buildSidecarConfig(local, { service: 'reviews', instanceId: 'reviews-v1-0', version: 'v1' }, { caPem: '', certPem: '', keyPem: '' }, 9080, []);
  assert.deepEqual(sidecar.tracing, { samplingPercent: 10 });

  const exported = exportIstio(local);
  assert.match(exported.yaml, /kind: Telemetry\nmetadata:\n {2}name: mesh-default\n {2}namespace: istio-system\nspec:\n {2}tracing:\n {4}- randomSamplingPercentage: 10\n/);
  assert.deepEqual(importPolicy([{ name: 'export.yaml', text: exported.yaml }], { mesh }).policy.tracing, { sampling: 10 });
  // Unset locally (every request traced): nothing goes out, and the note says why.
  const plain = exportIstio(mesh);
  assert.doesNotMatch(plain.yaml, /kind: Telemetry/);
  assert.ok(plain.notes.some((n) => /Istio's default is 1%/.test(n)));

  assert.deepEqual(diffPolicies(mesh, policy), [{ service: '(mesh)', path: 'tracing.sampling', local: 100, production: 10 }]);
  assert.deepEqual(diffPolicies(local, policy), []);
});

// ---- fuzz ----

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('fuzz: random and truncated YAML never crash an importer, and always give a report', () => {
  const rand = rng(12345);
  const corpus = ['istio', 'gateway-api', 'linkerd', 'consul'].flatMap((d) => readdirSync(`${FIXTURES}/${d}`).map((f) => ({ name: `${d}/${f}`, text: readFixture(`${d}/${f}`) })));
  const pieces = ['apiVersion: networking.istio.io/v1\n', 'kind: VirtualService\n', 'kind: HTTPRoute\n', 'spec:\n', '  http:\n', '  - route:\n', '    - destination: {host: 7}\n', 'weight: -1\n', '---\n', '[', ']', '{', '}', ': ', '- ', '"', "'", '\t', '\n', '&a ', '*a ', '!!binary ', 'null', '1e309', 'Kind = "service-router"\n', 'Routes = [{', 'metadata: {name: x}\n', 'subsets: [{name: v1, labels: {version: 3}}]\n'];
  let runs = 0;
  for (const f of corpus) {
    for (let i = 0; i < 12; i++) {
      let text: string;
      const mode = i % 4;
      if (mode === 0) text = f.text.slice(0, Math.floor(rand() * f.text.length)); // truncated
      else if (mode === 1) {
        const chars = [...f.text];
        for (let k = 0; k < 5; k++) chars[Math.floor(rand() * chars.length)] = String.fromCharCode(32 + Math.floor(rand() * 95));
        text = chars.join(''); // mutated
      } else if (mode === 2) text = Array.from({ length: 20 }, () => pieces[Math.floor(rand() * pieces.length)]).join(''); // random
      else {
        // structurally valid YAML with wrong types in every field
        const lines = f.text.split('\n');
        text = lines.map((l) => (rand() < 0.2 ? l.replace(/: .+$/, `: ${['[]', '{}', '0', 'true', '-5', '"x"'][Math.floor(rand() * 6)]}`) : l)).join('\n');
      }
      for (const from of [undefined, 'istio', 'gateway-api', 'linkerd', 'consul'] as const) {
        const name = i % 2 ? f.name : f.name.replace(/\.\w+$/, '.hcl');
        const r = importPolicy([{ name, text }], { mesh, ...(from ? { from } : {}) });
        runs++;
        assert.ok(r.report && Array.isArray(r.report.entries), `${f.name} #${i}`);
        const internal = r.report.entries.filter((e) => /internal error/.test(e.detail));
        assert.deepEqual(internal, [], `${f.name} #${i} (${from ?? 'auto'}):\n${text}`);
      }
    }
  }
  assert.ok(runs > 1000);
});
