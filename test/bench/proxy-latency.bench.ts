// Latency and throughput of the data plane: the same tiny app called directly, and through
// client sidecar → mTLS → server sidecar, both over keep-alive connections on loopback.
// Run: npm run bench  (or, after a build: node dist/test/bench/proxy-latency.bench.js [sequential] [concurrent])
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Pool } from 'undici';
import { clientConfig, cluster, endpoint, route, serverConfig, SidecarProcess, tempHome, TestMesh } from '../proxy/helpers.js';

const SEQUENTIAL = Number(process.argv[2] ?? 2000);
const CONCURRENT_TOTAL = Number(process.argv[3] ?? 8000);
const CONCURRENCY = 16;
const WARMUP = 300;

interface Result {
  p50: number;
  p99: number;
  rps: number;
}

async function measure(pool: Pool, path: string, total: number, concurrency: number): Promise<Result> {
  const latencies = new Float64Array(total);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        const res = await pool.request({ path, method: 'GET' });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode} on ${path}`);
        latencies[i] = performance.now() - t0;
      }
    }),
  );
  const elapsed = performance.now() - started;
  latencies.sort();
  const at = (q: number): number => latencies[Math.min(total - 1, Math.floor(q * total))]!;
  return { p50: at(0.5), p99: at(0.99), rps: (total / elapsed) * 1000 };
}

const cleanups: Array<() => unknown> = [];
const registrar = { after: (fn: () => unknown) => cleanups.push(fn) };
async function cleanup(): Promise<void> {
  for (const fn of cleanups.reverse()) await fn();
}

try {
  const home = tempHome(registrar);
  const mesh = new TestMesh(home);

  // The app runs in its own process, like a real service, so the load generator does not share its loop.
  const app = spawn(
    process.execPath,
    [
      '-e',
      `const http = require('node:http');
       const body = JSON.stringify({ ok: true, service: 'bench' });
       const s = http.createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body); });
       s.listen(0, '127.0.0.1', () => console.log(s.address().port));
       process.on('disconnect', () => process.exit(0));`,
    ],
    { env: { ...process.env, DEVMESH_HOME: home }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  cleanups.push(() => app.kill('SIGKILL'));
  const [line] = (await once(app.stdout!, 'data')) as [Buffer];
  const appPort = Number(line.toString().trim());

  const server = SidecarProcess.start(registrar, home);
  const serverPorts = await server.apply(serverConfig({ tls: mesh.tls('bench'), service: 'bench', appPort }));
  const client = SidecarProcess.start(registrar, home);
  const clientPorts = await client.apply(
    clientConfig({
      tls: mesh.tls('loadgen'),
      service: 'loadgen',
      outbound: [{ service: 'bench', port: 0, routes: [route({ destinations: [{ service: 'bench', weight: 100 }], retries: { attempts: 2, retryOn: ['connect-failure'] } })] }],
      clusters: [cluster('bench', [endpoint('bench', 'v1', serverPorts.inbound!)])],
    }),
  );

  const direct = new Pool(`http://127.0.0.1:${appPort}`, { connections: CONCURRENCY });
  const meshed = new Pool(`http://127.0.0.1:${clientPorts.outbound.bench}`, { connections: CONCURRENCY });
  cleanups.push(() => direct.close(), () => meshed.close());

  for (const pool of [direct, meshed]) await measure(pool, '/warmup', WARMUP, CONCURRENCY);

  const rows: Array<[string, Result]> = [];
  rows.push([`direct   sequential n=${SEQUENTIAL}`, await measure(direct, '/item', SEQUENTIAL, 1)]);
  rows.push([`sidecars sequential n=${SEQUENTIAL}`, await measure(meshed, '/item', SEQUENTIAL, 1)]);
  rows.push([`direct   c=${CONCURRENCY} n=${CONCURRENT_TOTAL}`, await measure(direct, '/item', CONCURRENT_TOTAL, CONCURRENCY)]);
  rows.push([`sidecars c=${CONCURRENCY} n=${CONCURRENT_TOTAL}`, await measure(meshed, '/item', CONCURRENT_TOTAL, CONCURRENCY)]);

  const fmt = (n: number): string => n.toFixed(3).padStart(8);
  console.log(`node ${process.version}, loopback, keep-alive; sidecars: client → mTLS (STRICT) → server\n`);
  console.log(`${'run'.padEnd(32)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'req/s'.padStart(9)}`);
  for (const [name, r] of rows) console.log(`${name.padEnd(32)} ${fmt(r.p50)} ${fmt(r.p99)} ${r.rps.toFixed(0).padStart(9)}`);
  const ratio = (a: Result, b: Result): string => `p50 x${(b.p50 / a.p50).toFixed(2)}, p99 x${(b.p99 / a.p99).toFixed(2)}, req/s x${(b.rps / a.rps).toFixed(2)}`;
  console.log(`\nsidecars vs direct, sequential: ${ratio(rows[0]![1], rows[1]![1])}`);
  console.log(`sidecars vs direct, c=${CONCURRENCY}:      ${ratio(rows[2]![1], rows[3]![1])}`);
  const spans = client.spans.length + server.spans.length;
  console.log(`(spans received over IPC during the run: ${spans})`);
  // A graceful stop (not the SIGKILL of cleanup) lets `NODE_OPTIONS=--cpu-prof` write sidecar profiles.
  for (const s of [client, server]) s.send({ type: 'shutdown' });
  await Promise.race([Promise.all([client.exited, server.exited]), new Promise((r) => setTimeout(r, 3_000))]);
} finally {
  await cleanup();
}
