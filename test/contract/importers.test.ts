// The importer contract (importer-contract.ts) run against every importer, on the real public fixtures of
// shared/fixtures, and each format's exporter.
import { exportConsul } from '../../src/export/consul.js';
import { exportGatewayApi, exportIstio } from '../../src/export/export-policy.js';
import { exportLinkerd } from '../../src/export/linkerd.js';
import { importerContract, type ImporterGaps } from './importer-contract.js';

/** Every importer today: found by this suite; the fix (report the fields a resource has and the importer does not read) is its own change. */
const unknownFieldsUnreported = (format: string, reads: string): ImporterGaps => ({
  'unknown field reported': `the ${format} importer ${reads} and translates only the fields it knows: an unknown field is never looked at, and the resource still reads "mapped"`,
});

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
  withUnknownField: { name: 'future-route.yaml', text: smileyRoute(apiVersion, '      futureSessionPersistence: { type: Cookie }\n'), field: 'futureSessionPersistence' },
});

importerContract({
  format: 'istio',
  fixtureDir: 'istio',
  malformed: { name: 'broken-vs.yaml', text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews }\nspec:\n  hosts: [reviews]\n  http:\n    - route: "not a list"\n' },
  withUnknownField: {
    name: 'future-vs.yaml',
    text: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews }\nspec:\n  hosts: [reviews]\n  http:\n    - route: [{ destination: { host: reviews, subset: v1 } }]\n      futureRetryBudget: { percent: 20 }\n',
    field: 'futureRetryBudget',
  },
  exporter: (mesh) => exportIstio(mesh).yaml,
}, unknownFieldsUnreported('Istio', 'reads resources with z.looseObject schemas'));

importerContract({
  format: 'gateway-api',
  fixtureDir: 'gateway-api',
  ...httpRouteInputs('gateway.networking.k8s.io/v1'),
  exporter: (mesh) => exportGatewayApi(mesh).yaml,
}, unknownFieldsUnreported('Gateway API', 'reads resources with z.looseObject schemas'));

importerContract({
  format: 'linkerd',
  fixtureDir: 'linkerd',
  ...httpRouteInputs('policy.linkerd.io/v1beta3'),
  exporter: (mesh) => exportLinkerd(mesh).yaml,
}, unknownFieldsUnreported('Linkerd', 'reads resources with z.looseObject schemas'));

importerContract({
  format: 'consul',
  fixtureDir: 'consul',
  malformed: { name: 'broken-splitter.json', text: JSON.stringify({ Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 'half', ServiceSubset: 'v1' }] }) },
  withUnknownField: {
    name: 'future-splitter.json',
    text: JSON.stringify({ Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 50, ServiceSubset: 'v1' }, { Weight: 50, ServiceSubset: 'v2' }], FutureStickiness: true }),
    field: 'FutureStickiness',
  },
  // consul-k8s CRDs: one YAML stream (the HCL form, one file per entry, is round-tripped in test/export/consul.test.ts).
  exporter: (mesh) => exportConsul(mesh, 'crd').yaml,
}, unknownFieldsUnreported('Consul', 'reads config entry fields by name'));
