// What the benchmarks share: the load generator (wrk, else autocannon), CPU and disk readings from /proc,
// the nginx mTLS pair that is the baseline, the app behind every target, and cleanup. Figures depend on
// the machine: benches print them beside a baseline measured in the same run and never assert them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  /** Requests completed in the run (what per-request figures divide by). */
  requests: number;
}

export const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
export const WRK = has('wrk');
export const LOADGEN = WRK ? 'wrk -t1' : 'autocannon';

/** ms from wrk's "50%  1.23ms" lines. */
function wrkMs(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/** Keep-alive load on loopback for `seconds` at `connections`; a non-2xx answer fails the bench. */
export async function load(url: string, seconds: number, connections: number): Promise<LoadResult> {
  if (WRK) {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await once(child, 'exit');
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
    if (errors) throw new Error(`${url}: ${errors[1]} non-2xx responses\n${out}`);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? rps * seconds);
    return { rps, p50: wrkMs(out, '50'), p99: wrkMs(out, '99'), requests };
  }
  const name = 'autocannon'; // untyped package: imported by name so the compiler does not look for types
  const { default: autocannon } = (await import(name)) as unknown as {
    default: (o: object) => Promise<{ requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number }>;
  };
  const r = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  if (r.non2xx > 0) throw new Error(`${url}: ${r.non2xx} non-2xx responses`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total };
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** Fields after the command name of /proc/<pid>/stat (field 3 of the whole line is index 0), or null if gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** `pids` and their direct children: an nginx master is counted with its worker. */
export function withChildren(pids: number[]): number[] {
  const all = new Set(pids);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (pids.includes(ppid)) all.add(Number(entry));
  }
  return [...all];
}

/** CPU time (user + system, ms) of `pids`. Read around a run it gives CPU per request, which a loaded
 * machine distorts far less than requests/s. */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15 of the whole line)
  }
  return (ticks * 1000) / CLOCK_TICKS;
}

/** Bytes `pids` caused to be written to storage (/proc/<pid>/io write_bytes: counted when a page is
 * dirtied, so SQLite's WAL and checkpoints count for the process that wrote them). Needs the same user or root. */
export function writeBytes(pids: number[]): number {
  let bytes = 0;
  for (const pid of pids) {
    try {
      bytes += Number(/^write_bytes:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return bytes;
}

export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Cleanups run in reverse order at the end, whatever happened; `after` matches the test helpers' registrar. */
export class Cleanups {
  private readonly fns: Array<() => unknown> = [];
  after(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.reverse()) await fn();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** The app behind every target (CommonJS, for `node -e` and a file in a folder without package.json):
 * a fixed small JSON answer on PORT (0: any), printing the port it bound. */
export const APP_SOURCE = `const http = require('node:http');
const body = JSON.stringify({ ok: true, service: 'bench' });
const s = http.createServer((req, res) => { req.resume(); res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body); });
s.keepAliveTimeout = 65000;
s.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(s.address().port));
process.on('disconnect', () => process.exit(0));
`;

/** A baseline proxy pair in front of the app: where to send requests, and whose CPU to count. */
export interface ProxyPair {
  port: number;
  /** Both proxies (nginx: both masters; `withChildren` adds their workers). */
  pids: number[];
}

/** What a baseline pair is started with: its folder, the mesh CA's root and issuer, the app behind it. */
export interface ProxyPairOptions {
  dir: string;
  caPem: string;
  issue: (name: string) => { certPem: string; keyPem: string };
  appPort: number;
  cleanups: Cleanups;
}

/**
 * The baseline: Debian's nginx in the same shape as a sidecar pair, plain in, mTLS between the two (client
 * certificate required and verified against the mesh CA), keep-alive upstreams, one worker each (a sidecar
 * is one Node process). Null (with the reason printed) without nginx.
 */
export async function startNginxPair(opts: ProxyPairOptions): Promise<ProxyPair | null> {
  const { dir } = opts;
  if (!has('nginx')) {
    console.log('nginx not found (Debian: apt-get install nginx): skipping the nginx pair');
    return null;
  }
  const files: Record<string, string> = { 'ca.pem': opts.caPem };
  for (const name of ['nginx-client', 'nginx-server']) {
    const leaf = opts.issue(name);
    files[`${name}.pem`] = leaf.certPem;
    files[`${name}.key`] = leaf.keyPem;
  }
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text, { mode: 0o600 });
  const [clientPort, serverPort] = [await freePort(), await freePort()];
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
  upstream app { server 127.0.0.1:${opts.appPort}; keepalive 64; }
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
  const pids: number[] = [];
  for (const [name, conf] of [['server', server], ['client', client]] as const) {
    writeFileSync(join(dir, `${name}.conf`), conf);
    const child: ChildProcess = spawn('nginx', ['-c', join(dir, `${name}.conf`), '-p', dir], { stdio: ['ignore', 'inherit', 'inherit'] });
    pids.push(child.pid!);
    // SIGTERM: the master stops its worker too (a SIGKILLed master would orphan it).
    stopAtCleanup(child, opts.cleanups);
  }
  await untilServing(clientPort, 'the nginx pair');
  return { port: clientPort, pids };
}

/** SIGTERM at cleanup, then up to 2 s for the process to exit. */
function stopAtCleanup(child: ChildProcess, cleanups: Cleanups): void {
  cleanups.after(async () => {
    child.kill('SIGTERM');
    await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 2_000))]);
  });
}

/** Resolves once http://127.0.0.1:<port>/ready answers 2xx (5 s at most). */
async function untilServing(port: number, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      await res.text();
      if (res.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up`);
}

// The least a Node.js sidecar pair can be: node:http in, node:https with keep-alive and the same mTLS
// between the two, node:http to the app, bodies piped, nothing else (no routing, retries, metrics or
// spans). Not a product: the floor the runtime puts under any proxy written for it, beside nginx's.
const NODE_PROXY_SOURCE = `const http = require('node:http');
const https = require('node:https');
const { readFileSync } = require('node:fs');
const dir = process.env.PAIR_DIR;
const tls = (name) => ({ ca: readFileSync(dir + '/ca.pem'), cert: readFileSync(dir + '/' + name + '.pem'), key: readFileSync(dir + '/' + name + '.key') });
const relay = (upstream) => (req, res) => {
  const up = upstream(req, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
  up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
  req.pipe(up);
};
let server;
if (process.env.PAIR_ROLE === 'server') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const to = (req, cb) => http.request({ host: '127.0.0.1', port: Number(process.env.PAIR_UPSTREAM), method: req.method, path: req.url, headers: req.headers, agent }, cb);
  server = https.createServer({ ...tls('node-server'), requestCert: true, rejectUnauthorized: true }, relay(to));
} else {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ...tls('node-client'), servername: 'node-server', checkServerIdentity: () => undefined });
  const to = (req, cb) => https.request({ host: '127.0.0.1', port: Number(process.env.PAIR_UPSTREAM), method: req.method, path: req.url, headers: req.headers, agent }, cb);
  server = http.createServer(relay(to));
}
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PAIR_PORT), '127.0.0.1');
process.on('disconnect', () => process.exit(0));
`;

/**
 * A second baseline: two bare Node.js proxies in the sidecar pair's shape (NODE_PROXY_SOURCE), on the same
 * Node as devmesh, with the same mTLS (client certificate required and verified; the server's SAN is not
 * checked, one cost less than a sidecar's SPIFFE check).
 */
export async function startNodePair(opts: ProxyPairOptions): Promise<ProxyPair> {
  const { dir } = opts;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ca.pem'), opts.caPem, { mode: 0o600 });
  for (const name of ['node-client', 'node-server']) {
    const leaf = opts.issue(name);
    writeFileSync(join(dir, `${name}.pem`), leaf.certPem, { mode: 0o600 });
    writeFileSync(join(dir, `${name}.key`), leaf.keyPem, { mode: 0o600 });
  }
  writeFileSync(join(dir, 'proxy.cjs'), NODE_PROXY_SOURCE);
  const [clientPort, serverPort] = [await freePort(), await freePort()];
  const pids: number[] = [];
  for (const [role, port, upstream] of [['server', serverPort, opts.appPort], ['client', clientPort, serverPort]] as const) {
    const child = spawn(process.execPath, [join(dir, 'proxy.cjs')], {
      env: { ...process.env, PAIR_DIR: dir, PAIR_ROLE: role, PAIR_PORT: String(port), PAIR_UPSTREAM: String(upstream) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    pids.push(child.pid!);
    stopAtCleanup(child, opts.cleanups);
  }
  await untilServing(clientPort, 'the bare Node.js pair');
  return { port: clientPort, pids };
}

/** A right-aligned figure for the tables: `n/a` where there is none. */
export const fig = (n: number, digits = 3, width = 9): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a').padStart(width);

export const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
