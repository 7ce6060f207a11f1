// The product's speed, as a user runs it: `devmesh up` on a one-service mesh of its own (wrk → ingress
// sidecar → mTLS → app sidecar → app, every request traced into the real trace store, the default), beside
// the same app called directly, the nginx mTLS pair in front of it, and a bare Node.js mTLS proxy pair (the
// floor the runtime puts under any Node sidecar: bench-kit.ts), alternating in one run. Per target:
// req/s and p50/p99 at fixed concurrency, p50 at one connection, and for the mesh the CPU each kind of
// process used per request and the bytes it wrote to disk per request (/proc utime+stime and write_bytes
// around each run). Never a test: read the figures beside the baseline of the same run, never assert them.
//
//   npm run build && node dist/test/bench/product.bench.js [--seconds 5] [--connections 16] [--runs 2]
//       [--only devmesh,direct,nginx,node] [--sampling PERCENT] [--profile]
// `--only devmesh` prints the mesh's figures alone (quick before/after on a branch). `--profile` adds one more
// loaded run per kind of mesh process (control plane, ingress sidecar, app sidecar) with that process's V8
// profiler on (through its inspector, so the measured rounds are not slowed), prints its top functions and
// files by self time, and keeps the .cpuprofile for DevTools.
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { LocalCa } from '../../src/ca/local-ca.js';
import { processesOfHome, REPO, startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { APP_SOURCE, Cleanups, cpuMs, fig, load, LOADGEN, median, startNginxPair, startNodePair, withChildren, writeBytes, type LoadResult } from './bench-kit.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    runs: { type: 'string', default: '2' },
    only: { type: 'string', default: 'direct,devmesh,nginx,node' },
    sampling: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const RUNS = Number(args.runs);
const ONLY = new Set(args.only.split(',').map((s) => s.trim()));

/** The kinds of process a mesh runs, as the report groups them. */
const KINDS = ['ingress sidecar', 'app sidecar', 'control plane', 'app', 'other'] as const;
type Kind = (typeof KINDS)[number];

/** Which kind each of the mesh's live processes is, read from its command line. */
function meshProcesses(home: string): Map<Kind, number[]> {
  const byKind = new Map<Kind, number[]>(KINDS.map((k) => [k, []]));
  for (const pid of processesOfHome(home)) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const entry = argv[1] ?? '';
    const kind: Kind = entry.endsWith('proxy/main.js')
      ? argv[2]?.startsWith('ingress-')
        ? 'ingress sidecar'
        : 'app sidecar'
      : entry.endsWith('bin/devmesh.js') && argv[2] === 'up'
        ? 'control plane'
        : entry.endsWith('reaper-main.js')
          ? 'other'
          : 'app'; // the app's shell and the node it runs
    byKind.get(kind)!.push(pid);
  }
  return byKind;
}

interface Run extends LoadResult {
  /** CPU µs per request by kind of process (for nginx: 'proxies'; for every target: 'app'). */
  cpuUs: Map<string, number>;
  /** Bytes written to disk per request by kind, and in total. */
  diskB: Map<string, number>;
}

interface Target {
  name: string;
  url: string;
  /** The processes to read around a run, by kind. */
  processes(): Map<string, number[]>;
}

async function measure(target: Target, connections: number, seconds: number): Promise<Run> {
  const groups = target.processes();
  const cpuBefore = new Map([...groups].map(([k, pids]) => [k, cpuMs(pids)]));
  const diskBefore = new Map([...groups].map(([k, pids]) => [k, writeBytes(pids)]));
  const r = await load(target.url, seconds, connections);
  const cpuUs = new Map<string, number>();
  const diskB = new Map<string, number>();
  let totalDisk = 0;
  for (const [k, pids] of groups) {
    if (pids.length === 0) continue;
    cpuUs.set(k, ((cpuMs(pids) - cpuBefore.get(k)!) * 1000) / r.requests);
    const written = writeBytes(pids) - diskBefore.get(k)!;
    diskB.set(k, written / r.requests);
    totalDisk += written;
  }
  diskB.set('total', totalDisk / r.requests);
  return { ...r, cpuUs, diskB };
}

/** Sum of devmesh_spans_stored_total on the API's /metrics (read outside the measured runs: it scrapes every sidecar). */
async function spansStored(mesh: RunningMesh): Promise<number> {
  const res = await fetch(`${mesh.apiBase}/metrics`, { headers: { authorization: `Bearer ${mesh.token}` } });
  const text = await res.text();
  let n = 0;
  for (const m of text.matchAll(/^devmesh_spans_stored_total(?:\{[^}]*\})? ([\d.e+]+)$/gm)) n += Number(m[1]);
  return n;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Profiles `pid` (a Node process of this checkout) while `during` runs: SIGUSR1 opens its inspector on
 * 127.0.0.1:9229, as `node --inspect` would, and the profiler is driven over the DevTools protocol.
 */
async function profile(pid: number, during: () => Promise<unknown>): Promise<CpuProfile> {
  process.kill(pid, 'SIGUSR1');
  const targets = await waitFor('the inspector on 127.0.0.1:9229', async () => {
    const list = (await (await fetch('http://127.0.0.1:9229/json/list')).json()) as Array<{ url: string; webSocketDebuggerUrl: string }>;
    return list.find((t) => t.url.includes(REPO));
  }, 5_000);
  const ws = new WebSocket(targets.webSocketDebuggerUrl);
  await once(ws, 'open');
  const replies = new Map<number, (result: unknown) => void>();
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { id?: number; result?: unknown };
    if (m.id !== undefined) replies.get(m.id)?.(m.result);
  });
  let next = 0;
  const call = <T>(method: string, params: object = {}): Promise<T> =>
    new Promise((resolve) => {
      replies.set(++next, resolve as (r: unknown) => void);
      ws.send(JSON.stringify({ id: next, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 250 });
  await call('Profiler.start');
  await during();
  const { profile: p } = await call<{ profile: CpuProfile }>('Profiler.stop');
  // The next process profiled needs port 9229: the inspector closes itself once this session has gone.
  await call('Runtime.evaluate', { expression: "setTimeout(() => process.getBuiltinModule('node:inspector').close(), 200), 0" });
  ws.close();
  await waitFor('the inspector on 127.0.0.1:9229 to close', async () => {
    try {
      await fetch('http://127.0.0.1:9229/json/list');
      return undefined;
    } catch {
      return true;
    }
  }, 5_000);
  return p;
}

/** The top self-time functions and files of a V8 CPU profile. */
function summariseProfile(prof: CpuProfile, top = 15): void {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const short = (url: string): string => url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');
  const name = (id: number): string => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    return `${functionName || '(anonymous)'}${url ? ` ${short(url)}:${lineNumber + 1}` : ''}`;
  };
  const selfUs = new Map<number, number>();
  prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url } = byId.get(id)!.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') continue;
    busy += us;
    // A native function (better-sqlite3's run/all, a Buffer copy) says little alone: name its JavaScript caller.
    const caller = parent.get(id);
    const fn = !url && caller !== undefined && byId.get(caller)!.callFrame.url ? `${name(id)} ← ${name(caller)}` : name(id);
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    const f = url ? short(url) : caller !== undefined && byId.get(caller)!.callFrame.url ? `${short(byId.get(caller)!.callFrame.url)} (native calls)` : functionName;
    files.set(f, (files.get(f) ?? 0) + us);
  }
  const show = (title: string, m: Map<string, number>) => {
    console.log(`  ${title}`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${k}`);
  };
  console.log(`${(busy / 1000).toFixed(0)} ms busy (idle and "(program)" left out), self time`);
  show('by function', fns);
  show('by file', files);
}

const cleanups = new Cleanups();
try {
  const yaml = `name: bench
ingress:
  - port: 0
    service: bench
services:
  bench:
    run: node app.js
${args.sampling !== undefined ? `tracing: { sampling: ${Number(args.sampling)} }\n` : ''}`;
  // The app also writes the port it was given, so the bench can call it directly.
  const appSource = `require('node:fs').writeFileSync('app.port', String(process.env.PORT));\n${APP_SOURCE}`;
  const mesh = await startMesh({
    yaml,
    files: { 'app.js': appSource },
  });
  cleanups.after(() => mesh.stop());
  const appPort = Number(await waitFor('app.port', () => readFileSync(join(mesh.dir, 'app.port'), 'utf8') || undefined));
  const ingress = mesh.ingress.bench!;

  const meshGroups = (): Map<string, number[]> => meshProcesses(mesh.home);
  const appOnly = (): Map<string, number[]> => new Map([['app', meshGroups().get('app')!]]);
  const targets: Target[] = [];
  if (ONLY.has('direct')) targets.push({ name: 'direct', url: `http://127.0.0.1:${appPort}/item`, processes: appOnly });
  if (ONLY.has('devmesh')) targets.push({ name: 'devmesh up', url: `${ingress}/item`, processes: meshGroups });
  const ca = LocalCa.loadOrCreate(join(mesh.home, 'ca')); // the mesh's own root signs the baseline pairs too
  const issue = (name: string) => ca.issue({ commonName: name, uris: [`spiffe://bench/ns/default/sa/${name}`], dnsNames: [name] });
  if (ONLY.has('nginx')) {
    const nginx = await startNginxPair({ dir: join(mesh.dir, 'nginx'), caPem: ca.rootPem, issue, appPort, cleanups });
    if (nginx) targets.push({ name: 'nginx pair (mTLS)', url: `http://127.0.0.1:${nginx.port}/item`, processes: () => new Map([['proxies', withChildren(nginx.pids)], ...appOnly()]) });
  }
  if (ONLY.has('node')) {
    const node = await startNodePair({ dir: join(mesh.dir, 'node-pair'), caPem: ca.rootPem, issue, appPort, cleanups });
    targets.push({ name: 'bare Node pair', url: `http://127.0.0.1:${node.port}/item`, processes: () => new Map([['proxies', node.pids], ...appOnly()]) });
  }

  for (const t of targets) await load(t.url, 1, CONNECTIONS); // warm-up: JIT, connections, TLS sessions
  const spansBefore = ONLY.has('devmesh') ? await spansStored(mesh) : 0;
  const light = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
  const heavy = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
  // Rounds alternate the targets, so a machine whose speed drifts during the run drifts for all of them.
  for (let round = 0; round < RUNS; round++) {
    for (const t of targets) light.get(t.name)!.push(await measure(t, 1, Math.max(2, Math.round(SECONDS / 2))));
    for (const t of targets) heavy.get(t.name)!.push(await measure(t, CONNECTIONS, SECONDS));
  }
  const meshRequests = [...light.get('devmesh up') ?? [], ...heavy.get('devmesh up') ?? []].reduce((n, r) => n + r.requests, 0);
  // Spans reach the store within a flush interval (200 ms) plus the write.
  await new Promise((r) => setTimeout(r, 1_000));
  const spansAfter = ONLY.has('devmesh') ? await spansStored(mesh) : 0;

  console.log(`\ndevmesh up, one service behind its ingress; node ${process.version}, ${LOADGEN}, loopback, keep-alive, ${RUNS} rounds of ${SECONDS} s, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
  console.log(`tracing.sampling ${args.sampling ?? '100 (default)'}${ONLY.has('devmesh') ? `; spans stored per mesh request: ${((spansAfter - spansBefore) / meshRequests).toFixed(2)}` : ''}`);
  const cpuCols = ['ingress sidecar', 'app sidecar', 'control plane', 'app', 'proxies'];
  const diskCols = ['control plane', 'total'];
  for (const [title, rows] of [[`fixed concurrency (${CONNECTIONS} connections)`, heavy], ['light load (1 connection)', light]] as const) {
    console.log(`\n${title}; CPU µs/request by process, disk bytes written/request`);
    console.log(
      `${'target'.padEnd(18)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${cpuCols.map((c) => c.replace(' sidecar', '').padStart(9)).join(' ')} ${diskCols.map((c) => `disk ${c === 'total' ? 'all' : 'cp'}`.padStart(9)).join(' ')}`,
    );
    for (const [name, runs] of rows) {
      for (const r of runs) {
        console.log(
          `${name.padEnd(18)} ${fig(r.rps, 0, 8)} ${fig(r.p50, 3, 7)} ${fig(r.p99, 3, 7)} ${cpuCols.map((c) => fig(r.cpuUs.get(c) ?? NaN, 1)).join(' ')} ${diskCols.map((c) => fig(r.diskB.get(c) ?? NaN, 0)).join(' ')}`,
        );
      }
    }
  }

  const med = (rows: Map<string, Run[]>, name: string, f: (r: Run) => number): number => median((rows.get(name) ?? []).map(f));
  const perRound = (a: string, b: string): string =>
    (heavy.get(a) ?? []).map((r, i) => (r.rps / (heavy.get(b)?.[i]?.rps ?? NaN)).toFixed(2)).join(', ');
  console.log('\nsummary (medians of the rounds)');
  if (heavy.has('devmesh up') && heavy.has('nginx pair (mTLS)')) console.log(`devmesh / nginx req/s:        ${perRound('devmesh up', 'nginx pair (mTLS)')}   (goal ≥ 0.6)`);
  if (heavy.has('devmesh up') && heavy.has('direct')) console.log(`devmesh / direct req/s:       ${perRound('devmesh up', 'direct')}`);
  if (heavy.has('devmesh up')) {
    console.log(`devmesh req/s:                ${med(heavy, 'devmesh up', (r) => r.rps).toFixed(0)}`);
    for (const k of ['ingress sidecar', 'app sidecar', 'control plane', 'app'])
      console.log(`CPU µs/req, ${k.padEnd(17)} ${med(heavy, 'devmesh up', (r) => r.cpuUs.get(k) ?? NaN).toFixed(1)}`);
    console.log(`CPU µs/req, mesh beyond app:  ${med(heavy, 'devmesh up', (r) => ['ingress sidecar', 'app sidecar', 'control plane', 'other'].reduce((s, k) => s + (r.cpuUs.get(k) ?? 0), 0)).toFixed(1)}`);
    console.log(`disk B/req, control plane:    ${med(heavy, 'devmesh up', (r) => r.diskB.get('control plane') ?? NaN).toFixed(0)}   (goal ≤ 2 KB per stored span)`);
    console.log(`disk B/req, whole mesh:       ${med(heavy, 'devmesh up', (r) => r.diskB.get('total') ?? NaN).toFixed(0)}`);
  }
  if (heavy.has('nginx pair (mTLS)')) console.log(`CPU µs/req, nginx pair:       ${med(heavy, 'nginx pair (mTLS)', (r) => r.cpuUs.get('proxies') ?? NaN).toFixed(1)}`);
  if (heavy.has('bare Node pair')) {
    console.log(`CPU µs/req, bare Node pair:   ${med(heavy, 'bare Node pair', (r) => r.cpuUs.get('proxies') ?? NaN).toFixed(1)}`);
    if (heavy.has('nginx pair (mTLS)')) console.log(`bare Node pair / nginx req/s: ${perRound('bare Node pair', 'nginx pair (mTLS)')}   (node:http and node:https alone, nothing else)`);
    if (heavy.has('devmesh up')) console.log(`devmesh / bare Node pair:     ${perRound('devmesh up', 'bare Node pair')}`);
  }
  if (light.has('devmesh up') && light.has('direct')) {
    const added = med(light, 'devmesh up', (r) => r.p50) - med(light, 'direct', (r) => r.p50);
    console.log(`p50 added at 1 connection:    ${added.toFixed(3)} ms   (goal ≤ 0.2 ms)`);
  }
  if (light.has('nginx pair (mTLS)') && light.has('direct'))
    console.log(`nginx p50 added, 1 connection: ${(med(light, 'nginx pair (mTLS)', (r) => r.p50) - med(light, 'direct', (r) => r.p50)).toFixed(3)} ms`);

  const meshTarget = targets.find((t) => t.name === 'devmesh up');
  if (args.profile && meshTarget) {
    // One more loaded run per kind of mesh process, each with only that process's profiler on.
    for (const kind of ['control plane', 'ingress sidecar', 'app sidecar'] as const) {
      const pid = meshGroups().get(kind)![0]!;
      let run: Run | undefined;
      const prof = await profile(pid, async () => (run = await measure(meshTarget, CONNECTIONS, SECONDS)));
      const file = join(tmpdir(), `devmesh-${kind.replace(' ', '-')}-${pid}.cpuprofile`);
      writeFileSync(file, JSON.stringify(prof));
      console.log(`\n${kind} profile (one more ${SECONDS} s run at ${CONNECTIONS} connections, ${run!.rps.toFixed(0)} req/s, ${kind} ${run!.cpuUs.get(kind)!.toFixed(1)} µs/req with the profiler on), ${file}:`);
      summariseProfile(prof);
    }
  }
} finally {
  await cleanups.run();
}
