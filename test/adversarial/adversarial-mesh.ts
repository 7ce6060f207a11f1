// Scaffolding for the adversarial suite: a mesh started with `devmesh up` (ingress → front; front's app
// reaches back and evil through its outbound listeners; back and evil behind mTLS inbounds), apps that log
// every request line they parse, a raw-TCP "evil upstream" whose answer the request path chooses, and a raw
// HTTP/1.1 client (plain or with a client certificate) that sends exactly the bytes a test writes and parses
// what comes back without normalising it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import type { StatusResponse } from '../../src/contract/api.js';
import { LocalCa } from '../../src/ca/local-ca.js';
import { spiffeId } from '../../proxy/protocol/index.js';
import { processesOfHome, startMesh, waitFor, type RunningMesh, type StartMeshOptions } from '../helpers/mesh-process.js';
export { waitFor };

export const MESH_NAME = 'adv';

/**
 * An HTTP app that appends one JSON line per request it parses to logs/<instance>.requests (the request
 * line and raw headers, at arrival, before the body), and at start writes logs/<instance>.env.json with
 * its upstream URLs, so a test can reach its outbound listeners. /slow?ms=N answers after N ms.
 */
const RECORDER = `
import { createServer } from 'node:http';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const logs = join(process.cwd(), 'logs');
mkdirSync(logs, { recursive: true });
const id = process.env.DEVMESH_INSTANCE;
const upstreams = {};
for (const [k, v] of Object.entries(process.env)) if (k.endsWith('_URL') && v.startsWith('http://127.0.0.1:')) upstreams[k] = v;
writeFileSync(join(logs, id + '.env.json'), JSON.stringify({ pid: process.pid, upstreams }));
const file = join(logs, id + '.requests');
const delay = Number(process.env.APP_DELAY_MS ?? 0);
const server = createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  appendFileSync(file, JSON.stringify({ line: req.method + ' ' + req.url + ' HTTP/' + req.httpVersion, headers: req.rawHeaders }) + '\\n');
  let bytes = 0;
  req.on('data', (c) => (bytes += c.length));
  req.on('error', () => {});
  req.on('end', () => {
    const u = new URL(req.url, 'http://x');
    const ms = u.pathname === '/slow' ? Number(u.searchParams.get('ms') ?? 1000) : delay;
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-app-instance': id });
      res.end(JSON.stringify({ path: req.url, instance: id, pid: process.pid, bodyBytes: bytes }));
    };
    if (ms > 0) setTimeout(answer, ms); else answer();
  });
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PORT), '127.0.0.1');
`;

/**
 * A raw-TCP HTTP/1.1 "server" that misbehaves on purpose. It logs each request line to
 * logs/<instance>.requests and answers according to the path (see EVIL_PATHS); anything else gets a
 * well-formed 200 "ok".
 */
const EVIL = `
import net from 'node:net';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
const logs = join(process.cwd(), 'logs');
mkdirSync(logs, { recursive: true });
const file = join(logs, process.env.DEVMESH_INSTANCE + '.requests');
const chunked = '5\\r\\nhello\\r\\n0\\r\\n\\r\\n';
const answers = {
  '/clte-long': ['HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n' + chunked, false],
  '/clte-short': ['HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n' + chunked, false],
  '/crlf': ['HTTP/1.1 200 OK\\r\\nX-Evil: a\\rInjected: yes\\r\\nContent-Length: 2\\r\\n\\r\\nok', true],
  '/bad-chunk': ['HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\nhello\\r\\n0\\r\\n\\r\\n', false],
  '/close-mid-body': ['HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\n' + 'x'.repeat(50), 'destroy'],
  '/big-headers': ['HTTP/1.1 200 OK\\r\\n' + Array.from({ length: 1024 }, (_, i) => 'X-Big-' + i + ': ' + 'a'.repeat(1000) + '\\r\\n').join('') + 'Content-Length: 2\\r\\n\\r\\nok', true],
  '/silence': [null, false],
};
net.createServer((socket) => {
  let buf = '';
  socket.on('error', () => {});
  socket.on('data', (d) => {
    buf += d.toString('latin1');
    let end;
    while ((end = buf.indexOf('\\r\\n\\r\\n')) !== -1) {
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      const line = head.split('\\r\\n')[0];
      const cl = /\\r\\ncontent-length: *(\\d+)/i.exec(head);
      if (cl) buf = buf.slice(Number(cl[1]));
      const path = line.split(' ')[1] ?? '';
      if (path === '/healthz') { socket.write('HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok'); continue; }
      appendFileSync(file, JSON.stringify({ line, headers: [] }) + '\\n');
      const [text, close] = answers[path.split('?')[0]] ?? ['HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok', false];
      if (text === null) continue;
      socket.write(text, 'latin1');
      if (close === 'destroy') setTimeout(() => socket.destroy(), 50);
      else if (close) socket.end();
    }
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

export const ADVERSARIAL_APPS: Record<string, string> = {
  'recorder.js': RECORDER,
  'evil.js': EVIL,
  'package.json': '{ "type": "module" }',
};

/** The route timeout for evil (silence must become a 504 within it). */
export const EVIL_TIMEOUT_MS = 1000;

/**
 * The mesh file. With `defaultRetries` the routes carry no retries block, so Istio's default applies
 * (2 retries: the request body is kept for a replay); otherwise `attempts: 0`, so each probe reaches an
 * app at most once.
 */
export function adversarialYaml(extra = '', defaultRetries = false): string {
  const retries = defaultRetries ? '' : '\n      retries: { attempts: 0 }';
  return `name: ${MESH_NAME}
mtls: STRICT
ingress:
  - port: 0
    service: front
services:
  front:
    run: node recorder.js
    upstreams: [back, evil]
    health: /healthz
  back:
    run: node recorder.js
    health: /healthz
  evil:
    run: node evil.js
routes:
  front:
    - route: [{ destination: { host: front } }]${retries}
      timeout: 10s
  back:
    - route: [{ destination: { host: back } }]${retries}
      timeout: 10s
  evil:
    - route: [{ destination: { host: evil } }]${retries}
      timeout: ${EVIL_TIMEOUT_MS}ms
${extra}`;
}

export interface Target {
  name: string;
  port: number;
  /** A client certificate for an mTLS inbound. */
  tls?: { ca: string; cert: string; key: string };
  /** The app instance behind it, whose request log shows what reached it. */
  app: string;
  /** The Host a well-formed request through it carries. */
  host: string;
}

export interface AdversarialMesh {
  mesh: RunningMesh;
  ingress: Target;
  /** front's outbound listener for back (the app's BACK_URL). */
  outbound: Target;
  /** front's outbound listener for evil. */
  evilOutbound: Target;
  /** back's mTLS inbound, reached with a certificate for spiffe://adv/ns/default/sa/front. */
  inbound: Target;
  ca: LocalCa;
  /** Every request line an app instance logged, in order (health checks excluded). */
  requests(instance: string): string[];
  /** Every request line any app logged. */
  allRequests(): string[];
  /** Sidecar pids by id (instances' sidecars and ingress gateways), from the status API. */
  sidecarPids(): Promise<Record<string, number | null>>;
  status(): Promise<StatusResponse>;
}

export async function startAdversarialMesh(opts: Partial<StartMeshOptions> & { extraYaml?: string; defaultRetries?: boolean } = {}): Promise<AdversarialMesh> {
  const mesh = await startMesh({ yaml: adversarialYaml(opts.extraYaml, opts.defaultRetries), files: ADVERSARIAL_APPS, ...opts });
  try {
    const logs = join(mesh.dir, 'logs');
    const env = await waitFor('front-0 to write its upstream URLs', () => {
      const f = join(logs, 'front-0.env.json');
      return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { upstreams: Record<string, string> }) : undefined;
    });
    const status = await mesh.api<StatusResponse>('/api/status');
    const back = status.services.find((s) => s.name === 'back')!.instances[0]!;
    const ca = LocalCa.loadOrCreate(join(mesh.home, 'ca'));
    const leaf = ca.issue({ commonName: 'front-test-client', uris: [spiffeId(MESH_NAME, 'front')] });
    const portOf = (url: string) => Number(new URL(url).port);
    const read = (file: string) =>
      readFileSync(join(logs, file), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { line: string }).line);
    return {
      mesh,
      ca,
      ingress: { name: 'ingress', port: portOf(mesh.ingress.front!), app: 'front-0', host: 'front' },
      outbound: { name: 'outbound', port: portOf(env.upstreams.BACK_URL!), app: 'back-0', host: 'back' },
      evilOutbound: { name: 'evil outbound', port: portOf(env.upstreams.EVIL_URL!), app: 'evil-0', host: 'evil' },
      inbound: { name: 'mTLS inbound', port: back.inboundPort!, app: 'back-0', host: 'back', tls: { ca: ca.rootPem, cert: leaf.certPem, key: leaf.keyPem } },
      requests: (instance) => (existsSync(join(logs, `${instance}.requests`)) ? read(`${instance}.requests`) : []),
      allRequests: () => readdirSync(logs).filter((f) => f.endsWith('.requests')).flatMap((f) => read(f)),
      status: () => mesh.api<StatusResponse>('/api/status'),
      async sidecarPids() {
        const s = await mesh.api<StatusResponse>('/api/status');
        const out: Record<string, number | null> = {};
        for (const svc of s.services) for (const i of svc.instances) out[i.id] = i.sidecar.pid;
        // Gateways list their sidecar in the status API once main's restart counting is in; until then /proc.
        for (const g of s.ingress) {
          const id = `ingress-${g.service}`;
          out[id] = (g as { sidecar?: { pid: number | null } }).sidecar?.pid ?? sidecarPidFromProc(mesh.home, id);
        }
        return out;
      },
    };
  } catch (err) {
    await mesh.stop();
    throw err;
  }
}

/** The pid of the mesh's sidecar process `id` (its command line is `node …/proxy/main.js <id>`). */
function sidecarPidFromProc(home: string, id: string): number | null {
  for (const pid of processesOfHome(home)) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (argv.some((a) => a.endsWith(join('proxy', 'main.js'))) && argv.includes(id)) return pid;
    } catch {
      /* exited */
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.

export interface RawResponse {
  status: number;
  headers: Array<[string, string]>;
  /** The decoded body (chunked framing removed). */
  body: Buffer;
  /** Whether the message ended as its own framing says (a truncated body is incomplete). */
  complete: boolean;
}

export interface RawResult {
  responses: RawResponse[];
  raw: Buffer;
  /** The peer closed (or reset) the connection. */
  closed: boolean;
  /** Our deadline passed with the connection still open and no more responses expected. */
  timedOut: boolean;
  error: string | null;
  ms: number;
}

export function header(r: RawResponse | undefined, name: string): string | undefined {
  return r?.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

export function headersNamed(r: RawResponse, name: string): string[] {
  return r.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

/** Parses every response in `buf`; the last one may be incomplete. */
export function parseResponses(buf: Buffer, closed: boolean, headRequests = 0): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at, 'latin1');
    if (end === -1) break;
    const lines = buf.toString('latin1', at, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
    if (!m) break;
    const status = Number(m[1]);
    const headers: Array<[string, string]> = lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    });
    at = end + 4;
    const get = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
    if (status < 200 || status === 204 || status === 304 || out.filter((r) => r.status >= 200).length < headRequests) {
      out.push({ status, headers, body: Buffer.alloc(0), complete: true });
      continue;
    }
    const te = get('transfer-encoding').join(',').toLowerCase();
    const cl = get('content-length');
    if (te.includes('chunked')) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', at, 'latin1');
        if (lineEnd === -1) break;
        const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
        if (!Number.isFinite(size)) break;
        if (size === 0) {
          // The last chunk, then trailer lines, then an empty line.
          const trailerEnd = buf.indexOf('\r\n\r\n', lineEnd, 'latin1');
          if (trailerEnd === -1) break;
          at = trailerEnd + 4;
          complete = true;
          break;
        }
        if (buf.length < lineEnd + 2 + size + 2) break;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      out.push({ status, headers, body: Buffer.concat(parts), complete });
      if (!complete) break;
    } else if (cl.length > 0) {
      const n = Number(cl[0]);
      const body = buf.subarray(at, Math.min(buf.length, at + n));
      out.push({ status, headers, body, complete: body.length === n });
      at += body.length;
      if (body.length < n) break;
    } else {
      out.push({ status, headers, body: buf.subarray(at), complete: closed });
      break;
    }
  }
  return out;
}

export interface RawOptions {
  /** Give up (and close) after this long. */
  timeoutMs?: number;
  /** Stop reading once this many final (non-1xx) responses are complete. */
  responses?: number;
  /** Pause between the chunks written. */
  gapMs?: number;
  /** Destroy the socket right after the last chunk (an aborted upload). */
  abort?: boolean;
  /** The first `headRequests` final responses have no body. */
  headRequests?: number;
}

/** Writes `chunks` as they are, reads until the peer closes, enough responses arrived, or the deadline. */
export function rawExchange(target: Pick<Target, 'port' | 'tls'>, chunks: Array<string | Buffer> | string | Buffer, opts: RawOptions = {}): Promise<RawResult> {
  const list = Array.isArray(chunks) ? chunks : [chunks];
  const timeoutMs = opts.timeoutMs ?? 5000;
  const want = opts.responses ?? 1;
  const started = Date.now();
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let error: string | null = null;
    let finished = false;
    const socket: net.Socket = target.tls
      ? tls.connect({ host: '127.0.0.1', port: target.port, ...target.tls, ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined })
      : net.connect({ host: '127.0.0.1', port: target.port });
    const finish = (closed: boolean, timedOut: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(got);
      resolve({ responses: parseResponses(raw, closed, opts.headRequests), raw, closed, timedOut, error, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    socket.on('data', (d: Buffer) => {
      got.push(d);
      const rs = parseResponses(Buffer.concat(got), false, opts.headRequests);
      if (rs.filter((r) => r.status >= 200 && r.complete).length >= want && !opts.abort) finish(false, false);
    });
    socket.on('error', (err) => {
      error = (err as NodeJS.ErrnoException).code ?? err.message;
    });
    socket.on('close', () => finish(true, false));
    socket.once(target.tls ? 'secureConnect' : 'connect', async () => {
      for (const [i, c] of list.entries()) {
        if (finished) break;
        if (!socket.write(c)) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
        if (opts.gapMs && i < list.length - 1) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      if (opts.abort) setTimeout(() => finish(true, false), 20);
    });
  });
}

/** A well-formed request through `target`; resolves with its response. */
export async function normalRequest(target: Pick<Target, 'port' | 'tls' | 'host'>, path: string, timeoutMs = 5000): Promise<RawResult> {
  return rawExchange(target, `GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: close\r\n\r\n`, { timeoutMs });
}

export function pctl(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

let seq = 0;
/** A unique id for a probe, so log lines can be attributed to the test that sent them. */
export function probeId(name: string): string {
  return `${name}-${process.pid}-${++seq}`;
}

/** Runs `fn` and then asserts that no sidecar of the mesh was replaced (a crash restarts it with a new pid). */
export async function sidecarsSurvive<T>(adv: AdversarialMesh, fn: () => Promise<T>): Promise<T> {
  const before = await adv.sidecarPids();
  const result = await fn();
  // A crash is noticed by the control plane at once, and restarted after 500 ms: wait past that.
  await new Promise((r) => setTimeout(r, 700));
  const after = await adv.sidecarPids();
  const changed = Object.keys(before).filter((id) => before[id] !== after[id]);
  if (changed.length > 0) {
    throw new Error(`sidecar crashed: ${changed.map((id) => `${id} pid ${before[id]} → ${after[id]}`).join(', ')}\n${adv.mesh.stdout().split('\n').filter((l) => /proxy \||sidecar/.test(l)).slice(-12).join('\n')}`);
  }
  return result;
}
