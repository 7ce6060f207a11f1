// What `export --to linkerd` and `export --to consul --format crd` write must be accepted by the clusters
// they are for: every document is validated against the OpenAPI schema of the upstream CRD it is an instance
// of (Linkerd's charts/linkerd-crds/templates/policy/*.yaml, consul-k8s's
// control-plane/config/crd/bases/*.yaml; repository commits in upstream-crd-schemas.json), with unknown
// fields refused as `kubectl apply`'s strict field validation does. Checked on the demo mesh, the policies
// using every mapping, and every public fixture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { loadMeshFile } from '../../src/config/load-mesh.js';
import type { MeshFile } from '../../src/config/mesh-schema.js';
import { exportConsul } from '../../src/export/consul.js';
import { exportLinkerd } from '../../src/export/linkerd.js';
import { REPO } from '../helpers/mesh-process.js';
import { CONSUL_EXACT, LINKERD_EXACT } from './exact-policies.js';
import { fixtureMeshes, meshWith } from './round-trip-helpers.js';

interface Upstream {
  source: Record<string, string>;
  schemas: Record<string, { repo: string; path: string; served: boolean; schema: Record<string, unknown> }>;
}
const upstream = JSON.parse(readFileSync(join(REPO, 'test', 'export', 'upstream-crd-schemas.json'), 'utf8')) as Upstream;

/** A structural schema as the API server applies it with strict field validation: objects with properties take no others. */
function strict(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(strict);
  if (!s || typeof s !== 'object') return s;
  const o = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, x]) => [p, strict(x)])) : strict(v)]));
  if (o.properties && o.additionalProperties === undefined && !o['x-kubernetes-preserve-unknown-fields']) o.additionalProperties = false;
  return o;
}

const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
/** The spec strict; the top level (apiVersion, kind, metadata, spec) as the CRD has it. */
function strictSpec(schema: Record<string, unknown>): object {
  const props = schema.properties as Record<string, unknown>;
  return { ...schema, properties: { ...props, spec: strict(props.spec) } };
}
const validators = new Map<string, ValidateFunction>(Object.entries(upstream.schemas).map(([k, v]) => [k, ajv.compile(strictSpec(v.schema))]));

function check(what: string, yaml: string): number {
  let n = 0;
  for (const d of parseAllDocuments(yaml)) {
    const doc = d.toJS() as { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, unknown> };
    if (doc.apiVersion === 'v1' && doc.kind === 'Service') continue;
    const v = validators.get(`${doc.apiVersion}/${doc.kind}`);
    assert.ok(v, `${what}: no upstream schema for ${doc.apiVersion} ${doc.kind}`);
    assert.ok(v(doc), `${what}: ${doc.kind} ${doc.metadata.name}: ${ajv.errorsText(v.errors, { separator: '\n  ' })}\n${JSON.stringify(doc.spec)}`);
    n++;
  }
  return n;
}

const meshes: { what: string; mesh: MeshFile }[] = [
  { what: 'the demo mesh', mesh: loadMeshFile(join(REPO, 'fixtures', 'bookinfo', 'devmesh.yaml')) },
  { what: 'every Linkerd mapping', mesh: meshWith(LINKERD_EXACT) },
  { what: 'every Consul mapping', mesh: meshWith(CONSUL_EXACT) },
  ...fixtureMeshes().map(({ file, mesh }) => ({ what: file, mesh })),
];

test('the upstream schemas are the served versions devmesh writes', () => {
  assert.deepEqual(Object.keys(upstream.schemas).sort(), [
    'consul.hashicorp.com/v1alpha1/ProxyDefaults', 'consul.hashicorp.com/v1alpha1/ServiceDefaults', 'consul.hashicorp.com/v1alpha1/ServiceIntentions', 'consul.hashicorp.com/v1alpha1/ServiceResolver',
    'consul.hashicorp.com/v1alpha1/ServiceRouter', 'consul.hashicorp.com/v1alpha1/ServiceSplitter', 'policy.linkerd.io/v1alpha1/AuthorizationPolicy', 'policy.linkerd.io/v1alpha1/MeshTLSAuthentication',
    'policy.linkerd.io/v1beta3/HTTPRoute', 'policy.linkerd.io/v1beta3/Server',
  ]);
  assert.ok(Object.values(upstream.schemas).every((s) => s.served));
  // The strict form refuses a field no version has.
  assert.equal(validators.get('policy.linkerd.io/v1beta3/Server')!({ apiVersion: 'policy.linkerd.io/v1beta3', kind: 'Server', metadata: { name: 'x' }, spec: { podSelector: {}, port: 80, futureField: 1 } }), false);
});

for (const { what, mesh } of meshes) {
  test(`Linkerd and Consul CRDs fit the upstream schemas: ${what}`, () => {
    const n = check(`${what} → linkerd`, exportLinkerd(mesh).yaml) + check(`${what} → consul`, exportConsul(mesh, 'crd').yaml);
    assert.ok(n > 0 || !mesh.routes, `${what}: nothing was written`);
  });
}
