// The fuzz loop shared by the bounded run in `npm test` (fuzz.test.ts) and the long one (`npm run fuzz`,
// run-fuzz.ts): the seed corpus first, then generated cases until the time is up, in three parts:
// - parser: response bytes, the sidecar's ResponseParser against Node's llhttp, in-process (many cases);
// - connection: the same bytes from a raw upstream on loopback, the sidecar's H1Pool against node:http;
// - listener: request bytes, straight to a recording node:http app against through a real sidecar.
import fc from 'fast-check';
import { RESPONSES, REQUESTS } from './corpus.js';
import { responses } from './response-arbitraries.js';
import { difference, llhttpOutcome, normalise, ourOutcome } from './response-outcome.js';
import { ConnectionDiff } from './connection-diff.js';
import { LANES, ListenerDiff, requests } from './listener-diff.js';

export interface Disagreement {
  part: 'parser' | 'connection' | 'listener';
  /** The exact bytes, JSON-escaped. */
  bytes: string;
  head?: boolean;
  what: string;
}

export interface FuzzReport {
  seed: number;
  cases: Record<Disagreement['part'], number>;
  disagreements: Disagreement[];
}

/** Share of the time each part gets: the parser part is in-process and cheap, the others go over sockets. */
const SHARE = { parser: 0.4, connection: 0.2, listener: 0.4 };
const BATCH = 50;
/** Disagreements past this many are counted, not kept (one bug tends to show up many times). */
const KEEP = 50;

export async function runFuzz(seconds: number, seed = Date.now() % 2 ** 31, log: (line: string) => void = () => {}): Promise<FuzzReport> {
  const report: FuzzReport = { seed, cases: { parser: 0, connection: 0, listener: 0 }, disagreements: [] };
  const disagree = (d: Disagreement): void => {
    if (report.disagreements.length < KEEP) report.disagreements.push(d);
    log(`disagreement (${d.part}): ${d.bytes}${d.head ? ' (HEAD)' : ''}\n  ${d.what}`);
  };
  const start = performance.now();
  // Each part ends at its share of the whole run, counted from the start (so setup time counts too).
  let deadline = start + seconds * 1000 * SHARE.parser;

  // Parser: whole inputs, and the same inputs cut into pieces (the result must not depend on the reads).
  const parserCase = (bytes: string, head: boolean, cuts: number[]): void => {
    report.cases.parser++;
    const buf = Buffer.from(bytes, 'latin1');
    const ours = ourOutcome(buf, head, cuts);
    const theirs = normalise(ours, llhttpOutcome(buf, head));
    const diff = difference(ours, theirs);
    if (diff !== null) disagree({ part: 'parser', bytes: JSON.stringify(bytes), head, what: `${diff}${cuts.length ? ` (cut at ${cuts.join(',')})` : ''}` });
  };
  for (const s of RESPONSES) {
    parserCase(s.bytes, s.head === true, []);
    for (let i = 1; i < s.bytes.length; i += 7) parserCase(s.bytes, s.head === true, [i, i + 1, i + 3]);
  }
  for (let batch = 0; performance.now() < deadline; batch++) {
    for (const c of fc.sample(responses, { numRuns: BATCH, seed: seed + batch })) parserCase(c.bytes, c.head, c.cuts);
  }

  // Connection: over loopback sockets, so fewer cases.
  deadline = start + seconds * 1000 * (SHARE.parser + SHARE.connection);
  const conn = await ConnectionDiff.start();
  try {
    const connectionCase = async (bytes: string, head: boolean): Promise<void> => {
      report.cases.connection++;
      const diff = await conn.compare(bytes, head);
      if (diff !== null) disagree({ part: 'connection', bytes: JSON.stringify(bytes), head, what: diff });
    };
    for (const s of RESPONSES) await connectionCase(s.bytes, s.head === true);
    for (let batch = 0; performance.now() < deadline; batch++) {
      for (const c of fc.sample(responses, { numRuns: 10, seed: seed + 100_000 + batch })) {
        await connectionCase(c.bytes, c.head);
        if (performance.now() >= deadline) break;
      }
    }
  } finally {
    await conn.close();
  }

  // Listener: requests straight to an app, and through a sidecar to an app, several side by side.
  deadline = start + seconds * 1000;
  const listener = await ListenerDiff.start();
  try {
    const listenerCases = async (cases: string[]): Promise<void> => {
      report.cases.listener += cases.length;
      const diffs = await listener.compare(cases);
      diffs.forEach((diff, i) => {
        if (diff !== null) disagree({ part: 'listener', bytes: JSON.stringify(cases[i]), what: diff });
      });
    };
    const seeds = REQUESTS.map((r) => r.bytes);
    for (let i = 0; i < seeds.length; i += LANES) await listenerCases(seeds.slice(i, i + LANES));
    for (let batch = 0; performance.now() < deadline; batch++) await listenerCases(fc.sample(requests, { numRuns: LANES, seed: seed + 200_000 + batch }));
  } finally {
    await listener.close();
  }
  return report;
}
