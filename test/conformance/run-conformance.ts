// `npm run conformance`: every transcribed Gateway API conformance test against one devmesh mesh; prints
// the table (test, cases, passed, failed, not applicable and why) and exits 1 when an applicable case fails.
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
process.exitCode = totalsOf(results).failed > 0 ? 1 : 0;
