// HTTP/1.1 to one origin: a keep-alive connection pool over TCP or TLS (mesh mTLS to a destination sidecar,
// plain to the local app, or TLS to an external host), plus Upgrade (WebSocket) that also hands back a refusal.
// Written for this one job instead of undici because the sidecar sits on every request: in the benchmark
// (npm run bench) undici's per-request machinery (request objects, handler chains, its wasm parser, a
// stream per body) cost about 10 µs of CPU per request in each sidecar. Here a request is one write (head
// and a buffered body together), a response is parsed from its first chunk in one pass, and a body that
// arrived with its head is handed over as one Buffer without any stream, which is what small API
// responses on loopback nearly always do. Larger or slower bodies stream with backpressure.
//
// Semantics a proxy needs, each deliberate:
// - framing: content-length, chunked (with trailers), read-until-close; no body for HEAD, 1xx, 204, 304;
//   interim 1xx answers (100, 103) are skipped; a request body stream without a length goes chunked;
// - keep-alive: a connection is reused only after a complete exchange; `connection: close`, a
//   close-delimited body, a request body left unsent, or maxRequestsPerConnection retire it; idle
//   connections close before the server's Keep-Alive hint runs out (the hint minus a margin), so a reused
//   connection is not one the server is closing at that very moment;
// - errors carry what the retry policy needs: a failure before the connection was established (refused,
//   TLS handshake, connect timeout) has `phase: 'connect'` (nothing was sent: a connect-failure);
//   anything later is a reset;
// - no pipelining: one request per connection at a time, so one slow response never delays another.
import net from 'node:net';
import tls, { type ConnectionOptions, type SecureContext } from 'node:tls';
import { Readable } from 'node:stream';

export interface H1Origin {
  host: string;
  port: number;
  /** null: plain TCP. The secure context is built once per pool. */
  tls: (ConnectionOptions & { secureContext?: SecureContext }) | null;
}

export interface H1PoolOptions {
  /** Connections open at once; further requests wait for one to come free. */
  connections: number;
  /** Retire a connection after this many requests; 0 or undefined: unlimited. */
  maxRequestsPerConnection?: number;
  /** Idle connections close after this long (or sooner, by the server's Keep-Alive hint). */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * What a pool gets when nothing says otherwise (connectionPool policy for destinations; the app pool):
 * the idle limit applies only where the upstream's Keep-Alive hint is not shorter.
 */
export const DEFAULT_POOL_OPTIONS: Readonly<H1PoolOptions> = { connections: 128, idleTimeoutMs: 30_000, connectTimeoutMs: 5_000 };

export interface H1Request {
  method: string;
  path: string;
  /** Flat [name, value, ...]; names lower case. A `host` is added when absent. */
  headers: readonly string[];
  body: Buffer | Readable | null;
  signal?: AbortSignal;
}

export type Headers = Record<string, string | string[]>;

export type UpgradeOutcome =
  /** `socket` is paused, with any bytes that followed the 101 put back: pipe() it, or resume() it. */
  | { upgraded: true; headers: Headers; socket: net.Socket }
  | { upgraded: false; status: number; headers: Headers; body: Buffer };

/** Transport failures: `code` for the retry policy, `phase` tells a connect failure from a reset. */
export class H1Error extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly phase: 'connect' | 'exchange',
  ) {
    super(message);
  }
}

const MAX_HEAD = 64 * 1024;
const MAX_REFUSAL_BODY = 64 * 1024;
/** How long before the server's advertised keep-alive timeout an idle connection is given up. */
const KEEP_ALIVE_MARGIN_MS = 1_000;
const IDLE_SWEEP_MS = 1_000;
const CRLF2 = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
/** Header values must not be able to start a new header or message. */
const UNSAFE_VALUE = /[\r\n\0]/;
/** RFC 9110 field names, and the control characters no field value may hold (HTAB is allowed). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** The response body as a stream, made only when asked for (a complete body never needs one). */
export class H1Body extends Readable {
  constructor(private readonly onRead: () => void) {
    super();
  }
  override _read(): void {
    this.onRead();
  }
  /** Reads and drops the rest (for a response nobody relays: a retried or mirrored one). */
  dump(): void {
    this.resume();
  }
}

export class H1Response {
  /** Filled as they arrive (chunked trailers), before the body ends. */
  readonly trailers: Headers = {};
  /** The whole body, when it arrived with the head (nothing left to stream); else null and `body` streams. */
  complete: Buffer | null = null;
  private stream: H1Body | null = null;

  constructor(
    readonly statusCode: number,
    readonly headers: Headers,
  ) {}

  /** The rest of the body arrives later, through `stream`. */
  streamFrom(stream: H1Body): void {
    this.stream = stream;
  }

  /** The body as a stream (for a complete body, made on first use: a stream of that one Buffer). */
  get body(): H1Body {
    if (this.stream === null) {
      const s = new H1Body(() => {});
      const done = this.complete ?? EMPTY;
      if (done.length > 0) s.push(done);
      s.push(null);
      this.stream = s;
    }
    return this.stream;
  }

  /** Drops the body: nothing to do for a complete one, else read to the end (the connection stays usable). */
  dump(): void {
    if (this.stream !== null) this.stream.dump();
  }
}

function abortError(): H1Error {
  const err = new H1Error('request aborted', 'ABORT_ERR', 'exchange');
  err.name = 'AbortError';
  return err;
}

/** One request/response, from dispatch to the end of the response body. */
class Exchange {
  response: H1Response | null = null;
  settled = false;
  /** The connection carrying it, once started. */
  conn: Connection | null = null;
  private onAbort: (() => void) | null = null;

  constructor(
    readonly req: H1Request,
    private readonly resolveFn: (r: H1Response | UpgradeOutcome) => void,
    private readonly rejectFn: (e: Error) => void,
    readonly upgrade: string | null,
    pool: H1Pool,
  ) {
    const signal = req.signal;
    if (signal !== undefined) {
      // Waiting for a connection, connecting, or exchanging: an abort ends it at once.
      const onAbort = (): void => {
        if (this.conn !== null) this.conn.destroy(abortError());
        else {
          pool.unqueue(this);
          this.fail(abortError());
        }
      };
      this.onAbort = onAbort;
      signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  succeed(r: H1Response | UpgradeOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFn(r);
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.end();
    this.rejectFn(err);
  }

  /** The exchange is over (response body included): the signal no longer concerns it. */
  end(): void {
    if (this.onAbort !== null) {
      this.req.signal!.removeEventListener('abort', this.onAbort);
      this.onAbort = null;
    }
    this.conn = null;
  }
}

const enum Phase {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

class Connection {
  requests = 0;
  lastUsed = 0;
  /** Until 'connect' (TCP) or 'secureConnect' (TLS): a failure then is a connect failure. */
  connecting = true;
  closed = false;
  /** Counted out of the pool's open connections already. */
  forgotten = false;
  /** From the server's `Keep-Alive: timeout=N` (minus a margin), else the pool's idle timeout. */
  idleLimitMs: number;
  /** The exchange this connection was opened for, until it is connected. */
  waiting: Exchange | null = null;
  private ex: Exchange | null = null;
  private phase = Phase.Done;
  private pending: Buffer | null = null;
  private remaining = 0;
  private reusable = true;
  private requestSent = true;
  /** Body pieces of the first chunk, before the response is handed over; null once it streams. */
  private collected: Buffer[] | null = null;
  private body: H1Body | null = null;
  private paused = false;
  private stopBody: (() => void) | null = null;

  constructor(
    readonly pool: H1Pool,
    readonly socket: net.Socket,
  ) {
    this.idleLimitMs = pool.options.idleTimeoutMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error & { code?: string }) => this.destroy(err));
    socket.on('close', () => this.destroy(null));
    socket.on('end', () => {
      if (this.phase === Phase.UntilClose) this.finishMessage();
    });
  }

  /** Sends `ex`'s request. */
  start(ex: Exchange): void {
    this.ex = ex;
    ex.conn = this;
    this.requests++;
    this.phase = Phase.Head;
    this.reusable = true;
    const req = ex.req;
    const max = this.pool.options.maxRequestsPerConnection;
    // A rewrite could have produced such a target: it must not break the request line.
    if (UNSAFE_VALUE.test(req.path) || req.path.includes(' ')) return this.refuse(ex, `request target ${JSON.stringify(req.path)} has a space, line break or NUL in it`);
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    let host = false;
    let declaredLength: string | null = null;
    const h = req.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      const value = h[i + 1]!;
      if (UNSAFE_VALUE.test(value) || UNSAFE_VALUE.test(name)) return this.refuse(ex, `header ${JSON.stringify(name)} has a line break or NUL in it`);
      if (name === 'host') host = true;
      else if (name === 'content-length') {
        // A buffered body gets its own exact length below.
        if (!(req.body instanceof Readable)) continue;
        declaredLength = value;
      }
      head += `${name}: ${value}\r\n`;
    }
    if (!host) head += `host: ${this.pool.hostHeader}\r\n`;
    if (ex.upgrade !== null) head += `connection: upgrade\r\nupgrade: ${ex.upgrade}\r\n`;
    else if (max !== undefined && max > 0 && this.requests >= max) {
      head += 'connection: close\r\n';
      this.reusable = false;
    }
    const body = req.body;
    const socket = this.socket;
    if (body === null) {
      if (PAYLOAD_METHODS.has(req.method)) head += 'content-length: 0\r\n';
      this.requestSent = true;
      socket.write(`${head}\r\n`, 'latin1');
    } else if (Buffer.isBuffer(body)) {
      this.requestSent = true;
      head += `content-length: ${body.length}\r\n\r\n`;
      if (body.length === 0) socket.write(head, 'latin1');
      else {
        // One write, so one TCP segment / TLS record for a small request.
        socket.cork();
        socket.write(head, 'latin1');
        socket.write(body);
        socket.uncork();
      }
    } else {
      this.requestSent = false;
      const chunked = declaredLength === null;
      socket.write(`${head}${chunked ? 'transfer-encoding: chunked\r\n' : ''}\r\n`, 'latin1');
      this.streamBody(body, chunked, declaredLength === null ? -1 : Number(declaredLength));
    }
  }

  /** A request that cannot be written as it is: refused before anything is sent, so the connection stays good. */
  private refuse(ex: Exchange, why: string): void {
    this.ex = null;
    this.phase = Phase.Done;
    ex.fail(new H1Error(why, 'ERR_INVALID_HEADER', 'exchange'));
    this.release();
  }

  private streamBody(body: Readable, chunked: boolean, declared: number): void {
    const socket = this.socket;
    let sent = 0;
    const onData = (chunk: Buffer): void => {
      if (chunk.length === 0) return;
      sent += chunk.length;
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(chunk);
      if (!ok) {
        body.pause();
        socket.once('drain', onDrain);
      }
    };
    const onDrain = (): void => {
      body.resume();
    };
    const onEnd = (): void => {
      stop();
      if (!chunked && sent !== declared) {
        this.destroy(new H1Error(`request body was ${sent} bytes, its content-length said ${declared}`, 'ERR_BODY_LENGTH', 'exchange'));
        return;
      }
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      // (A response that finished first has already stopped these listeners: see afterExchange.)
      this.requestSent = true;
    };
    const onError = (err: Error): void => {
      stop();
      this.destroy(new H1Error(`request body failed: ${err.message}`, 'ECONNRESET', 'exchange'));
    };
    const stop = (): void => {
      this.stopBody = null;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      socket.off('drain', onDrain);
    };
    this.stopBody = stop;
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.resume();
  }

  private onData(chunk: Buffer): void {
    const ex = this.ex;
    if (ex === null || this.phase === Phase.Done) {
      // Bytes nobody asked for: the connection is out of step with the server.
      this.destroy(null);
      return;
    }
    let data = chunk;
    let at = 0;
    if (this.phase === Phase.Head) {
      if (this.pending !== null) {
        data = Buffer.concat([this.pending, chunk]);
        this.pending = null;
      }
      for (;;) {
        const end = data.indexOf(CRLF2, at);
        if (end === -1) {
          if (data.length - at > MAX_HEAD) return this.destroy(new H1Error(`response head over ${MAX_HEAD} bytes`, 'HPE_HEADER_OVERFLOW', 'exchange'));
          this.pending = at === 0 ? data : data.subarray(at);
          return;
        }
        const status = this.parseHead(data.toString('latin1', at, end), ex);
        at = end + 4;
        if (status < 0) return;
        if (status === 101) {
          // Upgraded: the socket is the caller's now, starting with what followed the head.
          if (at < data.length) this.socket.unshift(data.subarray(at));
          return;
        }
        if (status >= 200) break;
        // An interim answer (100 Continue, 103 Early Hints): the real one follows.
      }
      if (this.isDone()) {
        // A response without a body.
        if (at < data.length) this.reusable = false;
        this.finishMessage();
        return;
      }
      this.collected = [];
    }
    this.decode(data, at);
    const parts = this.collected;
    if (parts === null) return;
    // The first chunk is decoded: either the whole body is here, or the rest streams.
    this.collected = null;
    if (ex.settled || this.ex !== ex) return; // failed while decoding
    const response = ex.response!;
    if (this.isDone()) {
      response.complete = parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      ex.succeed(response);
      this.afterExchange();
      return;
    }
    const body = new H1Body(() => {
      if (this.paused) {
        this.paused = false;
        this.socket.resume();
      }
    });
    body.once('close', () => {
      // Destroyed by its reader before the end: the rest would arrive unread, so the connection goes.
      if (this.body === body) this.destroy(null);
    });
    this.body = body;
    response.streamFrom(body);
    for (const p of parts) this.push(body, p);
    ex.succeed(response);
  }

  /** (A method, so the compiler does not narrow the phase across calls that change it.) */
  private isDone(): boolean {
    return this.phase === Phase.Done;
  }

  /** Parses a response head; returns the status, or -1 after failing the exchange. */
  private parseHead(text: string, ex: Exchange): number {
    const lines = text.split('\r\n');
    const statusLine = lines[0]!;
    let status = -1;
    if (statusLine.startsWith('HTTP/1.') && statusLine.charCodeAt(8) === 32 && (statusLine.length === 12 || statusLine.charCodeAt(12) === 32)) {
      const d0 = statusLine.charCodeAt(9) - 48;
      const d1 = statusLine.charCodeAt(10) - 48;
      const d2 = statusLine.charCodeAt(11) - 48;
      if (d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) status = d0 * 100 + d1 * 10 + d2;
    }
    if (status === -1) {
      this.destroy(new H1Error(`invalid HTTP/1.1 status line from upstream: ${JSON.stringify(statusLine.slice(0, 80))}`, 'HPE_INVALID_STATUS', 'exchange'));
      return -1;
    }
    const headers: Headers = {};
    let length = -1;
    let chunked = false;
    let otherCoding = false;
    let close = statusLine.charCodeAt(7) === 48; // HTTP/1.0 closes unless it says keep-alive
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon).toLowerCase() : '';
      const value = line.slice(colon + 1).trim();
      // A name that is not a token, or a value with a bare LF, NUL or other control character, would be
      // relayed downstream as something else (response splitting): the answer is refused instead.
      if (!TOKEN.test(name) || BAD_VALUE.test(value)) {
        this.destroy(new H1Error(`invalid header line from upstream: ${JSON.stringify(line.slice(0, 80))}`, 'HPE_INVALID_HEADER_TOKEN', 'exchange'));
        return -1;
      }
      const prev = headers[name];
      headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
      switch (name) {
        case 'content-length': {
          const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
          if (Number.isNaN(n) || (length !== -1 && n !== length)) {
            this.destroy(new H1Error(`invalid content-length from upstream: ${JSON.stringify(value)}`, 'HPE_INVALID_CONTENT_LENGTH', 'exchange'));
            return -1;
          }
          length = n;
          break;
        }
        case 'transfer-encoding': {
          const codings = value.toLowerCase();
          chunked = codings === 'chunked' || /(^|,)\s*chunked$/.test(codings);
          otherCoding = !chunked;
          break;
        }
        case 'connection': {
          const v = value.toLowerCase();
          if (v.includes('close')) close = true;
          else if (v.includes('keep-alive')) close = false;
          break;
        }
        case 'keep-alive': {
          const m = /timeout=(\d+)/.exec(value);
          if (m !== null) this.idleLimitMs = Math.min(this.pool.options.idleTimeoutMs, Math.max(0, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS));
          break;
        }
      }
    }
    if (status < 200) {
      if (status !== 101) return status;
      if (ex.upgrade === null) {
        this.destroy(new H1Error('upstream switched protocols without being asked to', 'HPE_UNEXPECTED_101', 'exchange'));
        return -1;
      }
      this.handOver(ex, headers);
      return status;
    }
    if (close) this.reusable = false;
    ex.response = new H1Response(status, headers);
    if (ex.req.method === 'HEAD' || status === 204 || status === 304 || (length === 0 && !chunked)) this.phase = Phase.Done;
    else if (chunked) this.phase = Phase.ChunkSize;
    else if (otherCoding || length === -1) {
      // Framed by the end of the connection (RFC 9112 §6.3): it cannot be reused.
      this.phase = Phase.UntilClose;
      this.reusable = false;
    } else {
      this.phase = Phase.Length;
      this.remaining = length;
    }
    return status;
  }

  /** Runs the body decoder over data[at..]; each piece of body goes to `emit`. */
  private decode(data: Buffer, at: number): void {
    while (at < data.length && this.phase !== Phase.Done) {
      switch (this.phase) {
        case Phase.Length: {
          const n = Math.min(this.remaining, data.length - at);
          this.emit(at === 0 && n === data.length ? data : data.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.finishBody();
          break;
        }
        case Phase.UntilClose:
          this.emit(at === 0 ? data : data.subarray(at));
          at = data.length;
          break;
        case Phase.ChunkData: {
          const n = Math.min(this.remaining, data.length - at);
          this.emit(data.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.phase = Phase.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case Phase.ChunkDataEnd: {
          // The CRLF after a chunk's data (it may be split across reads); anything else is a framing error.
          const expected = this.remaining === 2 ? 13 : 10;
          if (data[at] !== expected) return this.destroy(new H1Error('chunk data not followed by CRLF', 'HPE_INVALID_CHUNK_SIZE', 'exchange'));
          at++;
          if (--this.remaining === 0) this.phase = Phase.ChunkSize;
          break;
        }
        case Phase.ChunkSize:
        case Phase.Trailers: {
          const line = this.line(data, at);
          if (line === null) return;
          at = line.next;
          if (this.phase === Phase.ChunkSize) {
            const semi = line.text.indexOf(';');
            const hex = (semi === -1 ? line.text : line.text.slice(0, semi)).trim();
            const size = /^[0-9a-fA-F]{1,8}$/.test(hex) ? parseInt(hex, 16) : NaN;
            if (Number.isNaN(size)) return this.destroy(new H1Error(`invalid chunk size from upstream: ${JSON.stringify(line.text.slice(0, 40))}`, 'HPE_INVALID_CHUNK_SIZE', 'exchange'));
            if (size === 0) this.phase = Phase.Trailers;
            else {
              this.phase = Phase.ChunkData;
              this.remaining = size;
            }
          } else if (line.text === '') this.finishBody();
          else {
            const colon = line.text.indexOf(':');
            const name = colon > 0 ? line.text.slice(0, colon).toLowerCase() : '';
            const value = line.text.slice(colon + 1).trim();
            // A malformed trailer is dropped (the body itself is fine); it must not reach the client.
            if (TOKEN.test(name) && !BAD_VALUE.test(value)) {
              const trailers = this.ex!.response!.trailers;
              const prev = trailers[name];
              trailers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
            }
          }
          break;
        }
        default:
          return;
      }
    }
    if (this.phase === Phase.Done && at < data.length) this.reusable = false; // bytes past the message
  }

  /** A CRLF-terminated line starting at `at` (joined with what an earlier read left over); null until complete. */
  private line(data: Buffer, at: number): { text: string; next: number } | null {
    let buf = data;
    let from = at;
    const carried = this.pending === null ? 0 : this.pending.length;
    if (this.pending !== null) {
      // The line began in an earlier read (its CR may even end that read, its LF start this one).
      buf = Buffer.concat([this.pending, data.subarray(at)]);
      from = 0;
      this.pending = null;
    }
    const end = buf.indexOf('\r\n', from, 'latin1');
    if (end === -1) {
      this.pending = buf.subarray(from);
      if (this.pending.length > MAX_HEAD) this.destroy(new H1Error('chunk header or trailer line too long', 'HPE_HEADER_OVERFLOW', 'exchange'));
      return null;
    }
    return { text: buf.toString('latin1', from, end), next: buf === data ? end + 2 : at + end + 2 - carried };
  }

  private emit(piece: Buffer): void {
    if (this.collected !== null) this.collected.push(piece);
    else if (this.body !== null) this.push(this.body, piece);
  }

  private push(body: H1Body, piece: Buffer): void {
    if (!body.push(piece) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private finishBody(): void {
    this.phase = Phase.Done;
    // While the first chunk is being decoded, onData completes the exchange itself.
    if (this.collected === null) this.finishMessage();
  }

  /** The response is complete: end its stream (or hand over the empty one), then free the connection. */
  private finishMessage(): void {
    this.phase = Phase.Done;
    const ex = this.ex;
    if (ex === null) return;
    const body = this.body;
    this.body = null;
    if (ex.response !== null && !ex.settled) {
      ex.response.complete ??= EMPTY;
      ex.succeed(ex.response);
    }
    if (body !== null) body.push(null);
    this.afterExchange();
  }

  /** After the response: the connection goes back to the pool once the request is fully sent too. */
  private afterExchange(): void {
    if (!this.requestSent) {
      // The server answered before reading the whole request body (an early 4xx): stop sending; what
      // the server makes of the rest is unknown, so the connection is not reused.
      this.stopBody?.();
      const body = this.ex?.req.body;
      if (body instanceof Readable) body.resume();
      this.reusable = false;
      this.requestSent = true;
    }
    this.release();
  }

  private release(): void {
    const ex = this.ex;
    this.ex = null;
    ex?.end();
    this.phase = Phase.Done;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    if (!this.reusable || this.closed) {
      this.destroy(null);
      return;
    }
    this.lastUsed = performance.now();
    this.pool.idle(this);
  }

  /** 101 Switching Protocols: the socket leaves the pool for the caller, with what followed the head. */
  private handOver(ex: Exchange, headers: Headers): void {
    this.closed = true;
    this.phase = Phase.Done;
    this.ex = null;
    const socket = this.socket;
    // Paused until the caller reads (a flowing socket without listeners would drop bytes).
    socket.pause();
    socket.removeAllListeners('data');
    socket.removeAllListeners('end');
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    // Until the caller attaches its own: an error with no listener at all would end the process.
    socket.on('error', () => {});
    this.pool.forget(this);
    ex.end();
    ex.succeed({ upgraded: true, headers, socket });
  }

  /** Closes the connection and fails the exchange in progress, if any (null: a close without an error). */
  destroy(err: (Error & { code?: string }) | null): void {
    if (!this.closed) {
      this.closed = true;
      this.socket.destroy();
    }
    const ex = this.ex ?? this.waiting;
    this.ex = null;
    this.waiting = null;
    this.stopBody?.();
    if (ex !== null) {
      if (this.phase === Phase.UntilClose && err === null && ex.response !== null) {
        // The close is the end of a close-delimited body.
        this.ex = ex;
        this.finishMessage();
      } else {
        const cause = this.wrap(err);
        ex.fail(cause);
        this.body?.destroy(cause);
        ex.end();
      }
    }
    this.body = null;
    this.phase = Phase.Done;
    this.pool.forget(this);
  }

  private wrap(err: (Error & { code?: string }) | null): Error {
    if (err instanceof H1Error) return err;
    const phase = this.connecting ? 'connect' : 'exchange';
    const where = this.pool.hostHeader;
    if (err === null) {
      const what = this.connecting ? `the connection to ${where} closed while connecting` : `${where} closed the connection before the response was complete`;
      return new H1Error(what, 'ECONNRESET', phase);
    }
    const wrapped = new H1Error(err.message, err.code ?? 'ECONNRESET', phase);
    wrapped.cause = err;
    return wrapped;
  }
}

export class H1Pool {
  readonly hostHeader: string;
  private readonly idleList: Connection[] = [];
  private readonly queue: Exchange[] = [];
  private readonly all = new Set<Connection>();
  private open = 0;
  private closing = false;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    readonly origin: H1Origin,
    readonly options: H1PoolOptions,
  ) {
    this.hostHeader = origin.host.includes(':') ? `[${origin.host}]:${origin.port}` : `${origin.host}:${origin.port}`;
  }

  request(req: H1Request): Promise<H1Response> {
    return new Promise<H1Response>((resolve, reject) => {
      this.dispatch(new Exchange(req, resolve as (r: H1Response | UpgradeOutcome) => void, reject, null, this));
    });
  }

  /** An HTTP/1.1 Upgrade on a fresh connection: the upgraded socket, or the refusal (status, headers, bounded body). */
  upgrade(req: Omit<H1Request, 'body'>, protocol: string): Promise<UpgradeOutcome> {
    return new Promise<UpgradeOutcome>((resolve, reject) => {
      const onAnswer = (r: H1Response | UpgradeOutcome): void => {
        if (!(r instanceof H1Response)) return resolve(r);
        if (r.complete !== null) return resolve({ upgraded: false, status: r.statusCode, headers: r.headers, body: r.complete });
        const chunks: Buffer[] = [];
        let size = 0;
        r.body.on('data', (c: Buffer) => {
          if (size < MAX_REFUSAL_BODY) chunks.push(c);
          size += c.length;
        });
        r.body.once('end', () => resolve({ upgraded: false, status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
        r.body.once('error', reject);
      };
      const ex = new Exchange({ ...req, body: null }, onAnswer, reject, protocol, this);
      if (this.closing) ex.fail(new H1Error('pool closed', 'ECONNREFUSED', 'connect'));
      else this.connect(ex);
    });
  }

  private dispatch(ex: Exchange): void {
    if (ex.req.signal?.aborted) return ex.fail(abortError());
    if (this.closing && this.open === 0) return ex.fail(new H1Error('pool closed', 'ECONNREFUSED', 'connect'));
    const now = performance.now();
    for (;;) {
      const conn = this.idleList.pop();
      if (conn === undefined) break;
      if (conn.closed) continue;
      if (now - conn.lastUsed >= conn.idleLimitMs) {
        // The server may be closing it at this very moment: do not risk a request on it.
        conn.destroy(null);
        continue;
      }
      conn.start(ex);
      return;
    }
    if (this.open < this.options.connections && !this.closing) this.connect(ex);
    else this.queue.push(ex);
  }

  private connect(ex: Exchange): void {
    this.open++;
    const { host, port } = this.origin;
    const t = this.origin.tls;
    const socket = t === null ? net.connect({ host, port }) : tls.connect({ ...t, host, port, ALPNProtocols: ['http/1.1'] });
    const conn = new Connection(this, socket);
    this.all.add(conn);
    conn.waiting = ex;
    const timer = setTimeout(() => {
      conn.destroy(new H1Error(`connect to ${this.hostHeader} timed out after ${this.options.connectTimeoutMs} ms`, 'CONNECT_TIMEOUT', 'connect'));
    }, this.options.connectTimeoutMs);
    socket.once(t === null ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      conn.connecting = false;
      const waiting = conn.waiting;
      conn.waiting = null;
      if (conn.closed) return;
      // The request may have been aborted meanwhile: the new connection serves the next one.
      if (waiting === null || waiting.settled) this.idle(conn);
      else conn.start(waiting);
    });
    socket.once('close', () => clearTimeout(timer));
  }

  /** An aborted request leaves the queue. */
  unqueue(ex: Exchange): void {
    const i = this.queue.indexOf(ex);
    if (i !== -1) this.queue.splice(i, 1);
  }

  /** A connection finished an exchange and can take another. */
  idle(conn: Connection): void {
    const next = this.queue.shift();
    if (next !== undefined) {
      conn.start(next);
      return;
    }
    if (this.closing) {
      conn.destroy(null);
      return;
    }
    this.idleList.push(conn);
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), IDLE_SWEEP_MS);
      this.sweeper.unref();
    }
  }

  private sweep(): void {
    const now = performance.now();
    for (let i = this.idleList.length - 1; i >= 0; i--) {
      const conn = this.idleList[i]!;
      if (conn.closed || now - conn.lastUsed >= conn.idleLimitMs) {
        this.idleList.splice(i, 1);
        conn.destroy(null);
      }
    }
    if (this.idleList.length === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** A connection closed (or left with an upgrade): its slot may open a connection for a waiting request. */
  forget(conn: Connection): void {
    if (conn.forgotten) return;
    conn.forgotten = true;
    this.open--;
    this.all.delete(conn);
    const i = this.idleList.indexOf(conn);
    if (i !== -1) this.idleList.splice(i, 1);
    while (this.queue.length > 0 && this.open < this.options.connections && !this.closing) this.connect(this.queue.shift()!);
    if (this.closing && this.open === 0) for (const ex of this.queue.splice(0)) ex.fail(new H1Error('pool closed', 'ECONNREFUSED', 'connect'));
  }

  /** No new connections; idle ones close now, busy ones after their exchange (requests in flight finish). */
  close(): void {
    this.closing = true;
    for (const conn of this.idleList.splice(0)) conn.destroy(null);
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Closes everything now, in flight or not. */
  destroy(): void {
    this.close();
    for (const ex of this.queue.splice(0)) ex.fail(new H1Error('pool destroyed', 'ECONNRESET', 'exchange'));
    for (const conn of [...this.all]) conn.destroy(null);
  }
}
