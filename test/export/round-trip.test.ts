// import(export(policy)) == policy: for every fixture that maps exactly, the imported policy exported to
// Istio and imported again is the same policy, field for field; exported to Gateway API (routes only) and
// imported again it behaves the same (the effective policy, defaults filled in, is equal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { parseMesh } from '../../src/config/load-mesh.js';
import { effectiveRoutes } from '../../src/diff/effective-policy.js';
import { exportGatewayApi, exportIstio, WIDER_RETRY_NOTE } from '../../src/export/export-policy.js';
import { importPolicy } from '../../src/import/import-policy.js';
import { FIXTURES, importFixture, TEST_MESH_YAML, testMesh } from '../import/helpers.js';

const mesh = testMesh();

function withPolicy(policy: object) {
  return parseMesh(`${TEST_MESH_YAML}\ninclude: [p.yaml]\n`, 'test-mesh.yaml', () => JSON.stringify(policy));
}

const exact = ['istio', 'gateway-api', 'linkerd', 'consul']
  .flatMap((d) => readdirSync(`${FIXTURES}/${d}`).map((f) => `${d}/${f}`))
  .filter((f) => {
    const r = importFixture([f]);
    const c = r.report.counts;
    return c.invalid === 0 && c.approximated === 0 && c.ignored === 0 && Object.keys(r.policy).length > 0;
  });

test('the fixtures that map exactly', () => {
  for (const f of ['istio/bookinfo-vs-reviews-jason-v2-v3.yaml', 'istio/bookinfo-vs-reviews-80-20.yaml', 'istio/bookinfo-vs-ratings-test-delay.yaml', 'istio/bookinfo-vs-ratings-test-abort.yaml', 'gateway-api/mesh-split.yaml', 'linkerd/docs-httproute-header-ab.yaml']) {
    assert.ok(exact.includes(f), `${f} maps exactly`);
  }
});

for (const f of exact) {
  test(`round trip through Istio: ${f}`, () => {
    const policy = importFixture([f]).policy;
    const local = withPolicy(policy);
    const { yaml } = exportIstio(local);
    const again = importPolicy([{ name: 'export.yaml', text: yaml }], { mesh }).policy;
    for (const section of ['routes', 'policies', 'authorization', 'external'] as const) {
      assert.deepEqual(again[section], policy[section], `${section} of ${f}`);
    }
    for (const [svc, setting] of Object.entries(policy.serviceMtls ?? {})) assert.deepEqual(again.serviceMtls?.[svc], setting);
  });

  test(`round trip through Gateway API (routes, effective): ${f}`, () => {
    const policy = importFixture([f]).policy;
    if (!policy.routes) return;
    const local = withPolicy(policy);
    const { yaml, notes } = exportGatewayApi(local);
    // Only what Gateway API can say: faults and non-code retry conditions are noted, not round-tripped. A
    // retry that Gateway API widens (it retries resets too) comes back with reset, and otherwise the same.
    const wider = notes.some((n) => n.includes(WIDER_RETRY_NOTE));
    const lossy = notes.filter((n) => !/Istio's default/.test(n) && !n.includes(WIDER_RETRY_NOTE));
    if (lossy.length) return assert.ok(lossy.every((n) => /fault injection|retryOn/.test(n)), lossy.join('\n'));
    const again = withPolicy(importPolicy([{ name: 'export.yaml', text: yaml }], { mesh }).policy);
    for (const svc of Object.keys(policy.routes)) {
      const strip = (rs: Record<string, unknown>[]) => rs.map((r) => ({ ...r, match: r.match }));
      const unwiden = (rs: Record<string, unknown>[]) =>
        rs.map((r) => {
          const retries = r.retries as { retryOn?: string[] } | undefined;
          return wider && retries?.retryOn ? { ...r, retries: { ...retries, retryOn: retries.retryOn.filter((c) => c !== 'reset') } } : r;
        });
      assert.deepEqual(strip(unwiden(effectiveRoutes(again, svc))), strip(effectiveRoutes(local, svc)), `routes.${svc} of ${f}`);
    }
  });
}
