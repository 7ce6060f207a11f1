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
import { fixtureMeshes, meshWith, roundTrip } from './round-trip-helpers.js';

/** Everything the Consul exporter can write exactly: router matches and destinations, a split, resolver settings, intentions, mTLS modes. */
const CONSUL_EXACT = {
  routes: {
    api: [
      {
        name: 'admin',
        match: [{ uri: { prefix: '/admin' }, headers: { 'x-user': { exact: 'ops' }, 'x-team': { prefix: 'pay' } }, method: { exact: 'POST' } }],
        route: [{ destination: { subset: 'v2' } }],
        rewrite: { uri: '/internal' },
        headers: { request: { set: { 'x-a': '1' }, remove: ['x-b'] }, response: { add: { 'x-c': '2' } } },
        retries: { attempts: 3, retryOn: '5xx,connect-failure,503,reset' },
        timeout: '2s',
      },
      // Two match blocks (an OR) become two routes; an inverted "present" header and a regex path.
      { name: 'elsewhere', match: [{ queryParams: { debug: { exact: '1' } }, withoutHeaders: { 'x-canary': {} } }, { uri: { regex: '/v[0-9]+/.*' } }], route: [{ destination: { host: 'authors' } }], retries: { attempts: 0 } },
      { name: 'reads', match: [{ uri: { exact: '/status' }, method: { regex: '^(GET|HEAD)$' } }], route: [{ destination: { subset: 'v1' } }] },
      { name: 'split', route: [{ destination: { subset: 'v1' }, weight: 90 }, { destination: { subset: 'v2' }, weight: 10, headers: { request: { set: { 'x-canary': '1' } } } }], retries: { attempts: 0 } },
    ],
    web: [{ name: 'pinned', route: [{ destination: { subset: 'v1', host: 'api' } }], retries: { attempts: 1, retryOn: 'gateway-error' }, timeout: '1500ms' }],
  },
  policies: { api: { connectionPool: { tcp: { connectTimeout: '3s' } }, loadBalancer: { simple: 'LEAST_REQUEST' as const } } },
  serviceMtls: { api: 'PERMISSIVE' as const },
  authorization: [
    { name: 'api-callers', service: 'api', action: 'ALLOW' as const, rules: [{ from: [{ source: { services: ['web'] } }] }, { from: [{ source: { services: ['authors'] } }], to: [{ operation: { paths: ['/health', '/v1/*'], methods: ['GET'] } }] }] },
    { name: 'no-admin', service: 'api', action: 'DENY' as const, rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] },
    { name: 'authors-from', service: 'authors', action: 'ALLOW' as const, rules: [{ from: [{ source: { services: ['web', 'api'] } }] }] },
    { name: 'web-not-smiley', service: 'web', action: 'DENY' as const, rules: [{ from: [{ source: { services: ['smiley'] } }] }] },
  ],
};

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
