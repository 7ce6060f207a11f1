// `npm run conformance`: every transcribed Gateway API conformance test against one devmesh mesh; prints
// the table (test, cases, passed, failed, not applicable and why) and exits 1 when an applicable case fails
// (other than a known gap, which the table names).
// `--only NAME[,NAME]` runs those tests alone.
import { parseArgs } from 'node:util';
import { ConformanceMesh, formatTable, loadTests, totalsOf, type TestResult } from './harness.js';

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const only = values.only?.split(',');
const { tests, notApplicable } = loadTests();
const mesh = await ConformanceMesh.start();
const results: TestResult[] = [];
try {
  for (const t of tests) {
    if (only && !only.includes(t.test)) continue;
    results.push(await mesh.runTest(t, notApplicable));
  }
} finally {
  await mesh.stop();
}
process.stdout.write(`${formatTable(results)}\n`);
const totals = totalsOf(results);
// Known gaps are listed above; any other failing applicable case fails the run.
process.exitCode = totals.failed - totals.knownGapFailures > 0 ? 1 : 0;
