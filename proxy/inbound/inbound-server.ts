// The inbound listener: terminates mesh mTLS in front of the app on 127.0.0.1.
// One TCP listener whose port outlives config updates; each accepted connection is handed on according to
// the mode in force when it arrived, so a mode change needs no rebind. TLS ends in one tls.Server; the
// decrypted stream then goes to the HTTP/2 server when ALPN chose h2, else to the HTTP/1 server (or, for
// a tcp service, straight to the app). Plaintext connections starting with the HTTP/2 preface are h2c.
//   STRICT     — TLS only; the client must present a certificate chaining to the mesh CA;
//   PERMISSIVE — TLS or plaintext, told apart by the first byte (0x16 starts a TLS handshake);
//   DISABLE    — plaintext only.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { H2Client } from '../h2-client.js';
import { DEFAULT_POOL_OPTIONS, H1Pool } from '../http1/index.js';
import { AUTHZ_HEADER, DEADLINE_HEADER, PROXY_ERROR_HEADER, type AppProtocol, type AuthorizationPolicy, type InboundListener, type MtlsMode, type TlsMaterial } from '../protocol/index.js';
import { ProxyError, RESPONSE_FLAGS, classifyTransportError, rescue, type ProxyErrorCode } from '../errors.js';
import { authorize, type AuthzVerdict } from './authz.js';
import { downstreamResponseHeaders, relayTrailersOnly, originFormTarget, requestHasBody, pathOnly, relayResponseBody, upstreamRequestHeaders } from '../http-headers.js';
import { listenLoopback } from '../listen.js';
import { writeRefusal, writeSwitchingProtocols } from '../upgrade.js';
import type { ProxyContext } from '../proxy-context.js';
import { peerSpiffeId } from '../tls.js';
import { formatTraceparent, isSampled, newSpanId, newTraceId, parseTraceparent, traceFlags } from '../tracing/trace-context.js';
import { sentResponseHeaders } from '../protocol/span-headers.js';
import type { TcpLabels } from '../metrics.js';
import { relayConnection } from '../connection-relay.js';

/** A connection's server span, filled in while it lives. */
interface ConnectionTrace {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  flags: string;
  startMs: number;
  t0: number;
  peer: string | null;
  mtls: boolean;
  verdict: AuthzVerdict | null;
}

export const PEER_HEADER = 'x-devmesh-peer';
/** A client's x-devmesh-peer is never trusted: only the verified certificate speaks for the peer. */
const OWNED_HEADERS: ReadonlySet<string> = new Set(['traceparent', PEER_HEADER, DEADLINE_HEADER]);
const TLS_HANDSHAKE = 0x16;
/** A connection that sends nothing cannot be classified in PERMISSIVE mode; it must not linger. */
const SNIFF_TIMEOUT_MS = 10_000;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

function startsLikeH2(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, H2_PREFACE.length);
  return n >= 3 && chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
}

function appPool(appPort: number): H1Pool {
  return new H1Pool({ host: '127.0.0.1', port: appPort, tls: null }, DEFAULT_POOL_OPTIONS);
}

export class InboundServer {
  private readonly tcp: net.Server;
  private readonly tlsServer: tls.Server;
  private readonly plainServer: http.Server;
  private readonly h2Server: http2.Http2Server;
  private protocol: AppProtocol;
  /** HTTP/2 (h2c) to the app, for http2 and grpc services. */
  private appH2: H2Client | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly plainSockets = new Set<net.Socket>();
  private mode: MtlsMode;
  private appPort: number;
  private authorization: readonly AuthorizationPolicy[];
  private pool: H1Pool;
  port = 0;

  constructor(
    private readonly ctx: ProxyContext,
    material: TlsMaterial,
    listener: InboundListener,
  ) {
    this.mode = listener.mtls;
    this.appPort = listener.appPort;
    this.authorization = listener.authorization ?? [];
    this.protocol = listener.protocol ?? 'http';
    this.pool = appPool(listener.appPort);
    this.appH2 = this.h2ToApp();
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    this.tlsServer = tls.createServer(
      { ca: material.caPem, cert: material.certPem, key: material.keyPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2', 'http/1.1'] },
      (socket) => this.decrypted(socket),
    );
    this.plainServer = http.createServer(handler);
    this.plainServer.keepAliveTimeout = 65_000;
    this.plainServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.h2Server = http2.createServer({}, handler as unknown as Parameters<typeof http2.createServer>[1]);
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
    this.authorization = listener.authorization ?? [];
    const protocol = listener.protocol ?? 'http';
    if (listener.appPort !== this.appPort || protocol !== this.protocol) {
      const old = this.pool;
      const oldH2 = this.appH2;
      this.pool = appPool(listener.appPort);
      this.appPort = listener.appPort;
      this.protocol = protocol;
      this.appH2 = this.h2ToApp();
      old.close();
      oldH2?.close();
    }
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.appH2?.close();
    this.pool.destroy();
    await closed;
  }

  private h2ToApp(): H2Client | null {
    return this.protocol === 'http2' || this.protocol === 'grpc' ? new H2Client(`http://127.0.0.1:${this.appPort}`, null) : null;
  }

  /** After the TLS handshake: raw bytes for a tcp service, else HTTP/2 or HTTP/1 by the ALPN choice. */
  private decrypted(socket: TLSSocket): void {
    if (this.protocol === 'tcp') this.toApp(socket, true);
    else if (socket.alpnProtocol === 'h2') this.h2Server.emit('connection', socket);
    else this.plainServer.emit('connection', socket);
  }

  /** protocol: tcp — authorized on connection attributes, then bytes to and from the app, unparsed; counted in Istio's TCP metrics. */
  private toApp(socket: net.Socket, mtls: boolean): void {
    const peer = mtls ? peerSpiffeId(socket as TLSSocket) : null;
    const conn = this.connectionTrace(undefined, peer, mtls);
    if (this.authorization.length > 0) {
      conn.verdict = authorize(this.authorization, {
        layer: 'tcp',
        method: '',
        path: '',
        host: '',
        port: this.appPort,
        headers: {},
        peer,
        sourceIp: socket.remoteAddress ?? '',
      });
      if (!conn.verdict.allowed) {
        // Envoy's RBAC network filter closes a denied connection; nothing reaches the app.
        socket.destroy();
        this.recordConnection(conn, 'TCP', '', 0, 'denied', 0, 0);
        return;
      }
    }
    const labels = this.tcpLabels(peer, mtls);
    const app = net.connect({ host: '127.0.0.1', port: this.appPort, noDelay: true });
    this.ctx.metrics.tcp(labels, 'open');
    relayConnection(socket, app, ({ fromDownstream, fromUpstream, failure }) => {
      this.ctx.metrics.tcp(labels, 'close', fromDownstream, fromUpstream);
      this.recordConnection(conn, 'TCP', '', 0, failure, fromDownstream, fromUpstream);
    });
  }

  /** The inbound AuthorizationPolicies applied to an HTTP request (or a WebSocket upgrade, before it upgrades). */
  private authorizeRequest(req: IncomingMessage, method: string, target: string, peer: string | null, sourceIp: string | undefined): AuthzVerdict {
    return authorize(this.authorization, {
      method,
      path: pathOnly(target),
      host: String(req.headers.host ?? ''),
      port: this.appPort,
      headers: req.headers,
      peer,
      sourceIp: sourceIp ?? '',
    });
  }

  private tcpLabels(peer: string | null, mtls: boolean): TcpLabels {
    const workload = this.ctx.workload;
    return {
      reporter: 'destination',
      source_workload: peer === null ? 'unknown' : peer.slice(peer.lastIndexOf('/') + 1),
      destination_workload: workload.service,
      destination_service: workload.service,
      connection_security_policy: mtls ? 'mutual_tls' : 'none',
    };
  }

  /** The server span of a connection (raw TCP or an upgraded WebSocket), started now. */
  private connectionTrace(traceparent: string | string[] | undefined, peer: string | null, mtls: boolean): ConnectionTrace {
    const parent = parseTraceparent(traceparent);
    return {
      traceId: parent?.traceId ?? newTraceId(),
      spanId: newSpanId(),
      parentSpanId: parent?.spanId ?? null,
      flags: traceFlags(parent, this.ctx.samplingPercent),
      startMs: Date.now(),
      t0: performance.now(),
      peer,
      mtls,
      verdict: null,
    };
  }

  /** Span for a connection's whole life: duration is how long it stayed open, bytes in (from the caller) and out. */
  private recordConnection(conn: ConnectionTrace, method: string, path: string, status: number, error: string | null, bytesIn: number, bytesOut: number): void {
    if (!isSampled(conn.flags)) return;
    const workload = this.ctx.workload;
    const attributes: Record<string, string | number | boolean> = { mtls: conn.mtls, protocol: method === 'TCP' ? 'tcp' : 'websocket', 'bytes.in': bytesIn, 'bytes.out': bytesOut };
    if (conn.peer !== null) attributes['peer.spiffe'] = conn.peer;
    if (conn.verdict !== null) {
      attributes['authz.allowed'] = conn.verdict.allowed;
      attributes['authz.by'] = conn.verdict.by;
      if (conn.verdict.notes.length > 0) attributes['authz.notes'] = conn.verdict.notes.join('; ');
    }
    this.ctx.spans.record({
      traceId: conn.traceId,
      spanId: conn.spanId,
      parentSpanId: conn.parentSpanId,
      kind: 'server',
      service: workload.service,
      instanceId: workload.instanceId,
      peerService: null,
      method,
      path,
      status,
      startMs: conn.startMs,
      durationMs: performance.now() - conn.t0,
      attempts: 1,
      error,
      attributes,
    });
  }

  /** WebSocket and other HTTP/1.1 upgrades to the app: authorized like a request, the handshake through the app pool, then bytes both ways. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const tlsSocket = req.socket as TLSSocket;
    const mtls = tlsSocket.encrypted === true;
    const peer = mtls ? peerSpiffeId(tlsSocket) : null;
    const method = req.method ?? 'GET';
    const target = originFormTarget(req.url);
    const conn = this.connectionTrace(req.headers.traceparent, peer, mtls);
    const workload = this.ctx.workload;
    const requestMetric = (status: number, flags: string): void =>
      this.ctx.metrics.request(
        {
          reporter: 'destination',
          source_workload: peer === null ? 'unknown' : peer.slice(peer.lastIndexOf('/') + 1),
          source_version: 'unknown',
          destination_workload: workload.service,
          destination_version: workload.version || 'unknown',
          destination_service: workload.service,
          request_protocol: 'http',
          response_code: String(status),
          grpc_response_status: '',
          response_flags: flags,
          connection_security_policy: mtls ? 'mutual_tls' : 'none',
        },
        performance.now() - conn.t0,
      );
    const refuse = (status: number, code: ProxyErrorCode, extra: string): void => {
      const body = `${code}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${PROXY_ERROR_HEADER}: ${code}\r\n${extra}content-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
      this.recordConnection(conn, method, target, status, code, 0, 0);
      requestMetric(status, RESPONSE_FLAGS[code]);
    };
    if (this.authorization.length > 0) {
      conn.verdict = this.authorizeRequest(req, method, target, peer, tlsSocket.remoteAddress);
      if (!conn.verdict.allowed) {
        // Denied before anything reaches the app: no upgrade, a 403 naming the policy, as for a request.
        refuse(403, 'denied', `${AUTHZ_HEADER}: ${conn.verdict.by.replace(/[\r\n]/g, ' ')}\r\n`);
        return;
      }
    }
    const headers = upstreamRequestHeaders(req.headers, OWNED_HEADERS);
    if (peer !== null) headers.push(PEER_HEADER, peer);
    headers.push('traceparent', formatTraceparent(conn.traceId, conn.spanId, conn.flags));
    this.pool.upgrade({ path: target, method, headers }, String(req.headers.upgrade ?? 'websocket')).then(
      (outcome) => {
        if (!outcome.upgraded) {
          // The app refused the upgrade: its answer goes back as it is.
          writeRefusal(socket, outcome);
          this.recordConnection(conn, method, target, outcome.status, null, 0, 0);
          requestMetric(outcome.status, '-');
          return;
        }
        writeSwitchingProtocols(socket, outcome, head);
        const app = outcome.socket;
        const labels = this.tcpLabels(peer, mtls);
        this.ctx.metrics.tcp(labels, 'open');
        relayConnection(
          socket,
          app,
          ({ fromDownstream, fromUpstream }) => {
            this.ctx.metrics.tcp(labels, 'close', fromDownstream, fromUpstream);
            this.recordConnection(conn, method, target, 101, null, fromDownstream, fromUpstream);
            requestMetric(101, '-');
          },
          head.length,
        );
      },
      (err: unknown) => refuse(classifyTransportError(err) === 'connect-failure' ? 503 : 502, classifyTransportError(err) === 'connect-failure' ? 'connect-failure' : 'upstream-reset', ''),
    );
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

  /** A plaintext connection, whose first bytes are already readable (or will be). */
  private toPlain(socket: net.Socket): void {
    this.plainSockets.add(socket);
    if (this.protocol === 'tcp') {
      this.toApp(socket, false);
      return;
    }
    const chunk = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
    if (chunk === null) {
      // DISABLE mode: nothing read yet; wait for the first bytes to tell h2c from HTTP/1.
      socket.once('readable', () => {
        const first = socket.read() as Buffer | null;
        if (first === null) {
          socket.destroy();
          return;
        }
        socket.unshift(first);
        this.plainByPreface(socket, first);
      });
      return;
    }
    socket.unshift(chunk);
    this.plainByPreface(socket, chunk);
  }

  private plainByPreface(socket: net.Socket, first: Buffer): void {
    if (startsLikeH2(first)) this.h2Server.emit('connection', socket);
    else {
      this.plainServer.emit('connection', socket);
      // The http server reads through the socket's stream interface here; it must flow again.
      socket.resume();
    }
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
        this.plainSockets.add(socket);
        if (this.protocol === 'tcp') this.toApp(socket, false);
        else this.plainByPreface(socket, chunk);
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
    const flags = traceFlags(parent, this.ctx.samplingPercent);
    let error: ProxyErrorCode | 'upstream-reset' | null = null;
    let verdict: AuthzVerdict | null = null;
    let trailers: Record<string, string | string[] | undefined> | null = null;
    const grpc = String(req.headers['content-type'] ?? '').startsWith('application/grpc');

    res.once('close', () => {
      const workload = this.ctx.workload;
      const durationMs = performance.now() - t0;
      const spanError = error ?? (res.writableEnded ? null : 'downstream-closed');
      if (isSampled(flags)) {
        const attributes: Record<string, string | number | boolean> = { mtls };
        if (peer !== null) attributes['peer.spiffe'] = peer;
        if (verdict !== null) {
          attributes['authz.allowed'] = verdict.allowed;
          attributes['authz.by'] = verdict.by;
          if (verdict.notes.length > 0) attributes['authz.notes'] = verdict.notes.join('; ');
        }
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
          durationMs,
          attempts: 1,
          error: spanError,
          attributes,
          // Raw, as they already are: made into attributes where the batch is decoded (../protocol/span-wire.ts).
          requestHeaders: req.rawHeaders,
          responseHeaders: sentResponseHeaders(res),
        });
      }
      const source = peer === null ? 'unknown' : peer.slice(peer.lastIndexOf('/') + 1);
      const grpcStatus = res.getHeader('grpc-status') ?? trailers?.['grpc-status'];
      this.ctx.metrics.request(
        {
          reporter: 'destination',
          source_workload: source,
          source_version: 'unknown',
          destination_workload: workload.service,
          destination_version: workload.version || 'unknown',
          destination_service: workload.service,
          request_protocol: grpc ? 'grpc' : req.httpVersionMajor === 2 ? 'http2' : 'http',
          response_code: String(res.statusCode),
          grpc_response_status: grpcStatus === undefined ? '' : String(grpcStatus),
          response_flags: error !== null && error in RESPONSE_FLAGS ? RESPONSE_FLAGS[error as ProxyErrorCode] : spanError !== null ? 'DC' : '-',
          connection_security_policy: mtls ? 'mutual_tls' : 'none',
        },
        durationMs,
      );
    });

    if (this.authorization.length > 0) {
      verdict = this.authorizeRequest(req, method, target, peer, socket.remoteAddress);
      if (!verdict.allowed) {
        req.resume();
        error = rescue(res, new ProxyError('denied', `RBAC: access denied by ${verdict.by}`, undefined, { [AUTHZ_HEADER]: verdict.by }), null, grpc);
        return;
      }
    }

    const headers = upstreamRequestHeaders(req.headers, OWNED_HEADERS);
    if (peer !== null) headers.push(PEER_HEADER, peer);
    // The app gets the server span as parent: if it forwards this header, its outbound call nests under it.
    headers.push('traceparent', formatTraceparent(traceId, spanId, flags));

    // The caller's remaining budget: past it, nobody waits for the answer, so stop waiting for the app too.
    const budget = Number(req.headers[DEADLINE_HEADER]);
    let signal: AbortSignal | undefined;
    let timer: NodeJS.Timeout | undefined;
    if (budget > 0) {
      headers.push(DEADLINE_HEADER, String(Math.floor(budget)));
      const controller = new AbortController();
      signal = controller.signal;
      timer = setTimeout(() => controller.abort(), budget);
    }

    const hasBody = requestHasBody(req);
    const sent =
      this.appH2 !== null
        ? this.appH2.request(method, target, String(req.headers[':authority'] ?? req.headers.host ?? 'localhost'), headers, hasBody ? req : null, signal)
        : this.pool.request({ path: target, method, headers, body: hasBody ? req : null, ...(signal !== undefined ? { signal } : {}) });
    sent.then(
      (response) => {
        clearTimeout(timer);
        const out = downstreamResponseHeaders(response.headers);
        trailers = response.trailers;
        if (relayTrailersOnly(res, response, response.statusCode, out)) return;
        res.writeHead(response.statusCode, out);
        relayResponseBody(response, res, () => {
          if (error === null) error = 'upstream-reset';
        });
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (signal?.aborted) {
          error = rescue(res, new ProxyError('timeout', `app at 127.0.0.1:${this.appPort} did not answer within the propagated deadline of ${budget} ms`), null, grpc);
          return;
        }
        const kind = classifyTransportError(err);
        const detail = `app at 127.0.0.1:${this.appPort}: ${(err as Error)?.message ?? String(err)}`;
        error = rescue(res, new ProxyError(kind === 'connect-failure' ? 'connect-failure' : 'upstream-reset', detail), null, grpc);
      },
    );
  }
}
