// One socket to the origin, one exchange at a time (no pipelining, so one slow response never delays
// another): writes the request in one write, feeds every read to the response parser, and goes back to
// its pool only after a complete exchange on a connection both sides keep open.
import type net from 'node:net';
import { Readable } from 'node:stream';
import { H1Error } from './h1-error.js';
import { EMPTY, H1Body, H1Response, type Headers } from './h1-response.js';
import { ResponseParser, type ResponseSink } from './response-parser.js';
import type { Exchange } from './exchange.js';

/** What a connection needs from its pool. */
export interface ConnectionOwner {
  readonly options: { readonly idleTimeoutMs: number; readonly maxRequestsPerConnection?: number };
  /** host:port, for a request without a Host header and for messages. */
  readonly hostHeader: string;
  /** The connection finished an exchange and can take another. */
  idle(conn: H1Connection): void;
  /** The connection closed or left the pool (an upgrade). */
  forget(conn: H1Connection): void;
}

/** How long before the server's advertised keep-alive timeout an idle connection is given up. */
const KEEP_ALIVE_MARGIN_MS = 1_000;
/** Header values must not be able to start a new header or message. */
const UNSAFE_VALUE = /[\r\n\0]/;
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export class H1Connection implements ResponseSink {
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
  private readonly parser = new ResponseParser(this);
  private reusable = true;
  private requestSent = true;
  /** A byte of the current exchange's response has arrived. */
  private answered = false;
  /** Body pieces of the first read, before the response is handed over; null once it streams. */
  private collected: Buffer[] | null = null;
  private body: H1Body | null = null;
  private paused = false;
  private stopBody: (() => void) | null = null;

  constructor(
    readonly pool: ConnectionOwner,
    readonly socket: net.Socket,
  ) {
    this.idleLimitMs = pool.options.idleTimeoutMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error & { code?: string }) => this.destroy(err));
    socket.on('close', () => this.destroy(null));
    socket.on('end', () => {
      if (this.ex !== null && this.parser.finish()) this.finishMessage();
    });
  }

  /** Sends `ex`'s request. */
  start(ex: Exchange): void {
    this.ex = ex;
    ex.conn = this;
    this.requests++;
    this.reusable = true;
    this.answered = false;
    const req = ex.req;
    this.parser.reset(req.method === 'HEAD');
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

  // ResponseSink: the parser calls these from execute(), in onData below.

  onHead(status: number, headers: Headers): void {
    this.ex!.response = new H1Response(status, headers);
    this.collected = [];
    const hint = headers['keep-alive'];
    if (typeof hint === 'string') {
      const m = /timeout=(\d+)/.exec(hint);
      if (m !== null) this.idleLimitMs = Math.min(this.pool.options.idleTimeoutMs, Math.max(0, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS));
    }
  }

  onBody(piece: Buffer): void {
    if (this.collected !== null) this.collected.push(piece);
    else if (this.body !== null) this.push(this.body, piece);
  }

  onTrailers(trailers: Headers): void {
    Object.assign(this.ex!.response!.trailers, trailers);
  }

  private onData(chunk: Buffer): void {
    this.answered = true;
    const ex = this.ex;
    const parser = this.parser;
    if (ex === null || parser.done) {
      // Bytes nobody asked for: the connection is out of step with the server.
      this.destroy(null);
      return;
    }
    const used = parser.execute(chunk);
    if (used < 0) return this.destroy(parser.error);
    if (parser.upgraded) return this.upgraded(ex, chunk.subarray(used));
    // Bytes past the response (no request asked for them), or a server that closes: not reused.
    if (parser.done && (used < chunk.length || !parser.keepAlive)) this.reusable = false;
    const parts = this.collected;
    if (parts === null) {
      if (parser.done) this.finishMessage();
      return;
    }
    // The head is in: either the whole body is here too, or the rest streams.
    this.collected = null;
    const response = ex.response!;
    if (parser.done) {
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

  private upgraded(ex: Exchange, rest: Buffer): void {
    if (ex.upgrade === null) return this.destroy(new H1Error('upstream switched protocols without being asked to', 'HPE_UNEXPECTED_101', 'exchange'));
    // Upgraded: the socket is the caller's now, starting with what followed the head (put back once our
    // listeners are gone, or unshift would feed it straight back to onData).
    this.handOver(ex, this.parser.upgradeHeaders ?? {}, rest);
  }

  private push(body: H1Body, piece: Buffer): void {
    if (!body.push(piece) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** The response is complete: end its stream (or hand over the empty one), then free the connection. */
  private finishMessage(): void {
    const ex = this.ex;
    if (ex === null) return;
    if (!this.parser.keepAlive) this.reusable = false;
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
  private handOver(ex: Exchange, headers: Headers, rest: Buffer): void {
    this.closed = true;
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
    if (rest.length > 0) socket.unshift(rest);
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
      if (err === null && ex.response !== null && this.parser.finish()) {
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
    // A kept-alive connection reset (RST, not a clean close) before a byte of this answer: the server's end
    // was gone with our request unread (a peer killed, or an idle connection closed as we wrote). A server
    // that read the request and then closed sends a FIN instead, and is not replayed.
    const replayable = !this.connecting && this.requests > 1 && !this.answered && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
    const wrapped = new H1Error(err.message, err.code ?? 'ECONNRESET', phase, replayable);
    wrapped.cause = err;
    return wrapped;
  }
}
