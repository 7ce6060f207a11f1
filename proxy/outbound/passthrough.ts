// What the outbound passes through rather than proxies request by request: a `protocol: tcp` destination's
// connections (bytes copied unparsed), and WebSocket upgrades (routed like a request, then bytes copied).
// Either way the client span lasts the connection's life and Istio's TCP metrics count it.
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { DEADLINE_HEADER, PROXY_ERROR_HEADER, type TlsMaterial } from '../protocol/index.js';
import { ProxyError, classifyTransportError, writeRefusal, writeSocketError } from '../errors.js';
import { originFormTarget, upstreamRequestHeaders } from '../http-headers.js';
import { writeSwitchingProtocols } from '../upgrade.js';
import { relayConnection } from '../connection-relay.js';
import { spiffeIdentityCheck } from '../tls.js';
import type { ProxyContext } from '../proxy-context.js';
import type { PeerLabels } from '../metrics.js';
import { routeRequestOf } from '../protocol/route-match.js';
import { extractTraceContext, newRequestId, newTraceId, pushTraceHeaders, REQUEST_ID_HEADER, requestIdOf, TRACE_HEADERS, traceFlags } from '../tracing/trace-context.js';
import { pickDestination } from './balancer.js';
import type { EndpointSet } from './endpoint-set.js';
import type { RouteTable } from './router.js';
import { ClientSpan } from './client-span.js';
import { TCP_CLIENT_ALPN, TCP_TRACE_ALPN, tcpPreamble } from '../tracing/tcp-preamble.js';

/** Headers the proxy sets itself; a value from the app would be stale (traceparent) or forged (peer). */
export const OWNED_HEADERS: ReadonlySet<string> = new Set([...TRACE_HEADERS, 'x-devmesh-peer', DEADLINE_HEADER]);

/** A listener whose destination is `protocol: tcp`: connections are passed through unparsed. */
export interface TcpTarget {
  set: EndpointSet;
  /** null: the destination's inbound is DISABLE (plaintext). */
  tls: TlsMaterial | null;
  spiffeId: string;
}

/** Istio's labels for connections to `set`'s service (cached on the set by the metrics). */
function tcpLabels(ctx: ProxyContext, set: EndpointSet, mtls: boolean): PeerLabels {
  return ctx.metrics.outboundPeer(ctx.workload, ctx.trustDomain, set, set.service, set.subset ?? '', mtls ? 'mutual_tls' : 'none', true);
}

/** protocol: tcp — one upstream connection per downstream connection, bytes copied both ways. */
export function passTcp(ctx: ProxyContext, socket: net.Socket, target: TcpTarget): void {
  const mtls = target.tls !== null;
  const span = ClientSpan.newTrace(ctx, target.set.service, { mtls, protocol: 'tcp' });
  const endpoint = target.set.pick(null, null);
  if (endpoint === undefined) {
    socket.destroy();
    span.end(0, 'no-endpoints');
    return;
  }
  const { host, port } = endpoint.address;
  const upstream: net.Socket =
    target.tls !== null
      ? tls.connect({
          host,
          port,
          ca: target.tls.caPem,
          cert: target.tls.certPem,
          key: target.tls.keyPem,
          rejectUnauthorized: true,
          checkServerIdentity: spiffeIdentityCheck(target.spiffeId),
          ALPNProtocols: TCP_CLIENT_ALPN as string[],
        })
      : net.connect({ host, port, noDelay: true });
  const labels = tcpLabels(ctx, target.set, mtls);
  ctx.metrics.tcp(labels, 'open');
  // Over mTLS, nothing of the app's goes up before the handshake has said whether the trace preamble comes first.
  const gate =
    upstream instanceof tls.TLSSocket
      ? (start: () => void) =>
          upstream.once('secureConnect', () => {
            if (upstream.alpnProtocol === TCP_TRACE_ALPN) {
              upstream.write(tcpPreamble(span.traceId, span.spanId, span.flags));
              span.attributes['trace.propagated'] = 'tcp-preamble';
            }
            start();
          })
      : undefined;
  relayConnection(socket, upstream, ({ fromDownstream, fromUpstream, failure }) => {
    ctx.metrics.tcp(labels, 'close', fromDownstream, fromUpstream);
    // bytes.out went to the destination, bytes.in came back.
    span.attributes.endpoint = endpoint.instanceId;
    span.attributes['bytes.out'] = fromDownstream;
    span.attributes['bytes.in'] = fromUpstream;
    span.end(0, failure);
  }, 0, gate);
}

/** WebSocket (HTTP/1.1 Upgrade): routed like a request, then bytes copied both ways. */
export function passUpgrade(ctx: ProxyContext, listener: string, table: RouteTable | null, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const workload = ctx.workload;
  const method = req.method ?? 'GET';
  const target = originFormTarget(req.url);
  const rr = routeRequestOf(method, target, req.headers, { app: workload.service, version: workload.version });
  const route = table?.match(rr) ?? null;
  const requestId = requestIdOf(req.headers);
  const parent = extractTraceContext(req.headers) ?? ctx.joins.parentOf(requestId);
  const flags = traceFlags(parent, ctx.samplingPercent);
  const span = new ClientSpan(ctx, {
    traceId: parent?.traceId ?? newTraceId(),
    parentSpanId: parent?.spanId ?? null,
    flags,
    peerService: listener,
    method,
    path: target,
    attributes: { listener, protocol: 'websocket' },
  });
  if (route === null || route.destinations.length === 0) {
    span.end(404, 'no-route');
    return writeSocketError(socket, new ProxyError('no-route', `no route of ${listener} matches the upgrade ${method} ${rr.path}`));
  }
  span.attributes.route = route.label;
  const destination = pickDestination(route.destinations, route.totalWeight);
  span.peerService = destination.service;
  const endpoint = destination.set.pick(null, null);
  span.attributes.mtls = destination.tls;
  if (endpoint === undefined) {
    span.end(503, 'no-endpoints');
    return writeSocketError(socket, new ProxyError('no-endpoints', `${destination.service} has no endpoints`), route.label);
  }
  span.attributes.endpoint = endpoint.instanceId;
  const headers = upstreamRequestHeaders(req.headers, OWNED_HEADERS);
  pushTraceHeaders(headers, span.traceId, span.spanId, parent?.spanId ?? null, flags, req.headers.b3 !== undefined);
  if (requestId === undefined) headers.push(REQUEST_ID_HEADER, newRequestId());
  endpoint.pool.upgrade({ path: target, method, headers }, String(req.headers.upgrade ?? 'websocket')).then(
    (outcome) => {
      if (!outcome.upgraded) {
        // Refused upstream (the destination's authorization, or the app): the client gets that answer.
        span.end(outcome.status, outcome.headers[PROXY_ERROR_HEADER] !== undefined ? String(outcome.headers[PROXY_ERROR_HEADER]) : null);
        writeRefusal(socket, outcome);
        return;
      }
      writeSwitchingProtocols(socket, outcome, head);
      const labels = tcpLabels(ctx, destination.set, destination.tls);
      ctx.metrics.tcp(labels, 'open');
      relayConnection(
        socket,
        outcome.socket,
        ({ fromDownstream, fromUpstream }) => {
          ctx.metrics.tcp(labels, 'close', fromDownstream, fromUpstream);
          span.attributes['bytes.out'] = fromDownstream;
          span.attributes['bytes.in'] = fromUpstream;
          span.end(101, null);
        },
        head.length,
      );
    },
    (err: unknown) => {
      const code = classifyTransportError(err) === 'connect-failure' ? 'connect-failure' : 'upstream-reset';
      const failure = new ProxyError(code, `upgrade to ${destination.service} (${endpoint.instanceId}): ${(err as Error)?.message ?? String(err)}`);
      span.end(failure.status, code);
      writeSocketError(socket, failure, route.label);
    },
  );
}
