// The importer contract (importer-contract.ts) run against every importer, on the real public fixtures of
// shared/fixtures, and each format's exporter.
import { exportConsul } from '../../src/export/consul.js';
import { exportGatewayApi, exportIstio } from '../../src/export/export-policy.js';
import { exportLinkerd } from '../../src/export/linkerd.js';
import { importerContract } from './importer-contract.js';

const smileyRoute = (apiVersion: string, extra: string) => `apiVersion: ${apiVersion}
kind: HTTPRoute
metadata: { name: smiley-a-b, namespace: faces }
spec:
  parentRefs: [{ name: smiley, kind: Service, group: core, port: 80 }]
  rules:
    - backendRefs: [{ name: smiley2, port: 80 }]
${extra}`;

/** Gateway API and Linkerd both read HTTPRoute (Linkerd's own group too): the same two inputs for each. */
const httpRouteInputs = (apiVersion: string) => ({
  malformed: { name: 'broken-route.yaml', text: smileyRoute(apiVersion, '    - backendRefs: 5\n') },
  withUnknownField: { name: 'future-route.yaml', text: smileyRoute(apiVersion, '      futureSessionPersistence: { type: Cookie }\n'), field: 'futureSessionPersistence', path: 'spec.rules[0].futureSessionPersistence' },
});

importerContract({
  format: 'istio',
  fixtureDir: 'istio',
  malformed: { name: 'broken-vs.yaml', text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews }\nspec:\n  hosts: [reviews]\n  http:\n    - route: "not a list"\n' },
  withUnknownField: {
    name: 'future-vs.yaml',
    text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews }\nspec:\n  hosts: [reviews]\n  http:\n    - route: [{ destination: { host: reviews, subset: v1 } }]\n      futureRetryBudget: { percent: 20 }\n',
    field: 'futureRetryBudget',
    path: 'spec.http[0].futureRetryBudget',
  },
  exporter: (mesh) => exportIstio(mesh).yaml,
});

importerContract({
  format: 'gateway-api',
  fixtureDir: 'gateway-api',
  ...httpRouteInputs('gateway.networking.k8s.io/v1'),
  exporter: (mesh) => exportGatewayApi(mesh).yaml,
});

importerContract({
  format: 'linkerd',
  fixtureDir: 'linkerd',
  ...httpRouteInputs('policy.linkerd.io/v1beta3'),
  exporter: (mesh) => exportLinkerd(mesh).yaml,
});

importerContract({
  format: 'consul',
  fixtureDir: 'consul',
  malformed: { name: 'broken-splitter.json', text: JSON.stringify({ Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 'half', ServiceSubset: 'v1' }] }) },
  withUnknownField: {
    name: 'future-splitter.json',
    text: JSON.stringify({ Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 50, ServiceSubset: 'v1' }, { Weight: 50, ServiceSubset: 'v2' }], FutureStickiness: true }),
    field: 'FutureStickiness',
    path: 'FutureStickiness',
  },
  // consul-k8s CRDs: one YAML stream (the HCL form, one file per entry, is round-tripped in test/export/consul.test.ts).
  exporter: (mesh) => exportConsul(mesh, 'crd').yaml,
});
