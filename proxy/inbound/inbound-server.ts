// The inbound listener: terminates mesh mTLS in front of the app on 127.0.0.1.
// One TCP listener whose port outlives config updates; each accepted connection is handed to an https
// or http server according to the mode in force when it arrived, so a mode change needs no rebind:
//   STRICT     — TLS only; the client must present a certificate chaining to the mesh CA;
//   PERMISSIVE — TLS or plaintext, told apart by the first byte (0x16 starts a TLS handshake);
//   DISABLE    — plaintext only.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Pool } from 'undici';
import type { InboundListener, MtlsMode, TlsMaterial } from '../protocol.js';
import { ProxyError, rescue } from '../errors.js';
import { downstreamResponseHeaders, hasRequestBody, originFormTarget, relayBody, upstreamRequestHeaders } from '../http-headers.js';
import { listenLoopback } from '../listen.js';
import type { ProxyContext } from '../proxy-context.js';
import { peerSpiffeId } from '../tls.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../tracing/trace-context.js';
import { classifyTransportError } from '../outbound/retry.js';

export const PEER_HEADER = 'x-devmesh-peer';
/** A client's x-devmesh-peer is never trusted: only the verified certificate speaks for the peer. */
const OWNED_HEADERS: ReadonlySet<string> = new Set(['traceparent', PEER_HEADER]);
const TLS_HANDSHAKE = 0x16;
/** A connection that sends nothing cannot be classified in PERMISSIVE mode; it must not linger. */
const SNIFF_TIMEOUT_MS = 10_000;

function appPool(appPort: number): Pool {
  return new Pool(`http://127.0.0.1:${appPort}`, { connections: 128, keepAliveTimeout: 30_000, connect: { timeout: 5_000 } });
}

export class InboundServer {
  private readonly tcp: net.Server;
  private readonly tlsServer: https.Server;
  private readonly plainServer: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly plainSockets = new Set<net.Socket>();
  private mode: MtlsMode;
  private appPort: number;
  private pool: Pool;
  port = 0;

  constructor(
    private readonly ctx: ProxyContext,
    tls: TlsMaterial,
    listener: InboundListener,
  ) {
    this.mode = listener.mtls;
    this.appPort = listener.appPort;
    this.pool = appPool(listener.appPort);
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    this.tlsServer = https.createServer(
      { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, requestCert: true, rejectUnauthorized: true },
      handler,
    );
    this.plainServer = http.createServer(handler);
    this.tlsServer.keepAliveTimeout = 65_000;
    this.plainServer.keepAliveTimeout = 65_000;
    this.tcp = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  async listen(port: number): Promise<number> {
    this.port = await listenLoopback(this.tcp, port);
    return this.port;
  }

  /** Applies a new config; the listener and its open connections stay. */
  update(listener: InboundListener, tls: TlsMaterial | null): void {
    // Existing TLS connections keep their session; new handshakes present the new certificate.
    if (tls !== null) this.tlsServer.setSecureContext({ ca: tls.caPem, cert: tls.certPem, key: tls.keyPem });
    if (listener.mtls === 'STRICT' && this.mode !== 'STRICT') {
      // Plaintext keep-alive connections accepted under the old mode must not outlive it.
      for (const socket of this.plainSockets) socket.destroy();
    }
    this.mode = listener.mtls;
    if (listener.appPort !== this.appPort) {
      const old = this.pool;
      this.pool = appPool(listener.appPort);
      this.appPort = listener.appPort;
      old.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await Promise.allSettled([closed, this.pool.destroy()]);
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.plainSockets.delete(socket);
    });
    switch (this.mode) {
      case 'STRICT':
        this.tlsServer.emit('connection', socket);
        return;
      case 'DISABLE':
        this.toPlain(socket);
        return;
      case 'PERMISSIVE':
        this.sniff(socket);
        return;
      default: {
        const never: never = this.mode;
        throw new Error(`unknown mTLS mode ${String(never)}`);
      }
    }
  }

  private toPlain(socket: net.Socket): void {
    this.plainSockets.add(socket);
    this.plainServer.emit('connection', socket);
  }

  private sniff(socket: net.Socket): void {
    const onIdle = (): void => {
      socket.destroy();
    };
    socket.setTimeout(SNIFF_TIMEOUT_MS, onIdle);
    socket.once('readable', () => {
      socket.setTimeout(0);
      socket.off('timeout', onIdle);
      // Read and push back: the https/http server must see the stream from its first byte. (A 'data'
      // listener would switch the socket to flowing mode and the TLS wrapper would miss the bytes.)
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) {
        socket.destroy();
        return;
      }
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) {
        this.tlsServer.emit('connection', socket);
      } else {
        this.toPlain(socket);
        // The http server reads through the socket's stream interface here; it must flow again.
        socket.resume();
      }
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const startMs = Date.now();
    const t0 = performance.now();
    const method = req.method ?? 'GET';
    const target = originFormTarget(req.url);
    const socket = req.socket as TLSSocket;
    const mtls = socket.encrypted === true;
    const peer = mtls ? peerSpiffeId(socket) : null;
    const parent = parseTraceparent(req.headers.traceparent);
    const traceId = parent?.traceId ?? newTraceId();
    const spanId = newSpanId();
    let error: string | null = null;

    res.once('close', () => {
      const workload = this.ctx.workload;
      const attributes: Record<string, string | boolean> = { mtls };
      if (peer !== null) attributes['peer.spiffe'] = peer;
      this.ctx.spans.record({
        traceId,
        spanId,
        parentSpanId: parent?.spanId ?? null,
        kind: 'server',
        service: workload.service,
        instanceId: workload.instanceId,
        peerService: null,
        method,
        path: target,
        status: res.statusCode,
        startMs,
        durationMs: performance.now() - t0,
        attempts: 1,
        error: error ?? (res.writableFinished ? null : 'downstream-closed'),
        attributes,
      });
    });

    const headers = upstreamRequestHeaders(req.headers, OWNED_HEADERS);
    if (peer !== null) headers.push(PEER_HEADER, peer);
    // The app gets the server span as parent: if it forwards this header, its outbound call nests under it.
    headers.push('traceparent', formatTraceparent(traceId, spanId, parent?.flags ?? '01'));

    this.pool.request({ path: target, method, headers, body: hasRequestBody(req.headers) ? req : null }).then(
      (response) => {
        res.writeHead(response.statusCode, downstreamResponseHeaders(response.headers));
        relayBody(response.body, res, () => {
          if (error === null) error = 'upstream-reset';
        });
      },
      (err: unknown) => {
        const kind = classifyTransportError(err);
        const detail = `app at 127.0.0.1:${this.appPort}: ${(err as Error)?.message ?? String(err)}`;
        error = rescue(res, new ProxyError(kind === 'connect-failure' ? 'connect-failure' : 'upstream-reset', detail), null);
      },
    );
  }
}
