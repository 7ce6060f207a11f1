// One TCP port on 127.0.0.1 for a wing (inbound or outbound): accepts a connection, tells from its first
// bytes what it speaks, and hands it to the server the wing supplies for that. The port outlives config
// updates: the wing decides per connection, so a change of mode needs no rebind.
//   first byte 0x16            — a TLS ClientHello: the wing's tls.Server (when it has one);
//   "PRI * HTTP/2.0" (prefix)  — h2c with prior knowledge (gRPC clients): the wing's HTTP/2 server;
//   anything else              — HTTP/1: the wing's http.Server (made by hardenedHttpServer).
import type http from 'node:http';
import type http2 from 'node:http2';
import net from 'node:net';
import type tls from 'node:tls';
import { listenLoopback } from '../listen.js';

/** What a connection speaks, by its first bytes. */
export type Wire = 'tls' | 'h2c' | 'http1';

/** How the wing wants one connection handled, decided before anything is read. */
export type Admission =
  /** Read the first bytes and hand the connection on by what they say (TLS only when the wing has a tls server). */
  | 'sniff'
  /** Plaintext only: tell h2c from HTTP/1, never TLS (mTLS DISABLE). */
  | 'plaintext'
  /** Straight to the tls server, unread (mTLS STRICT). */
  | 'tls'
  /** The wing took the socket itself (raw TCP passthrough). */
  | 'taken';

export interface ListenerWing {
  /** HTTP/1 connections. Make it with hardenedHttpServer, so the proxy's own 400/431/417 carry x-devmesh-error. */
  readonly http1: http.Server;
  /** h2c connections (prior knowledge). */
  readonly h2c: http2.Http2Server;
  /** TLS connections; absent on a wing that never accepts TLS (the outbound). */
  readonly tls?: tls.Server;
  /** Per connection, before a byte is read; absent means 'sniff'. */
  admit?(socket: net.Socket): Admission;
  /** Per plaintext connection once told from TLS: return true when the wing took it itself (a tcp service's bytes). */
  plaintext?(socket: net.Socket): boolean;
}

/** A connection that sends nothing cannot be classified; it must not hold a socket for ever. */
export const SNIFF_TIMEOUT_MS = 10_000;
const TLS_HANDSHAKE = 0x16;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/** What the first bytes of a connection say it speaks (the h2c preface may be cut short: its first 3+ bytes count). */
export function sniffWire(first: Buffer): Wire {
  if (first[0] === TLS_HANDSHAKE) return 'tls';
  const n = Math.min(first.length, H2_PREFACE.length);
  return n >= 3 && first.subarray(0, n).equals(H2_PREFACE.subarray(0, n)) ? 'h2c' : 'http1';
}

export class ConnectionListener {
  private readonly tcp: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** The bound port, once listen() resolved. */
  port = 0;

  constructor(private readonly wing: ListenerWing) {
    // Half-open as Node's own http.Server is: a client that sends its request and then its FIN (curl
    // --http1.0 style, or `printf … | nc`) still gets the answer; a TCP passthrough keeps the half-close.
    this.tcp = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  /** Binds 127.0.0.1:`port` (0: any free port) and resolves the bound port. */
  async listen(port: number): Promise<number> {
    this.port = await listenLoopback(this.tcp, port);
    return this.port;
  }

  /** Open connections, for a wing that must cut some of them (plaintext ones when STRICT comes in). */
  get connections(): ReadonlySet<net.Socket> {
    return this.sockets;
  }

  /** Stops accepting and destroys every open connection; resolves when the port is released. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.wing.http1.closeAllConnections();
    return closed;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // A reset from a client must not become an unhandled 'error'; the servers add their own listeners.
    socket.on('error', ignore);
    const admission = this.wing.admit?.(socket) ?? 'sniff';
    switch (admission) {
      case 'taken':
        return;
      case 'tls':
        this.toTls(socket);
        return;
      case 'sniff':
      case 'plaintext':
        this.sniff(socket, admission === 'sniff' && this.wing.tls !== undefined);
        return;
      default: {
        const never: never = admission;
        throw new Error(`unknown admission ${String(never)}`);
      }
    }
  }

  private sniff(socket: net.Socket, tlsToo: boolean): void {
    socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
    socket.once('readable', () => {
      socket.setTimeout(0);
      socket.removeAllListeners('timeout');
      // Read and push back: each server must see the stream from its first byte. (A 'data' listener would
      // switch the socket to flowing mode, and the TLS wrapper would miss the bytes.)
      const first = socket.read() as Buffer | null;
      if (first === null) {
        socket.destroy();
        return;
      }
      socket.unshift(first);
      const wire = sniffWire(first);
      if (wire === 'tls' && tlsToo) return this.toTls(socket);
      if (this.wing.plaintext?.(socket) === true) return;
      if (wire === 'h2c') this.wing.h2c.emit('connection', socket);
      else {
        this.wing.http1.emit('connection', socket);
        // Node's http server reads through the socket's stream interface here: it must flow again.
        socket.resume();
      }
    });
  }

  private toTls(socket: net.Socket): void {
    const server = this.wing.tls;
    if (server === undefined) socket.destroy();
    else server.emit('connection', socket);
  }
}

function ignore(): void {}
