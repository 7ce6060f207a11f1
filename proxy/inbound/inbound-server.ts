// The inbound listener: terminates mesh mTLS in front of the app on 127.0.0.1, built as linkerd2-proxy's
// inbound stack of small layers, one file each:
//   ../listener/              accepting, and telling TLS, h2c and HTTP/1 apart (shared with the outbound);
//   admit() below             which of those the mTLS mode lets in:
//                               STRICT — TLS only, unread; PERMISSIVE — TLS or plaintext by the first byte;
//                               DISABLE — plaintext only;
//   peer-identity.ts          the verified peer and its trust domain;
//   authz.ts                  AuthorizationPolicies;
//   app-relay.ts              the request to the app (HTTP/1 pool, or HTTP/2 for http2 and grpc services);
//   connection-passthrough.ts tcp services and WebSocket upgrades, as bytes;
//   inbound-exchange.ts       the server span and Istio's metrics, recorded once per exchange.
// One TCP listener whose port outlives config updates: each connection is handled by the config in force
// when it arrived (or, for a request, when the request arrived), so a mode change needs no rebind.
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { AUTHZ_HEADER, type AuthorizationPolicy, type InboundListener, type MtlsMode, type TlsMaterial } from '../protocol/index.js';
import { ProxyError, rescue } from '../errors.js';
import { originFormTarget } from '../http-headers.js';
import { ConnectionListener, hardenedHttpServer, type Admission, type ListenerWing } from '../listener/index.js';
import type { ProxyContext } from '../proxy-context.js';
import { AppUpstream } from './app-relay.js';
import { authorizeRequest } from './authz.js';
import { passTcp, passUpgrade, type PassthroughState } from './connection-passthrough.js';
import { InboundExchange } from './inbound-exchange.js';
import { TCP_TRACE_ALPN } from '../tracing/tcp-preamble.js';

/**
 * The server's preference decides (OpenSSL picks the first of these the client offers): the tcp trace
 * preamble first, so an outbound that offers it and http/1.1 (for older inbounds) gets it. HTTP clients never offer it.
 */
const INBOUND_ALPN = [TCP_TRACE_ALPN, 'h2', 'http/1.1'];
import { admitPeer, type TrustDomains } from './peer-identity.js';

export class InboundServer implements ListenerWing, PassthroughState {
  readonly tls: tls.Server;
  readonly http1: http.Server;
  readonly h2c: http2.Http2Server;
  private readonly listener: ConnectionListener;
  /** Plaintext connections, cut when STRICT comes in: they must not outlive the mode that let them in. */
  private readonly plainSockets = new WeakSet<net.Socket>();
  private mode: MtlsMode;
  authorization: readonly AuthorizationPolicy[];
  app: AppUpstream;
  port = 0;

  constructor(
    readonly ctx: ProxyContext,
    material: TlsMaterial,
    listener: InboundListener,
    public trust: TrustDomains,
  ) {
    this.mode = listener.mtls;
    // Principals of the trust domain's aliases made the mesh's once here, not per request.
    this.authorization = trust.canonicalPolicies(listener.authorization ?? []);
    this.app = new AppUpstream(listener.appPort, listener.protocol ?? 'http');
    this.tls = tls.createServer(
      { ca: material.caPem, cert: material.certPem, key: material.keyPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: INBOUND_ALPN },
      (socket) => this.decrypted(socket),
    );
    // Its own 400/431/408/417 carry x-devmesh-error, and two Host lines are a 400, before handle() sees a request.
    this.http1 = hardenedHttpServer(
      (req, res) => this.handle(req, res),
      (req: IncomingMessage, socket: Duplex, head: Buffer) => passUpgrade(this, req, socket, head),
    );
    this.h2c = http2.createServer({}, (req, res) => this.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse));
    this.listener = new ConnectionListener(this);
  }

  async listen(port: number): Promise<number> {
    this.port = await this.listener.listen(port);
    return this.port;
  }

  /** Applies a new config; the listener and its open connections stay. */
  update(listener: InboundListener, material: TlsMaterial | null, trust: TrustDomains): void {
    // Existing TLS connections keep their session; new handshakes present the new certificate.
    if (material !== null) this.tls.setSecureContext({ ca: material.caPem, cert: material.certPem, key: material.keyPem });
    if (listener.mtls === 'STRICT' && this.mode !== 'STRICT') {
      for (const socket of this.listener.connections) if (this.plainSockets.has(socket)) socket.destroy();
    }
    this.mode = listener.mtls;
    this.trust = trust;
    this.authorization = trust.canonicalPolicies(listener.authorization ?? []);
    const protocol = listener.protocol ?? 'http';
    if (listener.appPort !== this.app.port || protocol !== this.app.protocol) {
      const old = this.app;
      this.app = new AppUpstream(listener.appPort, protocol);
      old.close();
    }
  }

  async close(): Promise<void> {
    const closed = this.listener.close();
    this.app.destroy();
    await closed;
  }

  /** Per connection, by the mode in force now; DISABLE hands a tcp service its bytes unread (a server may speak first). */
  admit(socket: net.Socket): Admission {
    switch (this.mode) {
      case 'STRICT':
        return 'tls';
      case 'PERMISSIVE':
        return 'sniff';
      case 'DISABLE':
        return this.plaintext(socket) ? 'taken' : 'plaintext';
      default: {
        const never: never = this.mode;
        throw new Error(`unknown mTLS mode ${String(never)}`);
      }
    }
  }

  /** A plaintext connection: remembered for a change to STRICT, and a tcp service's to pass through. */
  plaintext(socket: net.Socket): boolean {
    this.plainSockets.add(socket);
    if (this.app.protocol !== 'tcp') return false;
    passTcp(this, socket);
    return true;
  }

  /** After the TLS handshake: raw bytes for a tcp service, else HTTP/2 or HTTP/1 by the ALPN choice. */
  private decrypted(socket: TLSSocket): void {
    if (this.app.protocol === 'tcp') passTcp(this, socket);
    else if (socket.alpnProtocol === 'h2') this.h2c.emit('connection', socket);
    else this.http1.emit('connection', socket);
  }

  /** An HTTP request (HTTP/1 or HTTP/2, TLS or plaintext): the inbound stack, in order. */
  private handle(req: IncomingMessage, res: ServerResponse): void {
    // The exchange comes first: whatever ends the request below, its span and metrics are recorded once.
    const ex = InboundExchange.request(this.ctx, req, res, originFormTarget(req.url));
    // Peer identity before authorization: principals are only worth matching for a peer of a trusted domain.
    if (!admitPeer(ex, this.trust)) {
      // Istio denies a peer outside its trust domains as an authentication failure (RBAC 403), after the
      // handshake, so the caller learns why; the chain was fine, so a TLS alert would say nothing useful.
      req.resume();
      const why = `peer authentication: ${ex.refused}`;
      rescue(res, new ProxyError('denied', why, undefined, { [AUTHZ_HEADER]: why }), null, ex.grpc);
      return;
    }
    // Authorization before the app: a denied request never reaches it, and the 403 names the policy.
    if (this.authorization.length > 0) {
      ex.verdict = authorizeRequest(this.authorization, req, ex, this.trust.canonical(ex.peer), this.app.port);
      if (!ex.verdict.allowed) {
        req.resume();
        ex.error = rescue(res, new ProxyError('denied', `RBAC: access denied by ${ex.verdict.by}`, undefined, { [AUTHZ_HEADER]: ex.verdict.by }), null, ex.grpc);
        return;
      }
    }
    // Last, the app: bounded by the caller's propagated deadline; its failures become the proxy's own answers.
    void this.app.relay(ex, req, res);
  }
}
