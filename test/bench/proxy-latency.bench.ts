// The data plane's speed, in one run on loopback with a keep-alive load generator at fixed concurrency:
//   direct        — the load generator calls the app;
//   devmesh pair  — client sidecar → mTLS (STRICT) → server sidecar → app;
//   nginx pair    — the same shape with Debian's nginx: plain in, mTLS between the two (client certificate
//                   required and verified against the mesh CA), keep-alive upstreams, one worker each
//                   (a sidecar is one Node process).
// This section isolates the proxy; product.bench.ts measures it inside `devmesh up`. Then RSS per idle sidecar. Never a test: figures depend on the machine; read them, do not assert them.
// Run: npm run bench  (after a build: node dist/test/bench/proxy-latency.bench.js [seconds] [concurrency])
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { APP_SOURCE, Cleanups, cpuMs, fig, load, LOADGEN, rssMb, startNginxPair, withChildren, type LoadResult } from './bench-kit.js';
import { clientConfig, cluster, endpoint, route, serverConfig, SidecarProcess, tempHome, TestMesh } from '../proxy/helpers.js';

const SECONDS = Number(process.argv[2] ?? 5);
const CONCURRENCY = Number(process.argv[3] ?? 16);

interface Result extends LoadResult {
  /** CPU time of the proxies (both of the pair, app excluded) per request, µs; NaN for direct. */
  cpuUs?: number;
}

const cleanups = new Cleanups();

try {
  const home = tempHome(cleanups);
  const mesh = new TestMesh(home);

  // The app runs in its own process, like a real service.
  const app = spawn(process.execPath, ['-e', APP_SOURCE], { env: { ...process.env, DEVMESH_HOME: home }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  cleanups.after(() => app.kill('SIGKILL'));
  const [line] = (await once(app.stdout!, 'data')) as [Buffer];
  const appPort = Number(line.toString().trim());

  const server = SidecarProcess.start(cleanups, home);
  const serverPorts = await server.apply(serverConfig({ tls: mesh.tls('bench'), service: 'bench', appPort }));
  // Two client sidecars before the same server sidecar: the mesh default (every request traced) and
  // tracing.sampling at 1%, which shows what tracing costs (the server sidecar keeps the caller's decision).
  const startClient = async (samplingPercent: number | null): Promise<[SidecarProcess, number]> => {
    const sidecar = SidecarProcess.start(cleanups, home);
    const ports = await sidecar.apply({
      ...clientConfig({
        tls: mesh.tls('loadgen'),
        service: 'loadgen',
        // Istio's default retry policy, as a route without `retries` gets it.
        outbound: [{ service: 'bench', port: 0, routes: [route({ destinations: [{ service: 'bench', weight: 100 }], retries: { attempts: 2, retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', '503'] } })] }],
        clusters: [cluster('bench', [endpoint('bench', 'v1', serverPorts.inbound!)])],
      }),
      ...(samplingPercent !== null ? { tracing: { samplingPercent } } : {}),
    });
    return [sidecar, ports.outbound.bench!];
  };
  const [client, clientPort] = await startClient(null);
  const [sampledClient, sampledPort] = await startClient(1);
  await new Promise((r) => setTimeout(r, 500));
  const idleRss = [rssMb(client.child.pid!), rssMb(server.child.pid!)];
  const issue = (name: string) => mesh.ca.issue({ commonName: name, uris: [`spiffe://test.local/ns/default/sa/${name}`], dnsNames: [name] });
  const nginx = await startNginxPair({ dir: join(home, 'nginx'), caPem: mesh.ca.rootPem, issue, appPort, cleanups });

  const targets: Array<[string, string, number[]]> = [
    ['direct', `http://127.0.0.1:${appPort}/item`, []],
    ['devmesh pair (mTLS)', `http://127.0.0.1:${clientPort}/item`, [client.child.pid!, server.child.pid!]],
    ['devmesh, 1% traced', `http://127.0.0.1:${sampledPort}/item`, [sampledClient.child.pid!, server.child.pid!]],
    ...(nginx !== null ? ([['nginx pair (mTLS)', `http://127.0.0.1:${nginx.port}/item`, nginx.pids]] as Array<[string, string, number[]]>) : []),
  ];
  for (const [, url] of targets) await load(url, 1, CONCURRENCY); // warm-up: JIT, connections, TLS sessions

  const light = new Map<string, Result>();
  const heavy = new Map<string, Result>();
  for (const [name, url] of targets) light.set(name, await load(url, Math.max(2, Math.round(SECONDS / 2)), 1));
  for (const [name, url, pids] of targets) {
    const all = withChildren(pids);
    const before = cpuMs(all);
    const r: Result = await load(url, SECONDS, CONCURRENCY);
    r.cpuUs = pids.length === 0 ? NaN : ((cpuMs(all) - before) * 1000) / r.requests;
    heavy.set(name, r);
  }

  const f = (n: number, d = 3): string => fig(n, d);
  console.log(`\nnode ${process.version}, ${LOADGEN}, loopback, keep-alive, ${SECONDS}s per run, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
  for (const [title, rows, c] of [['light load (1 connection)', light, 1], [`fixed concurrency (${CONCURRENCY} connections)`, heavy, CONCURRENCY]] as const) {
    console.log(`\n${title}`);
    const cpu = c > 1 ? ` ${'proxy CPU µs/req'.padStart(17)}` : '';
    console.log(`${'target'.padEnd(22)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}${cpu}`);
    for (const [name, r] of rows) console.log(`${name.padEnd(22)} ${f(r.rps, 0)} ${f(r.p50)} ${f(r.p99)}${c > 1 ? ` ${f(r.cpuUs ?? NaN, 1).padStart(17)}` : ''}`);
    void c;
  }
  const d = heavy.get('direct')!;
  const m = heavy.get('devmesh pair (mTLS)')!;
  const n = heavy.get('nginx pair (mTLS)');
  console.log('\nratios');
  console.log(`devmesh / direct throughput:   ${(m.rps / d.rps).toFixed(2)}`);
  if (n) {
    console.log(`nginx / direct throughput:     ${(n.rps / d.rps).toFixed(2)}`);
    console.log(`devmesh / nginx throughput:    ${(m.rps / n.rps).toFixed(2)}   (goal ≥ 0.6; every request traced, the default)`);
    console.log(`devmesh 1% traced / nginx:     ${(heavy.get('devmesh, 1% traced')!.rps / n.rps).toFixed(2)}   (tracing.sampling: 1)`);
  }
  const lightAdded = light.get('devmesh pair (mTLS)')!.p50 - light.get('direct')!.p50;
  console.log(`devmesh p50 added at light load: ${lightAdded.toFixed(3)} ms   (goal < 1 ms)`);
  if (n) console.log(`nginx p50 added at light load:   ${(light.get('nginx pair (mTLS)')!.p50 - light.get('direct')!.p50).toFixed(3)} ms`);
  console.log(`RSS per idle sidecar: client ${idleRss[0]!.toFixed(1)} MB, server ${idleRss[1]!.toFixed(1)} MB   (goal < 60 MB)`);
  console.log(`RSS after the runs:   client ${rssMb(client.child.pid!).toFixed(1)} MB, server ${rssMb(server.child.pid!).toFixed(1)} MB`);
  console.log(`(spans received over IPC during the run: ${client.spans.length + sampledClient.spans.length + server.spans.length})`);
  // A graceful stop (not the SIGKILL of cleanup) lets `NODE_OPTIONS=--cpu-prof` write sidecar profiles.
  for (const s of [client, sampledClient, server]) s.send({ type: 'shutdown' });
  await Promise.race([Promise.all([client.exited, sampledClient.exited, server.exited]), new Promise((r) => setTimeout(r, 3_000))]);
} finally {
  await cleanups.run();
}
