// The conformance mesh's backend: answers every request with what the Gateway API suite's echo server
// reports (conformance/echo-basic: path, host, method, protocol, request headers, namespace, pod), and
// sets the response headers asked for in X-Echo-Set-Header ("name:value,name:value"), as it does.
// It is also the mesh tests' client (the suite runs its client inside the echo-v1 pod): a POST to
// CLIENT_PATH on the app's own port makes the described request to its upstream through its sidecar.
// One port answers HTTP/1 and h2c (prior knowledge, told apart by the connection's first bytes); a gRPC
// request (content-type application/grpc) gets the suite's gRPC echo (./grpc-echo.ts). Upstream's echo
// pods listen on one port per protocol; a devmesh service has one port. /ws is a WebSocket that echoes
// every message, and with H2C_ONLY set an HTTP/1 request gets a 400, as echo-basic's h2c server answers.
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net from 'node:net';
import { WebSocketServer } from 'ws';
import { callGrpcEcho, isGrpcRequest, serveGrpcEcho, type EchoMethod } from './grpc-echo.js';

export const CLIENT_PATH = '/__conformance-client';
/** The app's last requests' ids (header MIRROR_ID_HEADER), read by the harness to see a mirrored copy arrive. */
export const LOG_PATH = '/__conformance-log';
export const MIRROR_ID_HEADER = 'x-conformance-mirror-id';

export interface EchoReport {
  path: string;
  host: string;
  method: string;
  proto: string;
  headers: Record<string, string[]>;
  namespace: string;
  ingress: string;
  service: string;
  pod: string;
  httpPort: string;
}

export interface ClientRequest {
  /** Upstream service whose <NAME>_URL the request goes to. */
  upstream: string;
  /** grpc: a GrpcEcho call (method Echo unless `path` names one), the headers as its metadata, `host` as :authority. */
  protocol?: 'http' | 'grpc';
  method: string;
  path: string;
  host: string;
  headers: Record<string, string>;
}

export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The header lines as received: the suite reads a header sent on two lines as two values. */
  raw: string[];
  body: string;
}

function headersOf(raw: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < raw.length; i += 2) (out[raw[i]!] ??= []).push(raw[i + 1]!);
  return out;
}

/** Sends one request to `base` with the Host and headers given; never follows a redirect. */
export function send(base: string, r: Omit<ClientRequest, 'upstream'>, timeoutMs = 10_000): Promise<ClientResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { ...r.headers, host: r.host };
    const req = request({ host: url.hostname, port: url.port, method: r.method, path: r.path, headers, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, raw: res.rawHeaders, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${r.method} ${r.path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** A GrpcEcho call through the sidecar, reported as the HTTP echo is (pod, namespace, request headers). */
async function sendGrpc(base: string, c: ClientRequest): Promise<ClientResponse> {
  const url = new URL(base);
  const method = (c.path.split('/').pop() || 'Echo') as EchoMethod;
  const r = await callGrpcEcho(`${url.hostname}:${url.port}`, { method, authority: c.host, metadata: c.headers });
  if (r.code !== 0 || !r.response) throw new Error(`gRPC ${r.codeName}: ${r.details}`);
  const a = r.response.assertions ?? {};
  const headers: Record<string, string[]> = {};
  for (const h of a.headers ?? []) (headers[h.key] ??= []).push(h.value);
  const report: EchoReport = {
    path: a.fullyQualifiedMethod ?? '',
    host: a.authority ?? '',
    method: 'POST',
    proto: 'HTTP/2.0',
    headers,
    namespace: a.context?.namespace ?? '',
    ingress: '',
    service: a.context?.serviceName ?? '',
    pod: a.context?.pod ?? '',
    httpPort: url.port,
  };
  return { status: 200, headers: {}, raw: [], body: JSON.stringify(report) };
}

/** A Go duration as echo-basic's query parameters carry it (1s, 300ms); 0 when absent or unreadable. */
function durationMs(text: string | null): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text ?? '');
  return m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : 0;
}

/**
 * echo-basic's retrySimulationHandler (kubernetes-sigs/gateway-api conformance/echo-basic/echo-basic.go at
 * 53a5258de, the retry tests' backend): the first `succeedAfter` requests with one `uuid` fail, after
 * `delayRetry` when set, with `responseCode` when set and a TCP reset (linger 0) otherwise; later ones are
 * echoed. Returns false when the request is to be echoed.
 */
function retrySimulation(attempts: Map<string, number>, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): boolean {
  const uuid = q.get('uuid');
  if (!uuid) return void res.writeHead(400).end('uuid is required'), true;
  const succeedAfter = q.get('succeedAfter') ?? '';
  if (!/^\d+$/.test(succeedAfter)) return void res.writeHead(400).end('succeedAfter is required'), true;
  const n = attempts.get(uuid) ?? 0;
  if (n >= Number(succeedAfter)) return false;
  attempts.set(uuid, n + 1);
  const code = q.get('responseCode') ?? '';
  setTimeout(() => {
    if (/^\d+$/.test(code)) res.writeHead(Number(code)).end();
    else if (req.httpVersionMajor === 2) (req as unknown as Http2ServerRequest).stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    else req.socket.resetAndDestroy();
  }, durationMs(q.get('delayRetry')));
  return true;
}

function main(): void {
  const pod = process.env.DEVMESH_INSTANCE ?? 'unknown';
  const context = { namespace: process.env.NAMESPACE ?? '', serviceName: process.env.DEVMESH_SERVICE ?? '', pod };
  const seen: string[] = [];
  const attempts = new Map<string, number>();
  const h2cOnly = process.env.H2C_ONLY === '1';
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (isGrpcRequest(req.headers['content-type']) && req.httpVersionMajor === 2) {
      serveGrpcEcho(req as unknown as Http2ServerRequest, res as unknown as Http2ServerResponse, context);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // echo-basic's runH2CServer (53a5258de): "Expected h2c request" unless the request came over HTTP/2.
      if (h2cOnly && req.httpVersionMajor !== 2 && req.url !== CLIENT_PATH && req.url !== LOG_PATH) return void res.writeHead(400).end('Expected h2c request');
      if (req.method === 'POST' && req.url === CLIENT_PATH) {
        const c = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ClientRequest;
        const base = process.env[`${c.upstream.toUpperCase().replaceAll('-', '_')}_URL`];
        if (!base) return void res.writeHead(500).end(`no upstream ${c.upstream}`);
        (c.protocol === 'grpc' ? sendGrpc(base, c) : send(base, c)).then(
          (r) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(r)),
          (err: Error) => res.writeHead(502).end(err.message),
        );
        return;
      }
      if (req.method === 'GET' && req.url === LOG_PATH) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen));
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname.startsWith('/retry/') && retrySimulation(attempts, url.searchParams, req, res)) return;
      const id = req.headers[MIRROR_ID_HEADER];
      if (typeof id === 'string' && seen.push(id) > 1000) seen.shift();
      const authority = req.headers[':authority'];
      const report: EchoReport = {
        path: req.url ?? '',
        host: req.headers.host ?? (typeof authority === 'string' ? authority : ''),
        method: req.method ?? '',
        proto: `HTTP/${req.httpVersion}`,
        headers: headersOf(req.rawHeaders.filter((_, i, raw) => !raw[i - (i % 2)]!.startsWith(':'))),
        namespace: context.namespace,
        ingress: '',
        service: context.serviceName,
        pod,
        httpPort: process.env.PORT ?? '',
      };
      // ?delay=1s holds the answer, as the suite's echo server does (the timeout tests use it).
      const delayMs = durationMs(url.searchParams.get('delay'));
      const out: OutgoingHttpHeaders = { 'content-type': 'application/json' };
      const set = req.headers['x-echo-set-header'];
      for (const pair of (typeof set === 'string' ? set : '').split(',')) {
        const at = pair.indexOf(':');
        if (at > 0) out[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
      }
      setTimeout(() => res.writeHead(200, out).end(JSON.stringify(report)), delayMs);
    });
  };
  const h1 = createServer(handle);
  // echo-basic's /ws: a golang.org/x/net/websocket handler that copies every frame back.
  const wss = new WebSocketServer({ noServer: true });
  h1.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') return void socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  });
  const h2c = http2.createServer({}, handle as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
  const tcp = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('readable', () => {
      const first = socket.read() as Buffer | null;
      if (first === null) return void socket.destroy();
      socket.unshift(first);
      (first.subarray(0, 3).toString('latin1') === 'PRI' ? h2c : h1).emit('connection', socket);
    });
  });
  tcp.listen(Number(process.env.PORT), '127.0.0.1');
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
