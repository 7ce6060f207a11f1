// `npm run fuzz`: the differential fuzzers for FUZZ_SECONDS (default 600), then the number of cases tried
// and every disagreement, as the exact bytes (JSON-escaped) and both readings; exits 1 on any.
// FUZZ_SEED repeats a run.
import { runFuzz } from './fuzz-run.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 600);
const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
const report = await runFuzz(seconds, seed, (line) => console.log(line));
const total = report.cases.parser + report.cases.connection + report.cases.listener;
console.log(`\nfuzz: ${seconds} s, seed ${report.seed}: ${total} cases (parser ${report.cases.parser}, connection ${report.cases.connection}, listener ${report.cases.listener}), ${report.disagreements.length} disagreements`);
for (const d of report.disagreements) console.log(`- ${d.part}${d.head ? ' (HEAD)' : ''}: ${d.bytes}\n  ${d.what}`);
process.exitCode = report.disagreements.length > 0 ? 1 : 0;
