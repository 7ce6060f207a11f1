// Which server an accepted connection goes to, by the mTLS mode in force when it arrived:
//   STRICT     — the tls.Server, unread;
//   PERMISSIVE — TLS or plaintext, told apart by the first byte (0x16 starts a TLS handshake);
//   DISABLE    — plaintext only.
// Plaintext starting with the HTTP/2 preface is h2c; other plaintext is HTTP/1 (or, for a tcp service, bytes).
import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import type tls from 'node:tls';
import type { MtlsMode } from '../protocol/index.js';

/** What the admission hands connections to: the inbound's servers, and its tcp passthrough. */
export interface AdmissionTargets {
  readonly tlsServer: tls.Server;
  readonly http1: http.Server;
  readonly h2c: http2.Http2Server;
  /** Called for every plaintext connection; true when it took the socket (a tcp service). */
  plaintext(socket: net.Socket): boolean;
}

const TLS_HANDSHAKE = 0x16;
/** A connection that sends nothing cannot be classified in PERMISSIVE mode; it must not linger. */
const SNIFF_TIMEOUT_MS = 10_000;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

function startsLikeH2(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, H2_PREFACE.length);
  return n >= 3 && chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
}

/** Until a server owns the socket, nobody else listens for its errors: a reset must not go uncaught. */
function ignore(): void {}

function destroyIdle(this: net.Socket): void {
  this.destroy();
}

export function admit(mode: MtlsMode, socket: net.Socket, to: AdmissionTargets): void {
  socket.on('error', ignore);
  switch (mode) {
    case 'STRICT':
      to.tlsServer.emit('connection', socket);
      return;
    case 'DISABLE':
      if (!to.plaintext(socket)) whenReadable(socket, false, to);
      return;
    case 'PERMISSIVE':
      socket.setTimeout(SNIFF_TIMEOUT_MS, destroyIdle);
      whenReadable(socket, true, to);
      return;
    default: {
      const never: never = mode;
      throw new Error(`unknown mTLS mode ${String(never)}`);
    }
  }
}

function whenReadable(socket: net.Socket, tlsToo: boolean, to: AdmissionTargets): void {
  socket.once('readable', () => {
    socket.setTimeout(0);
    socket.off('timeout', destroyIdle);
    // Read and push back: the https/http server must see the stream from its first byte. (A 'data'
    // listener would switch the socket to flowing mode and the TLS wrapper would miss the bytes.)
    const chunk = socket.read() as Buffer | null;
    if (chunk === null) {
      socket.destroy();
      return;
    }
    socket.unshift(chunk);
    if (tlsToo && chunk[0] === TLS_HANDSHAKE) to.tlsServer.emit('connection', socket);
    else if (tlsToo && to.plaintext(socket)) return;
    else if (startsLikeH2(chunk)) to.h2c.emit('connection', socket);
    else {
      to.http1.emit('connection', socket);
      // The http server reads through the socket's stream interface here; it must flow again.
      socket.resume();
    }
  });
}
