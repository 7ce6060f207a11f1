// export --to linkerd: what Linkerd can say round-trips through devmesh's Linkerd importer to the same
// effective policy; what it cannot is a located note; on the demo mesh and on every public fixture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { loadMeshFile } from '../../src/config/load-mesh.js';
import { exportLinkerd } from '../../src/export/linkerd.js';
import { REPO } from '../helpers/mesh-process.js';
import { LINKERD_EXACT } from './exact-policies.js';
import { fixtureMeshes, meshWith, roundTrip } from './round-trip-helpers.js';

const kinds = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec: Record<string, unknown> });

/** The importer splits a whole-segment PathPrefix into its own rules (exact /admin, prefix /admin/), so api's rule list differs as a whole. */
const DIFFS_FROM_NOTE = ['api routes'];

test('everything Linkerd can say comes back as the same effective policy; the one note is on path prefixes', () => {
  const mesh = meshWith(LINKERD_EXACT);
  const out = exportLinkerd(mesh);
  assert.deepEqual(out.notes, ["routes.api[2] (admin): prefix /admin is a string prefix locally; Linkerd's PathPrefix matches whole path segments (/admin and /admin/x, not /adminx)"]);
  const rt = roundTrip(mesh, out);
  // The one difference is the one the note names: the importer reads PathPrefix /admin as whole segments.
  assert.deepEqual(rt.unexplained, []);
  assert.deepEqual(rt.diffs.map((d) => `${d.service} ${d.path}`), DIFFS_FROM_NOTE);
  assert.equal(rt.again.report.counts.invalid, 0);
  const docs = kinds(out.yaml);
  // Rules that retry differently are HTTPRoutes of their own (retry annotations are per route), named in list order.
  const routes = docs.filter((d) => d.kind === 'HTTPRoute' && (d.spec.parentRefs as { kind: string }[])[0]!.kind === 'Service');
  assert.deepEqual(routes.map((r) => r.metadata.name), ['api-00', 'api-01', 'api-02', 'api-03', 'api-04']);
  assert.ok(routes.every((r) => r.apiVersion === 'policy.linkerd.io/v1beta3'));
  assert.deepEqual(routes[2]!.metadata.annotations, { 'retry.linkerd.io/http': '5xx,503', 'retry.linkerd.io/limit': '3', 'retry.linkerd.io/timeout': '500ms' });
  assert.deepEqual((routes[4]!.spec.rules as { timeouts: unknown }[])[0]!.timeouts, { request: '1500ms' });
  assert.deepEqual(
    docs.filter((d) => d.kind !== 'HTTPRoute' && d.kind !== 'Service').map((d) => `${d.kind}/${d.metadata.name}`).sort(),
    ['AuthorizationPolicy/api-callers-0', 'AuthorizationPolicy/api-callers-1', 'MeshTLSAuthentication/api-callers-0-authn', 'MeshTLSAuthentication/api-callers-1-authn', 'Server/api-http', 'Server/authors-http'],
  );
});

test('the demo mesh (Bookinfo) round-trips; the retry conditions Linkerd lacks are noted where they are', () => {
  const mesh = loadMeshFile(`${REPO}/fixtures/bookinfo/devmesh.yaml`);
  const out = exportLinkerd(mesh);
  const rt = roundTrip(mesh, out);
  assert.deepEqual(rt.unexplained, []);
  assert.ok(rt.diffs.every((d) => /retries/.test(d.path)), JSON.stringify(rt.diffs));
  assert.deepEqual(out.notes, [
    "routes.reviews[0] (jason): retry conditions (no retries block: Istio's default, 2 retries): connect-failure, refused-stream have no Linkerd annotation; gRPC statuses unavailable, cancelled go in retry.linkerd.io/grpc, which is not valid on an HTTPRoute; left out",
    'routes.reviews[1] (split): retry conditions: connect-failure have no Linkerd annotation; left out',
  ]);
});

test('what Linkerd cannot express is a note located at the rule or policy, and is left out', () => {
  const mesh = meshWith({
    routes: {
      api: [
        { name: 'chaos', route: [{ destination: {} }], fault: { abort: { httpStatus: 503, percentage: { value: 10 } } }, mirror: { host: 'web' }, rewrite: { uri: '/x' } },
        { name: 'teapot', match: [{ uri: { prefix: '/tea' }, authority: { exact: 'a' } }], directResponse: { status: 418 } },
      ],
    },
    authorization: [{ name: 'no-web', service: 'api', action: 'DENY', rules: [{ from: [{ source: { services: ['web'] } }] }] }],
    policies: { api: { retryBudget: { retryRatio: 0.2 } } },
  });
  const notes = exportLinkerd(mesh).notes;
  for (const re of [/^routes\.api\[0\] \(chaos\): fault injection/, /^routes\.api\[0\] \(chaos\): Linkerd does not mirror/, /^routes\.api\[0\] \(chaos\): .*URLRewrite/, /^routes\.api\[1\] \(teapot\): directResponse/, /^authorization no-web: Linkerd has no deny policy/, /^policies\.api: retryBudget/]) {
    assert.ok(notes.some((n) => re.test(n)), `${re}\n${notes.join('\n')}`);
  }
});

for (const { file, mesh } of fixtureMeshes()) {
  test(`import ${file} → export --to linkerd → import: the same effective policy, but for what the notes name`, () => {
    const out = exportLinkerd(mesh);
    const rt = roundTrip(mesh, out);
    assert.equal(rt.again.report.counts.invalid, 0, JSON.stringify(rt.again.report.entries.filter((e) => e.outcome === 'invalid')));
    assert.deepEqual(rt.unexplained, [], `notes:\n${out.notes.join('\n')}`);
    if (out.notes.length === 0) assert.deepEqual(rt.diffs, []);
  });
}
