// What storing spans costs the control plane, per span: CPU (process.cpuUsage) and disk (bytes this process
// wrote, from /proc/self/io, and how much the db + WAL files grew). The spans are fed exactly as the control
// plane receives them: encoded by encodeSpan into batches as a sidecar's exporter does, decoded with
// decodeSpanBatch as SidecarHandle does, then Telemetry.addSpans (trace store, tap, metrics), with the
// store pruned every 30 s of simulated time as the control plane's timer does. Encoding is the sidecars'
// work and is left out of the figures.
//
// The traffic is a mesh at 3,000 req/s: wrk → ingress → sidecar A → app A, half the requests also calling
// app B through A's sidecar (2 or 4 spans per request, 3 on average), with the headers a browser-ish
// client sends. A warm-up fills the store to its retention bound first, so what is measured is the steady
// state a running mesh sits in (inserts and prunes), not an empty file.
// Prints figures, asserts nothing: timings depend on the machine.
//   npm run build && node dist/test/bench/span-ingest.bench.js [measuredSpans] [warmupSpans]
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSpanBatch, encodeSpan, type SpanSource } from '../../proxy/protocol/span-wire.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import * as traceStore from '../../src/telemetry/trace-store.js';

const MEASURED = Number(process.argv[2] ?? 150_000);
const WARMUP = Number(process.argv[3] ?? 250_000);
const RATE = 3000; // requests per second of simulated time
const WINDOW_MS = 200; // a sidecar exporter's flush interval
const MAX_BATCH = 500; // and its batch bound
const PRUNE_EVERY_MS = 30_000;

// On disk, not tmpfs: /proc/self/io counts block-device writes.
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? process.cwd(), '.span-ingest-'));
const dbFile = join(dir, 'traces.db');
const telemetry = new Telemetry({ tracesDb: dbFile, mesh: 'bench', otlpPort: null, log: (l) => console.error(l) });

let seq = 0;
const rand = (len: number): string => {
  let s = '';
  while (s.length < len) s += Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, '0');
  return s.slice(0, len);
};

function responseHead(status: number, length: number, now: number): string {
  return `HTTP/1.1 ${status} OK\r\ncontent-type: application/json\r\ndate: ${new Date(now).toUTCString()}\r\ncontent-length: ${length}\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\n`;
}

/** One request's spans, as the three (or two) sidecars on its path record them. */
function request(t: number): { ingress: SpanSource[]; a: SpanSource[]; b: SpanSource[] } {
  const traceId = rand(32);
  const n = seq++;
  const path = `/api/items/${n % 500}?page=${n % 7}`;
  const status = n % 97 === 0 ? 503 : 200;
  const clientHeaders = ['Host', '127.0.0.1:8080', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36', 'Accept', 'application/json', 'Accept-Encoding', 'gzip, deflate, br', 'Authorization', `Bearer ${rand(40)}`];
  const forwarded = (parent: string): string[] => [
    'host', 'a.mesh.local', 'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36', 'accept', 'application/json', 'accept-encoding', 'gzip, deflate, br',
    'authorization', `Bearer ${rand(40)}`, 'traceparent', `00-${traceId}-${parent}-01`, 'x-forwarded-proto', 'http', 'x-request-id', rand(32), 'x-devmesh-peer', `spiffe://devmesh.local/ns/default/sa/ingress`,
  ];
  const ingressSpan = rand(16);
  const aServer = rand(16);
  const ingress: SpanSource = {
    traceId, spanId: ingressSpan, parentSpanId: null, kind: 'client', service: 'ingress', instanceId: 'ingress-0', peerService: 'a',
    method: 'GET', path, status, startMs: t, durationMs: 1.234 + (n % 13) * 0.1, attempts: 1, error: null,
    attributes: { listener: 'http', route: 'a/default', 'route.index': 0, mtls: true, endpoint: 'a-0' },
    requestHeaders: clientHeaders, responseHeaders: responseHead(status, 120, t),
  };
  const a: SpanSource[] = [{
    traceId, spanId: aServer, parentSpanId: ingressSpan, kind: 'server', service: 'a', instanceId: 'a-0', peerService: null,
    method: 'GET', path, status, startMs: t + 0.2, durationMs: 0.9 + (n % 11) * 0.1, attempts: 1, error: null,
    attributes: { mtls: true, 'peer.spiffe': 'spiffe://devmesh.local/ns/default/sa/ingress', 'authz.allowed': true, 'authz.by': 'default-allow' },
    requestHeaders: forwarded(ingressSpan), responseHeaders: responseHead(status, 120, t),
  }];
  const b: SpanSource[] = [];
  if (n % 2 === 1) {
    const aClient = rand(16);
    a.push({
      traceId, spanId: aClient, parentSpanId: aServer, kind: 'client', service: 'a', instanceId: 'a-0', peerService: 'b',
      method: 'GET', path: `/b/${n % 100}`, status: 200, startMs: t + 0.4, durationMs: 0.5, attempts: 1, error: null,
      attributes: { listener: 'B_URL', route: 'b/default', 'route.index': 0, mtls: true, endpoint: 'b-0' },
      requestHeaders: ['Host', '127.0.0.1:15001', 'traceparent', `00-${traceId}-${aServer}-01`, 'Connection', 'keep-alive'], responseHeaders: responseHead(200, 40, t),
    });
    b.push({
      traceId, spanId: rand(16), parentSpanId: aClient, kind: 'server', service: 'b', instanceId: 'b-0', peerService: null,
      method: 'GET', path: `/b/${n % 100}`, status: 200, startMs: t + 0.5, durationMs: 0.3, attempts: 1, error: null,
      attributes: { mtls: true, 'peer.spiffe': 'spiffe://devmesh.local/ns/default/sa/a', 'authz.allowed': true, 'authz.by': 'default-allow' },
      requestHeaders: ['host', 'b.mesh.local', 'traceparent', `00-${traceId}-${aClient}-01`, 'x-devmesh-peer', 'spiffe://devmesh.local/ns/default/sa/a'], responseHeaders: responseHead(200, 40, t),
    });
  }
  return { ingress: [ingress], a, b };
}

/** The batches the control plane receives in one flush window: each sidecar's spans, ≤ MAX_BATCH each. */
function windowBatches(t0: number): { batches: Buffer[]; spans: number } {
  const per = { ingress: [] as SpanSource[], a: [] as SpanSource[], b: [] as SpanSource[] };
  const requests = (RATE * WINDOW_MS) / 1000;
  for (let i = 0; i < requests; i++) {
    const r = request(t0 + (i * 1000) / RATE);
    per.ingress.push(...r.ingress);
    per.a.push(...r.a);
    per.b.push(...r.b);
  }
  const batches: Buffer[] = [];
  let spans = 0;
  for (const list of [per.ingress, per.a, per.b]) {
    for (let i = 0; i < list.length; i += MAX_BATCH) {
      batches.push(Buffer.from(list.slice(i, i + MAX_BATCH).map(encodeSpan).join(''), 'utf8'));
      spans += Math.min(MAX_BATCH, list.length - i);
    }
  }
  return { batches, spans };
}

function io(): { written: number; wchar: number } {
  const text = readFileSync('/proc/self/io', 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { written: get('write_bytes'), wchar: get('wchar') };
}
const fileBytes = (): number => {
  let n = 0;
  for (const f of ['traces.db', 'traces.db-wal']) {
    try {
      n += statSync(join(dir, f)).size;
    } catch {
      /* no WAL yet */
    }
  }
  return n;
};

let simNow = Date.now() - 3600_000;
let nextPrune = simNow + PRUNE_EVERY_MS;
// The store's commit timer runs on wall time, and this loop never yields: commit on simulated time instead.
// (A store without one, before it buffered, wrote every batch as it came.)
const COMMIT_MS = (traceStore as { COMMIT_MS?: number }).COMMIT_MS;
let nextCommit = simNow + (COMMIT_MS ?? 0);
const totals = { spans: 0, cpuUs: 0, maxStepMs: 0, pruneCpuUs: 0, batches: 0 };
function run(spanTarget: number, measure: boolean): void {
  let done = 0;
  while (done < spanTarget) {
    const { batches, spans } = windowBatches(simNow);
    simNow += WINDOW_MS;
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    for (const batch of batches) telemetry.addSpans(decodeSpanBatch(batch));
    if (COMMIT_MS !== undefined && simNow >= nextCommit) {
      nextCommit += COMMIT_MS;
      (telemetry.store as { flush?: () => void }).flush?.();
    }
    let pruneUs = 0;
    if (simNow >= nextPrune) {
      nextPrune += PRUNE_EVERY_MS;
      const p0 = process.cpuUsage();
      telemetry.store.prune(simNow);
      const p = process.cpuUsage(p0);
      pruneUs = p.user + p.system;
    }
    const wall = performance.now() - w0;
    const c = process.cpuUsage(c0);
    done += spans;
    if (measure) {
      totals.spans += spans;
      totals.cpuUs += c.user + c.system;
      totals.pruneCpuUs += pruneUs;
      totals.batches += batches.length;
      totals.maxStepMs = Math.max(totals.maxStepMs, wall);
    }
  }
}

const w0 = performance.now();
run(WARMUP, false);
console.log(`warm-up: ${WARMUP.toLocaleString('en')} spans in ${((performance.now() - w0) / 1000).toFixed(1)} s; store holds ${telemetry.store.spanCount().toLocaleString('en')} (bound ${telemetry.store.limits.maxSpans.toLocaleString('en')}, pruned every 30 s of traffic)`);
const io0 = io();
const f0 = fileBytes();
const m0 = performance.now();
run(MEASURED, true);
const io1 = io();
const f1 = fileBytes();
const perSpan = (n: number) => n / totals.spans;
console.log(`measured: ${totals.spans.toLocaleString('en')} spans in ${totals.batches} batches, ${((performance.now() - m0) / 1000).toFixed(1)} s wall (encoding included)`);
console.log(`  CPU            ${perSpan(totals.cpuUs).toFixed(1).padStart(8)} µs/span  (prune ${perSpan(totals.pruneCpuUs).toFixed(1)} of it); ×3 spans = ${(perSpan(totals.cpuUs) * 3).toFixed(0)} µs/request`);
console.log(`  disk written   ${(perSpan(io1.written - io0.written) / 1024).toFixed(2).padStart(8)} KB/span  (write_bytes); write() calls ${(perSpan(io1.wchar - io0.wchar) / 1024).toFixed(2)} KB/span (wchar)`);
console.log(`  files          ${((f1 - f0) / 1e6).toFixed(1).padStart(8)} MB growth; db+wal now ${(f1 / 1e6).toFixed(1)} MB for ${telemetry.store.spanCount().toLocaleString('en')} spans (${(f1 / telemetry.store.spanCount()).toFixed(0)} B/span)`);
console.log(`  longest window ${totals.maxStepMs.toFixed(1).padStart(8)} ms of event loop for ${WINDOW_MS} ms of traffic`);
await telemetry.stop();
rmSync(dir, { recursive: true, force: true });
