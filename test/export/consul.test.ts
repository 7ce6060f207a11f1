// export --to consul, as HCL config entries and as consul-k8s CRDs: what Consul can say round-trips through
// devmesh's Consul importer to the same effective policy; what it cannot is a located note; on the demo
// mesh and on every public fixture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { loadMeshFile } from '../../src/config/load-mesh.js';
import { CONSUL_FORMS } from '../../src/export/common.js';
import { exportConsul } from '../../src/export/consul.js';
import { parseHcl } from '../../src/import/consul/hcl.js';
import { REPO } from '../helpers/mesh-process.js';
import { CONSUL_EXACT } from './exact-policies.js';
import { fixtureMeshes, meshWith, roundTrip } from './round-trip-helpers.js';

for (const form of CONSUL_FORMS) {
  test(`${form}: everything Consul can say comes back as the same effective policy`, () => {
    const mesh = meshWith(CONSUL_EXACT);
    const out = exportConsul(mesh, form);
    // The one note: Consul's default for services without intentions is its ACL default policy.
    assert.deepEqual(out.notes.map((n) => n.split(':')[0]), ['services without authorization policies get no service-intentions']);
    const rt = roundTrip(mesh, out);
    assert.deepEqual(rt.diffs, []);
    assert.equal(rt.again.report.counts.invalid, 0, JSON.stringify(rt.again.report.entries.filter((e) => e.outcome === 'invalid')));
    const kinds = form === 'hcl'
      ? out.files!.map((f) => {
        const parsed = parseHcl(f.text);
        assert.ok('value' in parsed, `${f.name}: ${JSON.stringify(parsed)}`);
        return `${(parsed.value as { Kind: string }).Kind}/${(parsed.value as { Name: string }).Name}`;
      })
      : parseAllDocuments(out.yaml).map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: { name: string } }).map((d) => {
        assert.equal(d.apiVersion, 'consul.hashicorp.com/v1alpha1');
        return `${d.kind}/${d.metadata.name}`;
      });
    const expected = form === 'hcl'
      ? ['proxy-defaults/global', 'service-defaults/api', 'service-defaults/web', 'service-resolver/api', 'service-splitter/api', 'service-router/api', 'service-router/web', 'service-intentions/api', 'service-intentions/authors', 'service-intentions/web']
      : ['ProxyDefaults/global', 'ServiceDefaults/api', 'ServiceDefaults/web', 'ServiceResolver/api', 'ServiceSplitter/api', 'ServiceRouter/api', 'ServiceRouter/web', 'ServiceIntentions/api', 'ServiceIntentions/authors', 'ServiceIntentions/web'];
    // Resolvers for every service with versions (subsets are how Consul names versions).
    assert.deepEqual(kinds.filter((k) => !/resolver\/|Resolver\//.test(k) || /\/api$/.test(k)).sort(), expected.sort());
  });
}

test('the demo mesh (Bookinfo) round-trips through HCL and CRDs; the per-try timeout Consul lacks is noted', () => {
  const mesh = loadMeshFile(`${REPO}/fixtures/bookinfo/devmesh.yaml`);
  for (const form of CONSUL_FORMS) {
    const out = exportConsul(mesh, form);
    const rt = roundTrip(mesh, out);
    assert.deepEqual(rt.unexplained, []);
    assert.deepEqual(rt.diffs.map((d) => `${d.service} ${d.path}`), ['reviews routes[1].retries.perTryTimeoutMs']);
    assert.deepEqual(out.notes, ['routes.reviews[1] (split): Consul has no per-try timeout; perTryTimeout 1s left out']);
  }
});

test('what Consul cannot express is a note located at the rule or policy, and is left out', () => {
  const mesh = meshWith({
    routes: {
      api: [
        { name: 'chaos', match: [{ uri: { prefix: '/c' } }], route: [{ destination: {} }], fault: { delay: { fixedDelay: '1s' } }, mirror: { host: 'web' } },
        { name: 'teapot', match: [{ uri: { prefix: '/tea' } }], directResponse: { status: 418 } },
        { name: 'from-web', match: [{ sourceLabels: { app: 'web' } }], route: [{ destination: { subset: 'v1' } }] },
        { name: 'other-split', match: [{ uri: { prefix: '/s' } }], route: [{ destination: { subset: 'v1' }, weight: 50 }, { destination: { subset: 'v2' }, weight: 50 }] },
        { name: 'main-split', route: [{ destination: { subset: 'v1' }, weight: 80 }, { destination: { subset: 'v2' }, weight: 20 }] },
      ],
    },
    authorization: [{ name: 'by-ns', service: 'api', action: 'ALLOW', rules: [{ from: [{ source: { namespaces: ['prod'] } }], when: [{ key: 'request.headers[x]', values: ['1'] }] }] }],
    serviceMtls: { web: 'DISABLE' },
  });
  const notes = exportConsul(mesh).notes;
  for (const re of [/^routes\.api\[0\] \(chaos\): fault injection/, /^routes\.api\[0\] \(chaos\): Consul does not mirror/, /^routes\.api\[1\] \(teapot\): directResponse/, /^routes\.api\[2\] \(from-web\): sourceLabels/, /^routes\.api\[3\] \(other-split\): a second traffic split/, /^authorization by-ns\.rules\[0\]: source namespaces/, /^authorization by-ns\.rules\[0\]: when/, /^serviceMtls\.web: .*cannot turn mTLS off/]) {
    assert.ok(notes.some((n) => re.test(n)), `${re}\n${notes.join('\n')}`);
  }
});

for (const { file, mesh } of fixtureMeshes()) {
  for (const form of CONSUL_FORMS) {
    test(`import ${file} → export --to consul (${form}) → import: the same effective policy, but for what the notes name`, () => {
      const out = exportConsul(mesh, form);
      const rt = roundTrip(mesh, out);
      assert.equal(rt.again.report.counts.invalid, 0, JSON.stringify(rt.again.report.entries.filter((e) => e.outcome === 'invalid')));
      assert.deepEqual(rt.unexplained, [], `notes:\n${out.notes.join('\n')}`);
      if (out.notes.length === 0) assert.deepEqual(rt.diffs, []);
    });
  }
}
