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
import { ListenerDiff, requests } from './listener-diff.js';

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
const SHARE = { parser: 0.5, connection: 0.2, listener: 0.3 };
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
  deadline = performance.now() + seconds * 1000 * SHARE.connection;
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

  // Listener: requests straight to an app, and through a sidecar to an app.
  deadline = start + seconds * 1000;
  const listener = await ListenerDiff.start();
  try {
    const listenerCase = async (bytes: string): Promise<void> => {
      report.cases.listener++;
      const diff = await listener.compare(bytes);
      if (diff !== null) disagree({ part: 'listener', bytes: JSON.stringify(bytes), what: diff });
    };
    for (const s of REQUESTS) await listenerCase(s.bytes);
    for (let batch = 0; performance.now() < deadline; batch++) {
      for (const bytes of fc.sample(requests, { numRuns: 10, seed: seed + 200_000 + batch })) {
        await listenerCase(bytes);
        if (performance.now() >= deadline) break;
      }
    }
  } finally {
    await listener.close();
  }
  return report;
}
