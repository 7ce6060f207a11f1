// A keep-alive pool of HTTP/1.1 connections to one origin, over TCP or TLS (mesh mTLS to a destination
// sidecar, plain to the local app, or TLS to an external host), plus Upgrade (WebSocket) on a fresh
// connection that also hands back a refusal. Limits: `connections` open at once (the rest wait in a queue),
// maxRequestsPerConnection, and an idle timeout cut short by the server's own Keep-Alive hint.
import net from 'node:net';
import tls, { type ConnectionOptions, type SecureContext } from 'node:tls';
import { H1Error, abortError } from './h1-error.js';
import { H1Connection, type ConnectionOwner } from './h1-connection.js';
import { H1Response } from './h1-response.js';
import { Exchange, type ExchangeQueue, type H1Request, type UpgradeOutcome } from './exchange.js';

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

const MAX_REFUSAL_BODY = 64 * 1024;
/** Idle connections expiring this close together are closed by one timer run (fewer wake-ups). */
const SWEEP_SLACK_MS = 250;

export class H1Pool implements ConnectionOwner, ExchangeQueue {
  readonly hostHeader: string;
  private readonly idleList: H1Connection[] = [];
  private readonly queue: Exchange[] = [];
  private readonly all = new Set<H1Connection>();
  private open = 0;
  private closing = false;
  /** One timer, set for the earliest idle expiry (not a periodic sweep: an idle mesh must not wake up). */
  private sweeper: NodeJS.Timeout | null = null;
  private sweepAt = Infinity;

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
    const conn = new H1Connection(this, socket);
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
  idle(conn: H1Connection): void {
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
    // Under load every connection expires after the timer already set: no timer work per request.
    const expiry = conn.lastUsed + conn.idleLimitMs;
    if (expiry < this.sweepAt) this.scheduleSweep(expiry);
  }

  private scheduleSweep(at: number): void {
    if (this.sweeper !== null) clearTimeout(this.sweeper);
    this.sweepAt = at;
    this.sweeper = setTimeout(() => this.sweep(), Math.max(0, at - performance.now()) + SWEEP_SLACK_MS);
    this.sweeper.unref();
  }

  private sweep(): void {
    this.sweeper = null;
    this.sweepAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (let i = this.idleList.length - 1; i >= 0; i--) {
      const conn = this.idleList[i]!;
      const expiry = conn.lastUsed + conn.idleLimitMs;
      if (conn.closed || now >= expiry) {
        this.idleList.splice(i, 1);
        conn.destroy(null);
      } else next = Math.min(next, expiry);
    }
    if (next !== Infinity) this.scheduleSweep(next);
  }

  /** A connection closed (or left with an upgrade): its slot may open a connection for a waiting request. */
  forget(conn: H1Connection): void {
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
    if (this.sweeper !== null) clearTimeout(this.sweeper);
    this.sweeper = null;
    this.sweepAt = Infinity;
  }

  /** Closes everything now, in flight or not. */
  destroy(): void {
    this.close();
    for (const ex of this.queue.splice(0)) ex.fail(new H1Error('pool destroyed', 'ECONNRESET', 'exchange'));
    for (const conn of [...this.all]) conn.destroy(null);
  }
}
