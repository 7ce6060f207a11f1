// The trace store with a million spans: how long the filtered list queries the UI polls take.
// Prints figures (median and worst of repeated runs), it does not assert: timings depend on the machine.
//   npm run build && node dist/test/bench/trace-store.bench.js [spans]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Span, TraceQuery } from '../../src/contract/api.js';
import { TraceStore } from '../../src/telemetry/trace-store.js';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'devmesh-bench-'));
const store = new TraceStore(join(dir, 'traces.db'), { maxSpans: TOTAL * 2, maxAgeMs: 365 * 86_400_000 });

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');
// A Bookinfo-like trace: 8 spans (ingress client, productpage server, 2 calls out, reviews → ratings).
function trace(i: number, t0: number): Span[] {
  const id = hex(i, 32);
  const failed = i % 50 === 0;
  const retried = i % 20 === 0;
  const mk = (n: number, parent: number | null, service: string, kind: Span['kind'], peer: string | null, start: number, dur: number, extra: Partial<Span> = {}): Span => ({
    traceId: id,
    spanId: hex(i * 8 + n, 16),
    parentSpanId: parent === null ? null : hex(i * 8 + parent, 16),
    kind,
    service,
    instanceId: `${service}-0`,
    peerService: peer,
    method: 'GET',
    path: kind === 'client' && peer ? `/${peer}` : '/productpage',
    status: 200,
    startMs: t0 + start,
    durationMs: dur,
    attempts: 1,
    error: null,
    attributes: { mtls: true, ...(peer ? { route: `${peer}/default` } : {}) },
    ...extra,
  });
  return [
    mk(0, null, 'ingress', 'client', 'productpage', 0, 20 + (i % 30)),
    mk(1, 0, 'productpage', 'server', null, 1, 18 + (i % 30)),
    mk(2, 1, 'productpage', 'client', 'details', 2, 3),
    mk(3, 2, 'details', 'server', null, 2.5, 2),
    mk(4, 1, 'productpage', 'client', 'reviews', 6, 10 + (i % 30), retried ? { attempts: 2, attributes: { mtls: true, route: 'reviews/split', 'retry.reasons': '503' } } : {}),
    mk(5, 4, 'reviews', 'server', null, 6.5, 9, failed ? { status: 503 } : {}),
    mk(6, 5, 'reviews', 'client', 'ratings', 7, 4),
    mk(7, 6, 'ratings', 'server', null, 7.5, 3),
  ];
}

const t0 = Date.now() - 3600_000;
const started = performance.now();
const BATCH = 100; // traces per batch: sidecars report in batches of this order
for (let i = 0; i < TOTAL / 8; i += BATCH) {
  const spans: Span[] = [];
  for (let j = i; j < Math.min(i + BATCH, TOTAL / 8); j++) spans.push(...trace(j + 1, t0 + j * 25));
  store.add(spans);
}
const insertMs = performance.now() - started;
const count = store.spanCount();
console.log(`stored ${count.toLocaleString('en')} spans (${(count / 8).toLocaleString('en')} traces) in ${(insertMs / 1000).toFixed(1)} s, ${Math.round(count / (insertMs / 1000)).toLocaleString('en')} spans/s; file ${(statSync(join(dir, 'traces.db')).size / 1e6).toFixed(0)} MB`);

function measure(name: string, q: TraceQuery, runs = 21): void {
  const times: number[] = [];
  let n = 0;
  for (let r = 0; r < runs; r++) {
    const a = performance.now();
    n = store.listTraces(q).length;
    times.push(performance.now() - a);
  }
  times.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} ${String(n).padStart(4)} rows  median ${times[runs >> 1]!.toFixed(2).padStart(7)} ms  worst ${times.at(-1)!.toFixed(2).padStart(7)} ms`);
}

const mid = t0 + (TOTAL / 8 / 2) * 25;
measure('newest 50, no filter', { limit: 50 });
measure('service=ratings', { service: 'ratings', limit: 50 });
measure('status=error (1 trace in 50)', { status: 'error', limit: 50 });
measure('route=reviews/split (1 in 20)', { route: 'reviews/split', limit: 50 });
measure('minDuration 45 ms', { minDurationMs: 45, limit: 50 });
measure('service + error + time range (middle hour)', { service: 'reviews', status: 'error', fromMs: mid - 600_000, toMs: mid, limit: 50 });
measure('attribute retry.reasons=503 (1 in 20)', { attribute: 'retry.reasons=503', limit: 50 });
measure('live poll: sinceMs newest − 2 s', { sinceMs: t0 + (TOTAL / 8) * 25 - 2000, limit: 50 });
const a = performance.now();
const removed = (() => {
  const s = new TraceStore(join(dir, 'traces.db'), { maxSpans: TOTAL - 80_000, maxAgeMs: 365 * 86_400_000 });
  const r = s.prune();
  s.close();
  return r;
})();
console.log(`prune to ${(TOTAL - 80_000).toLocaleString('en')} spans: removed ${removed.toLocaleString('en')} in ${(performance.now() - a).toFixed(0)} ms`);
store.close();
rmSync(dir, { recursive: true, force: true });
