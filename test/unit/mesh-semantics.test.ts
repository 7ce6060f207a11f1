// Istio's and Linkerd's defaults come from one place: what a sidecar is configured with and what
// `devmesh diff` compares agree, and an omitted field equals its upstream default written out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMesh } from '../../src/config/load-mesh.js';
import { PolicyFileSchema } from '../../src/config/mesh-schema.js';
import { diffPolicies, effectivePolicy, reachableRules, withPolicy } from '../../src/diff/effective-policy.js';
import { buildClusters } from '../../src/sidecar-config/sidecar-config.js';

const MESH = `
name: shop
services:
  api: { run: node api.js }
  web: { run: node web.js, upstreams: [api] }
policies:
  api:
    outlierDetection: { consecutive5xxErrors: 3 }
    retryBudget: { retryRatio: 0.5 }
routes:
  web:
    - redirect: { uri: /new }
`;

test("consecutiveGatewayErrors omitted is Istio's 0 (off), in the sidecar config and in diff alike", () => {
  const mesh = parseMesh(MESH, 'devmesh.yaml');
  const sidecar = buildClusters(mesh, []).find((c) => c.service === 'api')!.policy!;
  const compared = effectivePolicy(mesh).api!.policy as Record<string, unknown>;
  const istioDefaults = { consecutive5xxErrors: 3, consecutiveGatewayErrors: 0, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10, minHealthPercent: 0 };
  assert.deepEqual(sidecar.outlierDetection, istioDefaults);
  assert.deepEqual(compared.outlierDetection, istioDefaults);
  // Linkerd's budget: 10 retries/s over 10 s unless said otherwise.
  assert.deepEqual(sidecar.retryBudget, { ratio: 0.5, minPerSecond: 10, ttlMs: 10_000 });
  assert.deepEqual(compared.retryBudget, { retryRatio: 0.5, minRetriesPerSecond: 10, ttlMs: 10_000 });

  // Production writing the defaults out behaves the same: no difference.
  const writtenOut = PolicyFileSchema.parse({
    policies: { api: { outlierDetection: { consecutive5xxErrors: 3, consecutiveGatewayErrors: 0, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 10 }, retryBudget: { retryRatio: 0.5, minRetriesPerSecond: 10, ttl: '10s' } } },
    routes: { web: [{ redirect: { uri: '/new', redirectCode: 301 } }] },
  });
  assert.deepEqual(diffPolicies(mesh, writtenOut), []);
  // One that turns gateway errors on differs from the default, 0 against 5 (was null against 5).
  const gatewayErrorsOn = PolicyFileSchema.parse({ policies: { api: { outlierDetection: { consecutive5xxErrors: 3, consecutiveGatewayErrors: 5 }, retryBudget: { retryRatio: 0.5 } } }, routes: { web: [{ redirect: { uri: '/new' } }] } });
  assert.deepEqual(diffPolicies(mesh, gatewayErrorsOn), [{ service: 'api', path: 'policy.outlierDetection.consecutiveGatewayErrors', local: 0, production: 5 }]);
});

test('route weights compare as shares: 3 and 2 route as 60 and 40 do (the sidecar picks by weight / total, as Envoy)', () => {
  const mesh = parseMesh(
    'name: shop\nservices:\n  api: { run: x }\n  api2: { run: x }\nroutes:\n  api:\n    - route: [{ destination: { host: api }, weight: 60 }, { destination: { host: api2 }, weight: 40 }]\n',
    'devmesh.yaml',
  );
  const split = (a: number, b: number) => PolicyFileSchema.parse({ routes: { api: [{ route: [{ destination: { host: 'api' }, weight: a }, { destination: { host: 'api2' }, weight: b }] }] } });
  assert.deepEqual(diffPolicies(mesh, split(3, 2)), []);
  assert.deepEqual(diffPolicies(mesh, split(1, 1)).map((d) => [d.path, d.local, d.production]), [['routes[0].route[0].weight', 60, 50], ['routes[0].route[1].weight', 40, 50]]);
});

test('regex matches compare in full-match form: an opening ^ and a closing $ change nothing (an escaped \\$ does)', () => {
  const mesh = parseMesh('name: shop\nservices:\n  api: { run: x }\nroutes:\n  api:\n    - match: [{ uri: { regex: "^/[^/]+/bar$" } }]\n      route: [{ destination: { host: api } }]\n', 'devmesh.yaml');
  const written = (regex: string) => PolicyFileSchema.parse({ routes: { api: [{ match: [{ uri: { regex } }], route: [{ destination: { host: 'api' } }] }] } });
  assert.deepEqual(diffPolicies(mesh, written('/[^/]+/bar')), []);
  assert.deepEqual(diffPolicies(mesh, written('/[^/]+/bar\\$')).map((d) => d.path), ['routes[0].match[0].uri.regex']);
});

test('a rule every match block of which an earlier rule covers never applies, and is not compared', () => {
  const rule = (match: object[] | undefined, host: string) => ({ ...(match ? { match } : {}), route: [{ destination: { host } }] });
  const ingress = { sourceLabels: { app: 'ingress' } };
  const twice = [rule([{ uri: { prefix: '/a' }, ...ingress }], 'api'), rule([ingress], 'api'), rule([{ uri: { prefix: '/a' }, ...ingress }], 'api'), rule([ingress], 'api'), rule(undefined, 'api')];
  const parsed = PolicyFileSchema.parse({ routes: { api: twice } }).routes!.api!;
  assert.deepEqual(reachableRules(parsed), [0, 1, 4], 'the second copy is covered; the catch-all still serves other callers');
  const mesh = parseMesh('name: shop\nservices:\n  api: { run: x }\n', 'devmesh.yaml');
  const once = PolicyFileSchema.parse({ routes: { api: [twice[0], twice[1], twice[4]] } });
  assert.deepEqual(diffPolicies(withPolicy(mesh, once), PolicyFileSchema.parse({ routes: { api: twice } })), []);
});
