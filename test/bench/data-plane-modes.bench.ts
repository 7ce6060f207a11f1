// Sidecars against the shared data plane, through `devmesh up` as a user runs it: a chain of N tiny Node
// services (each calls the next), ingress on the first, started in each mode in turn (alternating, so the
// machine's drift hits both alike). Per run: `up` to ready (devmesh's own "ready … in Xs"), RSS of the mesh
// beyond the apps (devmesh up, reaper, proxies) after the mesh has settled, idle CPU of the same over a
// few seconds, and a request through the whole chain. Never a test: read the figures, do not assert them.
// Run (after a build): node dist/test/bench/data-plane-modes.bench.js [services=10] [rounds=2]
import { readFileSync } from 'node:fs';
import { processesOfHome, startMesh } from '../helpers/mesh-process.js';

const SERVICES = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.argv[3] ?? 2);
const IDLE_SECONDS = 5;
const CLK_TCK = 100;

const APP = `import { createServer } from 'node:http';
const next = process.env.NEXT ? process.env[process.env.NEXT] : null;
createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (!next) return res.end(process.env.DEVMESH_SERVICE);
  const r = await fetch(next + '/', { headers: req.headers.traceparent ? { traceparent: req.headers.traceparent } : {} });
  res.end(process.env.DEVMESH_SERVICE + ' > ' + (await r.text()));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

function chainYaml(n: number, mode: string): string {
  const name = (i: number) => `s${String(i).padStart(2, '0')}`;
  const lines = ['name: chain', 'mtls: STRICT', `dataPlane: ${mode}`, 'ingress: [{ port: 0, service: s00 }]', 'services:'];
  for (let i = 0; i < n; i++) {
    const up = i + 1 < n ? name(i + 1) : null;
    lines.push(`  ${name(i)}:`, '    run: node app.js', '    health: /healthz');
    if (up) lines.push(`    upstreams: [${up}]`, `    env: { NEXT: ${up.toUpperCase()}_URL }`);
  }
  return lines.join('\n') + '\n';
}

type Kind = 'up' | 'reaper' | 'proxy' | 'app';

function kindOf(pid: number): Kind | null {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmd.includes('proxy/main.js')) return 'proxy';
    if (cmd.includes('app.js')) return 'app';
    if (cmd.includes('reaper')) return 'reaper';
    if (cmd.includes('devmesh.js')) return 'up';
    return null;
  } catch {
    return null;
  }
}

function rssKb(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

interface Run {
  mode: string;
  upS: number;
  rssMb: Record<Kind, number>;
  count: Record<Kind, number>;
  idleCpuPct: number;
  ok: boolean;
}

async function once(mode: string): Promise<Run> {
  const mesh = await startMesh({ yaml: chainYaml(SERVICES, mode), files: { 'app.js': APP, 'package.json': '{ "type": "module" }' }, readyTimeoutMs: 120_000 });
  try {
    const upS = Number(/^ready: .* in ([\d.]+)s/m.exec(mesh.stdout())?.[1]);
    const res = await fetch(`${mesh.ingress.s00}/`);
    const body = await res.text();
    const ok = res.status === 200 && body.split(' > ').length === SERVICES;
    await new Promise((r) => setTimeout(r, 3000)); // let start-up garbage be collected
    const pids = processesOfHome(mesh.home).map((pid) => ({ pid, kind: kindOf(pid) })).filter((p): p is { pid: number; kind: Kind } => p.kind !== null);
    const rssMb: Record<Kind, number> = { up: 0, reaper: 0, proxy: 0, app: 0 };
    const count: Record<Kind, number> = { up: 0, reaper: 0, proxy: 0, app: 0 };
    for (const p of pids) {
      rssMb[p.kind] += rssKb(p.pid) / 1024;
      count[p.kind]++;
    }
    const mine = pids.filter((p) => p.kind !== 'app');
    const before = mine.reduce((s, p) => s + cpuTicks(p.pid), 0);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const after = mine.reduce((s, p) => s + cpuTicks(p.pid), 0);
    return { mode, upS, rssMb, count, idleCpuPct: ((after - before) / CLK_TCK / IDLE_SECONDS) * 100, ok };
  } finally {
    await mesh.stop();
  }
}

const runs: Run[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which mode goes first, so a machine getting faster or slower does not favour one.
  for (const mode of round % 2 === 0 ? ['sidecar', 'shared'] : ['shared', 'sidecar']) {
    const r = await once(mode);
    runs.push(r);
    console.error(`round ${round + 1} ${mode}: up ${r.upS}s, mesh beyond apps ${(r.rssMb.up + r.rssMb.reaper + r.rssMb.proxy).toFixed(0)} MB`);
  }
}

console.log(`\n${SERVICES}-service chain mesh + ingress, through devmesh up, ${ROUNDS} round(s) per mode, alternating`);
console.log('| mode | up → ready (s) | proxies (count, MB) | devmesh up MB | reaper MB | mesh beyond apps MB | apps MB | idle CPU of mesh beyond apps | chain request |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of runs) {
  const beyond = r.rssMb.up + r.rssMb.reaper + r.rssMb.proxy;
  console.log(
    `| ${r.mode} | ${r.upS.toFixed(1)} | ${r.count.proxy}, ${r.rssMb.proxy.toFixed(0)} | ${r.rssMb.up.toFixed(0)} | ${r.rssMb.reaper.toFixed(0)} | ${beyond.toFixed(0)} | ${r.rssMb.app.toFixed(0)} | ${r.idleCpuPct.toFixed(1)}% | ${r.ok ? 'ok' : 'FAILED'} |`,
  );
}
for (const mode of ['sidecar', 'shared']) {
  const mine = runs.filter((r) => r.mode === mode);
  const avg = (f: (r: Run) => number) => mine.reduce((s, r) => s + f(r), 0) / mine.length;
  console.log(`${mode}: mean up ${avg((r) => r.upS).toFixed(1)} s, mean mesh beyond apps ${avg((r) => r.rssMb.up + r.rssMb.reaper + r.rssMb.proxy).toFixed(0)} MB`);
}
