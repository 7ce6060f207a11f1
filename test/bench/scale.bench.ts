// A mesh the size of a real project, run as a user runs it: `devmesh up` on a chain of N services (each a
// tiny Node app calling the next through its sidecar, ingress → s01 → … → sNN), then
//   up → ready      — from spawning `devmesh up` to its "ready:" line (every instance running), with a
//                     per-instance timeline (sidecar spawned, app spawned, app listening) read from /proc and
//                     from the apps themselves, so it shows where the time goes;
//   RSS             — VmRSS of the mesh beyond the apps (sidecars, control plane, reaper) and of the apps;
//   idle CPU        — of the whole mesh (apps included) over a quiet window, in % of one core: just after
//                     ready, and at rest (--settle-seconds after ready);
//   route edit      — from writing the mesh file to the last sidecar's ACK of the new version (status API).
// Never a test: figures depend on the machine (this one drifts 2–3× hour to hour); read them, do not assert them.
// Run: npm run bench:scale  (after a build: node dist/test/bench/scale.bench.js [--services 30] [--idle-seconds 10] [--settle-seconds 90]
//      [--edits 5] [--data-plane sidecar|shared|both] [--timeline])
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { processesOfHome, startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import type { StatusResponse } from '../../src/contract/api.js';

const { values: args } = parseArgs({
  options: {
    services: { type: 'string', default: '30' },
    'idle-seconds': { type: 'string', default: '10' },
    'settle-seconds': { type: 'string', default: '90' },
    edits: { type: 'string', default: '5' },
    'data-plane': { type: 'string', default: 'sidecar' },
    timeline: { type: 'boolean', default: false },
  },
});
const N = Number(args.services);
const IDLE_S = Number(args['idle-seconds']);
const SETTLE_S = Number(args['settle-seconds']);
const EDITS = Number(args.edits);
type DataPlane = 'sidecar' | 'shared';
const MODES: DataPlane[] = args['data-plane'] === 'both' ? ['sidecar', 'shared'] : [args['data-plane'] as DataPlane];
if (!Number.isInteger(N) || N < 1 || MODES.some((m) => m !== 'sidecar' && m !== 'shared')) {
  console.error('usage: scale.bench.js [--services N] [--idle-seconds S] [--settle-seconds S] [--edits K] [--data-plane sidecar|shared|both] [--timeline]');
  process.exit(2);
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const name = (i: number) => `s${String(i).padStart(2, '0')}`;

// Each app answers /healthz, and otherwise calls the next service through its sidecar (NEXT names the
// upstream; its URL is the <UPSTREAM>_URL devmesh injects). It notes when it listens, for the timeline.
const APP = `import http from 'node:http';
import { appendFileSync } from 'node:fs';
const next = process.env.NEXT ? process.env[process.env.NEXT.toUpperCase() + '_URL'] : undefined;
const me = process.env.DEVMESH_SERVICE;
http.createServer((req, res) => {
  if (req.url === '/healthz' || !next) return res.end(me);
  http.get(next + req.url, (r) => {
    let body = '';
    r.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => { res.writeHead(r.statusCode); res.end(me + '>' + body); });
  }).on('error', (e) => { res.writeHead(502); res.end(me + ': ' + e.message); });
}).listen(Number(process.env.PORT), '127.0.0.1', () => appendFileSync('listening.log', process.env.DEVMESH_INSTANCE + ' ' + Date.now() + '\\n'));
`;

function meshYaml(mode: DataPlane, routeTimeoutS: number | null): string {
  const lines = [`name: scale-${N}`, 'mtls: STRICT', ...(mode === 'shared' ? ['dataPlane: shared'] : []), 'ingress:', `  - { port: 0, service: ${name(1)} }`, 'services:'];
  for (let i = 1; i <= N; i++) {
    lines.push(`  ${name(i)}:`, '    run: node app.mjs', '    health: /healthz');
    if (i < N) lines.push(`    upstreams: [${name(i + 1)}]`, `    env: { NEXT: ${name(i + 1)} }`);
  }
  // The edited route: a timeout on the middle service, changed each edit (a policy change, pushed live).
  if (routeTimeoutS !== null) lines.push('routes:', `  ${name(Math.ceil(N / 2))}:`, `    - { name: edit, route: [{ destination: {} }], timeout: ${routeTimeoutS}s }`);
  return lines.join('\n') + '\n';
}

type Kind = 'sidecar' | 'control plane' | 'reaper' | 'app' | 'other';
interface Proc {
  pid: number;
  kind: Kind;
  /** Instance id (apps: DEVMESH_INSTANCE; sidecars: their id argument). */
  id: string;
  startMs: number;
}

const bootMs = Date.now() - Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
  } catch {
    return null;
  }
}

function describe(pid: number): Proc | null {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    const f = statFields(pid);
    if (!f) return null;
    const startMs = bootMs + (Number(f[19]) / CLK_TCK) * 1000;
    const entry = argv.findIndex((a) => a.endsWith('proxy/main.js') || a.endsWith('proxy/shared-main.js'));
    if (entry >= 0) return { pid, kind: 'sidecar', id: argv[entry + 1] ?? 'shared', startMs };
    if (argv.some((a) => a.endsWith('reaper-main.js'))) return { pid, kind: 'reaper', id: '', startMs };
    if (argv.some((a) => a.endsWith('bin/devmesh.js'))) return { pid, kind: 'control plane', id: '', startMs };
    const instance = env.find((e) => e.startsWith('DEVMESH_INSTANCE='));
    // The app's `sh -c` (spawned first: the app's start) and the node it execs or forks share the instance.
    if (instance) return { pid, kind: 'app', id: instance.slice('DEVMESH_INSTANCE='.length), startMs };
    return { pid, kind: 'other', id: '', startMs };
  } catch {
    return null;
  }
}

function processesWith(envEntry: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(envEntry)) out.push(Number(pid));
    } catch {
      /* exited, or not ours to read */
    }
  }
  return out;
}

/**
 * kB of memory: VmRSS (what `ps` and the issue quote), its anonymous part (the process's own heap and
 * code), and PSS (smaps_rollup: shared pages divided among their sharers). Most of a Node process's RSS is
 * the node binary's pages, which every Node process shares: PSS is what the mesh costs the machine.
 */
function memKb(pid: number): { rss: number; anon: number; pss: number } {
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rss: field(status, 'VmRSS'), anon: field(status, 'RssAnon'), pss: field(rollup, 'Pss') };
  } catch {
    return { rss: 0, anon: 0, pss: 0 };
  }
}

/** utime + stime in ticks. */
function cpuTicks(pid: number): number {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : 0;
}

const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function runMode(mode: DataPlane): Promise<void> {
  console.log(`\n== ${N}-service chain, data plane: ${mode} ==`);
  const procs = new Map<number, Proc>();
  let watching = true;
  // Collect processes as they appear (the timeline needs the ones of start-up), by a mark in the environment
  // that `up` passes on to everything it starts: the mesh's home is not known until startMesh returns.
  const mark = `DEVMESH_SCALE_BENCH=${process.pid}-${mode}`;
  const collect = () => {
    for (const pid of processesWith(mark)) {
      // Between fork and exec a sidecar still shows `up`'s command line: look again until it is something else.
      const known = procs.get(pid);
      if (known && known.kind !== 'control plane' && known.kind !== 'other') continue;
      const p = describe(pid);
      if (p) procs.set(pid, p);
    }
  };
  const watcher = (async () => {
    while (watching) {
      collect();
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const t0 = Date.now();
  let mesh: RunningMesh | null = null;
  try {
    mesh = await startMesh({
      yaml: meshYaml(mode, null),
      files: { 'app.mjs': APP },
      readyTimeoutMs: 180_000,
      env: { [mark.split('=')[0]!]: mark.split('=')[1]! },
    });
    const home = mesh.home;
    const readyMs = Date.now() - t0;
    const readyLine = /^ready: .*$/m.exec(mesh.stdout())?.[0] ?? '';
    await new Promise((r) => setTimeout(r, 200));
    collect();
    watching = false;
    await watcher;
    console.log(`up → ready: ${(readyMs / 1000).toFixed(1)} s (devmesh: "${readyLine}")`);

    // The chain answers end to end: ingress → s01 → … → sNN.
    const chain = await fetch(mesh.ingress[name(1)]! + '/').then((r) => r.text());
    const hops = chain.split('>').length;
    if (hops !== N) throw new Error(`the chain answered through ${hops} of ${N} services: ${chain.slice(0, 300)}`);

    timeline(mesh, procs, t0);

    // RSS, after start-up has settled.
    const live = processesOfHome(home).map(describe).filter((p): p is Proc => p !== null);
    const byKind = new Map<Kind, { n: number; rss: number; anon: number; pss: number }>();
    for (const p of live) {
      const m = memKb(p.pid);
      const k = byKind.get(p.kind) ?? { n: 0, rss: 0, anon: 0, pss: 0 };
      byKind.set(p.kind, { n: k.n + 1, rss: k.rss + m.rss, anon: k.anon + m.anon, pss: k.pss + m.pss });
    }
    const meshOf = (f: 'rss' | 'anon' | 'pss') => ['sidecar', 'control plane', 'reaper'].reduce((s, k) => s + (byKind.get(k as Kind)?.[f] ?? 0), 0);
    console.log(`memory, mesh beyond the apps: RSS ${mb(meshOf('rss'))}, PSS ${mb(meshOf('pss'))}, anonymous ${mb(meshOf('anon'))}`);
    for (const [kind, k] of byKind) {
      const each = (kb: number) => (kb / k.n / 1024).toFixed(1);
      console.log(`  ${kind.padEnd(13)} ×${String(k.n).padStart(3)}  RSS ${mb(k.rss).padStart(7)} (${each(k.rss)} each)  PSS ${mb(k.pss).padStart(7)} (${each(k.pss)} each)  anonymous ${each(k.anon)} MB each`);
    }

    // Idle CPU of the whole mesh (every process with its DEVMESH_HOME, apps included), twice: just after ready,
    // and at rest, SETTLE_S after ready. A Node process's first minute still holds start-up work (V8's lazy
    // compiles, the memory reducer's and bytecode flushing's GCs), which the first window shows and the second
    // leaves out.
    const idleCpu = async (fromS: number): Promise<void> => {
      const pids = processesOfHome(home);
      const before = new Map(pids.map((pid) => [pid, cpuTicks(pid)]));
      const idleStart = Date.now();
      await new Promise((r) => setTimeout(r, IDLE_S * 1000));
      const wall = (Date.now() - idleStart) / 1000;
      const perKind = new Map<Kind, number>();
      let total = 0;
      for (const pid of pids) {
        const used = (cpuTicks(pid) - before.get(pid)!) / CLK_TCK;
        if (used < 0) continue;
        total += used;
        const kind = describe(pid)?.kind ?? 'other';
        perKind.set(kind, (perKind.get(kind) ?? 0) + used);
      }
      console.log(`idle CPU, whole mesh over ${wall.toFixed(0)} s from ${fromS} s after ready: ${((total / wall) * 100).toFixed(2)} % of a core (${[...perKind].map(([k, s]) => `${k} ${((s / wall) * 100).toFixed(2)} %`).join(', ')})`);
    };
    const readyAt = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    await idleCpu(2);
    await new Promise((r) => setTimeout(r, Math.max(0, readyAt + SETTLE_S * 1000 - Date.now())));
    await idleCpu(SETTLE_S);

    // Route edits: write the mesh file, wait for every sidecar (ingress included) to ACK the new version.
    const edits: number[] = [];
    for (let e = 1; e <= EDITS; e++) {
      const before = (await mesh.api<StatusResponse>('/api/status')).config.version;
      const t = Date.now();
      writeFileSync(join(mesh.dir, 'devmesh.yaml'), meshYaml(mode, 10 + e));
      const acked = await waitFor(
        `every sidecar to ACK the edit after v${before}`,
        async () => {
          const s = await mesh!.api<StatusResponse>('/api/status');
          const version = s.config.version;
          if (s.config.error) throw new Error(s.config.error);
          if (version <= before) return false;
          const all = [...s.services.flatMap((svc) => svc.instances.map((i) => i.sidecar.ackedVersion)), ...s.ingress.map((g) => g.sidecar.ackedVersion)];
          return all.every((v) => v >= version) ? Date.now() : false;
        },
        10_000,
        5,
      );
      edits.push(acked - t);
      await new Promise((r) => setTimeout(r, 300));
    }
    console.log(`route edit → last ACK (file write, ${N + 1} sidecars): median ${median(edits)} ms, max ${Math.max(...edits)} ms (${edits.join(', ')} ms; includes the watcher's 100 ms write-settle)`);
  } finally {
    watching = false;
    await watcher;
    const home = mesh?.home;
    await mesh?.stop();
    if (home && processesOfHome(home).length > 0) console.error(`leak: processes of ${home} survived the stop`);
  }
}

/** Where `up`'s time went: when each instance's sidecar and app were spawned and the app listened. */
function timeline(mesh: RunningMesh, procs: Map<number, Proc>, t0: number): void {
  const listening = new Map<string, number>();
  for (const line of readFileSync(join(mesh.dir, 'listening.log'), 'utf8').trim().split('\n')) {
    const [id, ms] = line.split(' ');
    if (id && !listening.has(id)) listening.set(id, Number(ms));
  }
  const first = (kind: Kind, id: string) => Math.min(...[...procs.values()].filter((p) => p.kind === kind && p.id === id).map((p) => p.startMs));
  const rows: Array<{ id: string; sidecar: number; app: number; listen: number }> = [];
  for (let i = N; i >= 1; i--) {
    const id = `${name(i)}-0`;
    const sidecar = first('sidecar', id) - t0;
    const app = first('app', id) - t0;
    const listen = (listening.get(id) ?? NaN) - t0;
    rows.push({ id, sidecar, app, listen });
  }
  const gw = first('sidecar', `ingress-${name(1)}`) - t0;
  const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2).padStart(6) : '     ?');
  const gaps = rows.map((r) => r.app - r.sidecar).filter(Number.isFinite);
  const boots = rows.map((r) => r.listen - r.app).filter(Number.isFinite);
  const waits = rows.slice(1).map((r, k) => r.app - rows[k]!.listen).filter(Number.isFinite);
  console.log(`start-up timeline (s after spawning up): first sidecar ${s(Math.min(...rows.map((r) => r.sidecar)))}, last app listening ${s(Math.max(...rows.map((r) => r.listen)))}, ingress sidecar ${s(gw)}`);
  console.log(`  per instance, median: sidecar spawned → app spawned ${median(gaps).toFixed(0)} ms; app spawned → listening ${median(boots).toFixed(0)} ms; upstream listening → next app spawned ${median(waits).toFixed(0)} ms`);
  if (args.timeline) {
    console.log('  instance   sidecar    app  listen');
    for (const r of rows) console.log(`  ${r.id.padEnd(8)} ${s(r.sidecar)} ${s(r.app)} ${s(r.listen)}`);
  }
}

for (const mode of MODES) await runMode(mode);
