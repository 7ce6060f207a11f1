// The differential fuzzers inside `npm test`, bounded (FUZZ_SECONDS, default 30 here; `npm run fuzz`
// runs them for 10 minutes). The seed is printed so a failure can be repeated with FUZZ_SEED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz } from './fuzz-run.js';

test('the sidecar reads HTTP/1.1 as Node (llhttp) does: responses byte for byte, over connections, and requests through its listeners', { timeout: 240_000 }, async () => {
  const seconds = Number(process.env.FUZZ_SECONDS ?? 30);
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
  const report = await runFuzz(seconds, seed);
  const lines = report.disagreements.map((d) => `${d.part}${d.head ? ' (HEAD)' : ''}: ${d.bytes}\n  ${d.what}`);
  console.log(`fuzz seed ${report.seed}: parser ${report.cases.parser}, connection ${report.cases.connection}, listener ${report.cases.listener} cases`);
  assert.equal(report.disagreements.length, 0, `seed ${report.seed}:\n${lines.join('\n')}`);
  assert.ok(report.cases.listener > 0 && report.cases.connection > 0, 'every part ran');
});
