// The Gateway API conformance suite (kubernetes-sigs/gateway-api, transcribed in test/conformance/cases/)
// against one real devmesh mesh: one subtest per upstream test. A test that cannot apply to a laptop mesh
// is skipped with its reason; a known gap of devmesh is a todo with its reason (both in
// not-applicable.json); every other case must behave as the suite expects. `npm run conformance` prints
// the same results as a table.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConformanceMesh, loadTests } from './harness.js';

const { tests, notApplicable } = loadTests();

describe('Gateway API conformance', () => {
  let mesh: ConformanceMesh | undefined;
  before(async () => {
    mesh = await ConformanceMesh.start();
  });
  after(async () => {
    await mesh?.stop();
  });

  for (const data of tests) {
    const whole = notApplicable.tests[data.test] ?? data.features.map((f) => notApplicable.unsupportedFeatures[f] && `${f} not claimed: ${notApplicable.unsupportedFeatures[f]}`).find(Boolean);
    const gap = notApplicable.knownGaps[data.test];
    it(`${data.test} (${data.upstream.path})`, { ...(whole ? { skip: whole } : {}), ...(gap ? { todo: gap } : {}) }, async () => {
      const result = await mesh!.runTest(data, notApplicable);
      const failed = result.cases.filter((c) => c.outcome === 'failed');
      assert.ok(result.cases.some((c) => c.outcome === 'passed') || data.cases.length === 0 || failed.length > 0, 'no case ran');
      assert.deepEqual(failed.map((c) => `${c.name}: ${c.detail}`), []);
    });
  }
});
