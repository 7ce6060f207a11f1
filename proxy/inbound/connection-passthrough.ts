// Connections the inbound passes through as bytes once they are let in: a tcp service's connections
// (authorized on connection attributes only, as Envoy's RBAC network filter does) and HTTP/1.1 upgrades
// (WebSocket: authorized like a request, the handshake through the app pool, then bytes both ways). Each
// is one InboundExchange whose span lasts the connection's life, with Istio's TCP metrics at open and close.
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { writeRefusal, writeSwitchingProtocols } from '../upgrade.js';
import { AUTHZ_HEADER, type AuthorizationPolicy } from '../protocol/index.js';
import { ProxyError, classifyTransportError, writeSocketError } from '../errors.js';
import { relayConnection } from '../connection-relay.js';
import { originFormTarget } from '../http-headers.js';
import type { ProxyContext } from '../proxy-context.js';
import { authorizeConnection, authorizeRequest } from './authz.js';
import { InboundExchange } from './inbound-exchange.js';
import { readTcpPreamble, TCP_TRACE_ALPN } from '../tracing/tcp-preamble.js';
import { formatTraceparent } from '../tracing/trace-context.js';
import { admitPeer, type TrustDomains } from './peer-identity.js';
import type { AppUpstream } from './app-relay.js';

/** What a passthrough needs from the inbound's current config, read when the connection arrives. */
export interface PassthroughState {
  readonly ctx: ProxyContext;
  readonly trust: TrustDomains;
  /** Already TrustDomains.canonicalPolicies'd. */
  readonly authorization: readonly AuthorizationPolicy[];
  readonly app: AppUpstream;
}

/**
 * protocol: tcp — the trace context when the caller's sidecar agreed to send it (../tracing/tcp-preamble.ts),
 * then the peer's identity, authorization on connection attributes, and bytes to and from the app.
 */
export function passTcp(state: PassthroughState, socket: net.Socket): void {
  if ((socket as TLSSocket).alpnProtocol !== TCP_TRACE_ALPN) return admitTcp(state, socket, {});
  readTcpPreamble(socket, (context) => {
    if (context instanceof Error) {
      // The caller's sidecar agreed to send it: a connection without it is broken, and the app must not get its bytes.
      state.ctx.log(`inbound: ${context.message}; connection closed`);
      socket.destroy();
      return;
    }
    admitTcp(state, socket, { traceparent: formatTraceparent(context.traceId, context.spanId, context.flags ?? '01') });
  });
}

function admitTcp(state: PassthroughState, socket: net.Socket, headers: IncomingMessage['headers']): void {
  const ex = InboundExchange.connection(state.ctx, socket, 'TCP', '', headers);
  // A refused or denied connection is closed before anything reaches the app, and not counted in istio_tcp_*.
  if (!admitPeer(ex, state.trust)) {
    socket.destroy();
    ex.finishConnection(0, 'denied', 0, 0);
    return;
  }
  if (state.authorization.length > 0) {
    ex.verdict = authorizeConnection(state.authorization, state.trust.canonical(ex.peer), state.app.port, socket.remoteAddress);
    if (!ex.verdict.allowed) {
      socket.destroy();
      ex.finishConnection(0, 'denied', 0, 0);
      return;
    }
  }
  const labels = ex.peerLabels();
  const app = net.connect({ host: '127.0.0.1', port: state.app.port, noDelay: true });
  state.ctx.metrics.tcp(labels, 'open');
  relayConnection(socket, app, ({ fromDownstream, fromUpstream, failure }) => {
    state.ctx.metrics.tcp(labels, 'close', fromDownstream, fromUpstream);
    ex.finishConnection(0, failure, fromDownstream, fromUpstream);
  });
}

/** An HTTP/1.1 upgrade: refused on the raw socket (there is no response object), or relayed after the app's 101. */
export function passUpgrade(state: PassthroughState, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const ex = InboundExchange.connection(state.ctx, req.socket, req.method ?? 'GET', originFormTarget(req.url), req.headers);
  if (!admitPeer(ex, state.trust)) {
    refuseUpgrade(ex, socket, new ProxyError('denied', 'peer authentication refused the client', undefined, { [AUTHZ_HEADER]: `peer authentication: ${ex.refused ?? ''}` }));
    return;
  }
  if (state.authorization.length > 0) {
    ex.verdict = authorizeRequest(state.authorization, req, ex, state.trust.canonical(ex.peer), state.app.port);
    if (!ex.verdict.allowed) {
      // Denied before anything reaches the app: no upgrade, a 403 naming the policy, as for a request.
      refuseUpgrade(ex, socket, new ProxyError('denied', 'authorization denied the upgrade', undefined, { [AUTHZ_HEADER]: ex.verdict.by }));
      return;
    }
  }
  const app = state.app;
  app.pool.upgrade({ path: ex.target, method: ex.method, headers: app.headersFor(ex, req) }, String(req.headers.upgrade ?? 'websocket')).then(
    (outcome) => {
      if (!outcome.upgraded) {
        // The app refused the upgrade: its answer goes back as it is.
        writeRefusal(socket, outcome);
        ex.finishConnection(outcome.status, null, 0, 0);
        return;
      }
      writeSwitchingProtocols(socket, outcome, head);
      const labels = ex.peerLabels();
      state.ctx.metrics.tcp(labels, 'open');
      relayConnection(
        socket,
        outcome.socket,
        ({ fromDownstream, fromUpstream }) => {
          state.ctx.metrics.tcp(labels, 'close', fromDownstream, fromUpstream);
          ex.finishConnection(101, null, fromDownstream, fromUpstream);
        },
        head.length,
      );
    },
    (err: unknown) => {
      const connect = classifyTransportError(err) === 'connect-failure';
      const why = `app at 127.0.0.1:${app.port}: ${err instanceof Error ? err.message : String(err)}`;
      refuseUpgrade(ex, socket, new ProxyError(connect ? 'connect-failure' : 'upstream-reset', why));
    },
  );
}

/** The proxy's own answer to an upgrade, on the raw socket (../errors.ts writes it), then the span. */
function refuseUpgrade(ex: InboundExchange, socket: Duplex, err: ProxyError): void {
  writeSocketError(socket, err);
  ex.finishConnection(err.status, err.code, 0, 0);
}
