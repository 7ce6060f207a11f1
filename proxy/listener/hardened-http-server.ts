// The HTTP/1 server both wings put behind their listener, with what Node's defaults leave out:
// - every response the sidecar makes itself carries x-devmesh-error (docs/traffic.md promises it), including
//   the 400/431/408 Node's parser answers bare ('clientError') and the 417 for an unknown Expect;
// - a request with two Host lines is a 400 (RFC 9112 §3.2), not forwarded with the first one;
// - after such a refusal the connection ends (connection: close), so a request pipelined behind the refused
//   one is never forwarded: what follows a request the sidecar would not read is not trusted as a request;
// - pipelined requests go upstream side by side only while all are safe (RFC 9112 §9.3.2): an unsafe one
//   waits until every request before it is answered, and those after it wait for it (Node's parser hands
//   over each request as soon as it is read; answers are written in order either way).
// The responses themselves come from ../errors.ts, the one place that turns an error into a response.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ProxyError, clientErrorOf, rescue, writeSocketError } from '../errors.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** The request's raw header list names Host more than once (checked on the names only: no allocation). */
export function hasDuplicateHost(rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

const DUPLICATE_HOST = 'the request has more than one Host header line (RFC 9112 §3.2)';

/** Connections whose last answer is a refusal: the requests Node's parser already read behind it are dropped. */
const closing = new WeakSet<object>();

/** One connection's requests that are being answered, and those held back behind an unsafe one. */
interface Pipeline {
  handle: RequestHandler;
  socket: Duplex;
  open: number;
  unsafeOpen: number;
  held: Array<{ req: IncomingMessage; res: ServerResponse }>;
}
const pipelines = new WeakMap<object, Pipeline>();
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
/** On a dispatched response: its connection's pipeline, and whether its request was unsafe (no closure per request). */
const PIPELINE = Symbol('pipeline');
const UNSAFE = Symbol('unsafe');
type Tracked = ServerResponse & { [PIPELINE]?: Pipeline; [UNSAFE]?: boolean };

function mayGo(p: Pipeline, unsafe: boolean): boolean {
  return p.held.length === 0 && (p.open === 0 || (!unsafe && p.unsafeOpen === 0));
}

function isUnsafe(req: IncomingMessage): boolean {
  return !SAFE_METHODS.has(req.method ?? 'GET');
}

function dispatch(p: Pipeline, req: IncomingMessage, res: ServerResponse, unsafe: boolean): void {
  p.open++;
  if (unsafe) p.unsafeOpen++;
  const tracked = res as Tracked;
  tracked[PIPELINE] = p;
  tracked[UNSAFE] = unsafe;
  res.once('close', onAnswered);
  p.handle(req, res);
}

function onAnswered(this: Tracked): void {
  const p = this[PIPELINE]!;
  p.open--;
  if (this[UNSAFE] === true) p.unsafeOpen--;
  // The client is gone: what it pipelined behind is never sent upstream (nobody would read the answer).
  if (p.socket.destroyed) p.held.length = 0;
  while (p.held.length > 0) {
    const next = p.held[0]!;
    if (next.res.destroyed) {
      p.held.shift();
      continue;
    }
    const unsafe = isUnsafe(next.req);
    if (p.open !== 0 && (unsafe || p.unsafeOpen > 0)) break;
    p.held.shift();
    dispatch(p, next.req, next.res, unsafe);
  }
}

/** Hands the request on now, or holds it until the requests before it on its connection allow it. */
function inOrder(handle: RequestHandler, req: IncomingMessage, res: ServerResponse): void {
  const key = req.socket;
  let p = pipelines.get(key);
  if (p === undefined) {
    p = { handle, socket: key, open: 0, unsafeOpen: 0, held: [] };
    pipelines.set(key, p);
  }
  const unsafe = isUnsafe(req);
  if (mayGo(p, unsafe)) dispatch(p, req, res, unsafe);
  else p.held.push({ req, res });
}

function refuse(res: ServerResponse, err: ProxyError): void {
  closing.add(res.socket ?? res);
  res.shouldKeepAlive = false;
  rescue(res, err, null);
}

/**
 * An http.Server for `handle` (and `upgrade`, for HTTP/1.1 Upgrade requests) with the hardening above. Hand it
 * to ConnectionListener as the wing's `http1`; it does not listen itself.
 */
export function hardenedHttpServer(handle: RequestHandler, upgrade?: UpgradeHandler): http.Server {
  const server = http.createServer((req, res) => {
    // Left unanswered: the connection closes once the refusal before it is written.
    if (req.socket !== null && closing.has(req.socket)) return;
    if (hasDuplicateHost(req.rawHeaders)) return refuse(res, new ProxyError('bad-request', DUPLICATE_HOST));
    inOrder(handle, req, res);
  });
  // Longer than any client's idle timeout, so the client (which knows) closes idle connections first.
  server.keepAliveTimeout = 65_000;
  // A client that half-closes after its request (its FIN says "no more requests", not "stop answering")
  // still gets the answer, however long the upstream takes. Node's http.Server aborts such a request unless
  // this (internal, long-standing) flag is set; the listener's sockets are half-open to match.
  (server as http.Server & { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
  if (upgrade !== undefined) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (closing.has(socket)) socket.destroy();
      else if (hasDuplicateHost(req.rawHeaders)) writeSocketError(socket, new ProxyError('bad-request', DUPLICATE_HOST));
      else upgrade(req, socket, head);
    });
  }
  server.on('clientError', onClientError);
  server.on('checkExpectation', onExpectation);
  return server;
}

/** Sockets answered with a refusal whose client may still be sending: what arrives is read and dropped. */
const lingering = new WeakSet<Duplex>();
/** How long a refused client may go on sending before the connection is cut (nginx's lingering_time is 30 s). */
const LINGER_MS = 2_000;

/**
 * Closes a refused connection without losing the refusal (RFC 9112 §9.6, "tear-down"): a close while the
 * client is still sending (the rest of a 1 MB header) makes the kernel reset the connection, and a reset
 * can discard the answer before the client reads it. So the write side is closed with the answer (FIN) and
 * what the client still sends is read and dropped (each further chunk is another parse error, ignored by
 * onClientError) until it closes its side or LINGER_MS has passed, as nginx's lingering close does.
 */
function closeAfterLinger(socket: Duplex): void {
  lingering.add(socket);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  // The client has closed its side: done once the answer is out.
  socket.once('end', () => {
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  });
}

/** Node's parser gave up on the request: answer it (unless a response already started), then close. */
function onClientError(err: Error & { code?: string }, socket: Duplex): void {
  // The rest of a head already refused as too large, still arriving: dropped while the connection lingers.
  if (lingering.has(socket)) return;
  const proxyErr = clientErrorOf(err);
  // A response under way on this socket cannot be followed by another status line.
  const started = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage?.headersSent === true;
  if (proxyErr === null || !socket.writable || started) {
    socket.destroy();
    return;
  }
  writeSocketError(socket, proxyErr);
  // A head too large is refused while the client is still sending it: linger. Any other refusal came with a
  // short request, or mid-body of one already on its way upstream, which the socket's close must abort now.
  if (proxyErr.code === 'headers-too-large') closeAfterLinger(socket);
  // Closed once the answer is flushed (a destroy now could drop it, over TLS especially).
  else socket.once('finish', () => socket.destroy());
}

/** An Expect other than 100-continue: 417, as Node would answer, but with x-devmesh-error. */
function onExpectation(req: IncomingMessage, res: ServerResponse): void {
  if (req.socket !== null && closing.has(req.socket)) return;
  refuse(res, new ProxyError('expectation-failed', `cannot meet the expectation ${JSON.stringify(req.headers.expect ?? '')}`));
}
