// The data plane's speed, in one run on loopback with a keep-alive load generator at fixed concurrency:
//   direct        — the load generator calls the app;
//   devmesh pair  — client sidecar → mTLS (STRICT) → server sidecar → app;
//   nginx pair    — the same shape with Debian's nginx: plain in, mTLS between the two (client certificate
//                   required and verified against the mesh CA), keep-alive upstreams, one worker each
//                   (a sidecar is one Node process).
// Then RSS per idle sidecar. Never a test: figures depend on the machine; read them, do not assert them.
// Run: npm run bench  (after a build: node dist/test/bench/proxy-latency.bench.js [seconds] [concurrency])
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { clientConfig, cluster, endpoint, route, serverConfig, SidecarProcess, tempHome, TestMesh } from '../proxy/helpers.js';

const SECONDS = Number(process.argv[2] ?? 5);
const CONCURRENCY = Number(process.argv[3] ?? 16);

interface Result {
  rps: number;
  p50: number;
  p99: number;
  /** CPU time of the proxies (both of the pair, app excluded) per request, µs; NaN for direct. */
  cpuUs?: number;
}

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const WRK = has('wrk');

/** ms from wrk's "50%  1.23ms" lines. */
function wrkMs(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

async function load(url: string, seconds: number, connections: number): Promise<Result> {
  if (WRK) {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await once(child, 'exit');
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
    if (errors) throw new Error(`${url}: ${errors[1]} non-2xx responses\n${out}`);
    return { rps, p50: wrkMs(out, '50'), p99: wrkMs(out, '99') };
  }
  const name = 'autocannon'; // untyped package: imported by name so the compiler does not look for types
  const { default: autocannon } = (await import(name)) as unknown as {
    default: (o: object) => Promise<{ requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number }>;
  };
  const r = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  if (r.non2xx > 0) throw new Error(`${url}: ${r.non2xx} non-2xx responses`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

/** CPU time (user + system, ms) of `pids` and their children's threads' process: nginx masters are
 * counted with their workers. Read around a run, it gives the proxies' CPU per request, which a loaded
 * machine distorts far less than requests/s. */
function cpuMs(pids: number[]): number {
  const all = new Set(pids);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (pids.includes(ppid)) all.add(Number(entry));
    } catch {
      /* gone */
    }
  }
  let ticks = 0;
  for (const pid of all) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15 of the whole line)
    } catch {
      /* gone */
    }
  }
  return (ticks * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const cleanups: Array<() => unknown> = [];
const registrar = { after: (fn: () => unknown) => cleanups.push(fn) };

async function startNginxPair(dir: string, mesh: TestMesh, appPort: number, pids: number[]): Promise<number | null> {
  if (!has('nginx')) {
    console.log('nginx not found (Debian: apt-get install nginx): skipping the nginx pair');
    return null;
  }
  const issue = (name: string) => mesh.ca.issue({ commonName: name, uris: [`spiffe://test.local/ns/default/sa/${name}`], dnsNames: [name] });
  const files: Record<string, string> = { 'ca.pem': mesh.ca.rootPem };
  for (const name of ['nginx-client', 'nginx-server']) {
    const leaf = issue(name);
    files[`${name}.pem`] = leaf.certPem;
    files[`${name}.key`] = leaf.keyPem;
  }
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text, { mode: 0o600 });
  const free = async (): Promise<number> => {
    const { createServer } = await import('node:net');
    return new Promise((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
  };
  const [clientPort, serverPort] = [await free(), await free()];
  const common = (name: string) => `
worker_processes 1;
daemon off;
pid ${dir}/${name}.pid;
error_log stderr error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/${name}-body; proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fcgi; uwsgi_temp_path ${dir}/${name}-uwsgi; scgi_temp_path ${dir}/${name}-scgi;
  keepalive_requests 100000;`;
  const server = `${common('server')}
  upstream app { server 127.0.0.1:${appPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${serverPort} ssl;
    ssl_certificate ${dir}/nginx-server.pem; ssl_certificate_key ${dir}/nginx-server.key;
    ssl_client_certificate ${dir}/ca.pem; ssl_verify_client on;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}`;
  const client = `${common('client')}
  upstream peer { server 127.0.0.1:${serverPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${clientPort};
    location / {
      proxy_pass https://peer; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_ssl_certificate ${dir}/nginx-client.pem; proxy_ssl_certificate_key ${dir}/nginx-client.key;
      proxy_ssl_trusted_certificate ${dir}/ca.pem; proxy_ssl_verify on; proxy_ssl_name nginx-server;
      proxy_ssl_session_reuse on;
    }
  }
}`;
  for (const [name, conf] of [['server', server], ['client', client]] as const) {
    writeFileSync(join(dir, `${name}.conf`), conf);
    const child: ChildProcess = spawn('nginx', ['-c', join(dir, `${name}.conf`), '-p', dir], { stdio: ['ignore', 'inherit', 'inherit'] });
    pids.push(child.pid!);
    // SIGTERM: the master stops its worker too (a SIGKILLed master would orphan it).
    cleanups.push(async () => {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 2_000))]);
    });
  }
  // Wait until the pair answers.
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${clientPort}/ready`);
      await res.text();
      if (res.ok) return clientPort;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the nginx pair did not come up');
}

try {
  const home = tempHome(registrar);
  const mesh = new TestMesh(home);

  // The app runs in its own process, like a real service.
  const app = spawn(
    process.execPath,
    [
      '-e',
      `const http = require('node:http');
       const body = JSON.stringify({ ok: true, service: 'bench' });
       const s = http.createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body); });
       s.keepAliveTimeout = 65000;
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
  // Two client sidecars before the same server sidecar: the mesh default (every request traced) and
  // tracing.sampling at 1%, which shows what tracing costs (the server sidecar keeps the caller's decision).
  const startClient = async (samplingPercent: number | null): Promise<[SidecarProcess, number]> => {
    const sidecar = SidecarProcess.start(registrar, home);
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
  const nginxPids: number[] = [];
  const nginxPort = await startNginxPair(join(home, 'nginx'), mesh, appPort, nginxPids);

  const targets: Array<[string, string, number[]]> = [
    ['direct', `http://127.0.0.1:${appPort}/item`, []],
    ['devmesh pair (mTLS)', `http://127.0.0.1:${clientPort}/item`, [client.child.pid!, server.child.pid!]],
    ['devmesh, 1% traced', `http://127.0.0.1:${sampledPort}/item`, [sampledClient.child.pid!, server.child.pid!]],
    ...(nginxPort !== null ? ([['nginx pair (mTLS)', `http://127.0.0.1:${nginxPort}/item`, nginxPids]] as Array<[string, string, number[]]>) : []),
  ];
  for (const [, url] of targets) await load(url, 1, CONCURRENCY); // warm-up: JIT, connections, TLS sessions

  const light = new Map<string, Result>();
  const heavy = new Map<string, Result>();
  for (const [name, url] of targets) light.set(name, await load(url, Math.max(2, Math.round(SECONDS / 2)), 1));
  for (const [name, url, pids] of targets) {
    const before = cpuMs(pids);
    const r = await load(url, SECONDS, CONCURRENCY);
    r.cpuUs = pids.length === 0 ? NaN : ((cpuMs(pids) - before) * 1000) / (r.rps * SECONDS);
    heavy.set(name, r);
  }

  const f = (n: number, d = 3): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a').padStart(9);
  console.log(`\nnode ${process.version}, ${WRK ? 'wrk -t1' : 'autocannon'}, loopback, keep-alive, ${SECONDS}s per run, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
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
  for (const fn of cleanups.reverse()) await fn();
}
