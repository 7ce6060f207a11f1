// One outbound listener: plain HTTP from the app (or a browser, for an ingress gateway) on 127.0.0.1.
// The per-request stack, outermost first, each layer there for one reason (Envoy's filter order):
//   client span + metrics — wrap everything, so a proxy-made 404/503/504 is traced and counted too;
//   rescue                — errors become responses in one place (../errors.ts), with x-devmesh-error;
//   route                 — first matching rule; none is a 404 the app can tell from an upstream 404;
//   direct response / redirect — the rule answers itself;
//   fault                 — delay, then abort; a faulted rule has no retries and no timeout (Istio);
//   destination pick      — weighted, once per request, so retries stay within the chosen subset;
//   circuit breaker       — connectionPool limits shed at once instead of queueing;
//   body buffer           — only when a retry or a mirror must send the body again;
//   header ops / rewrite  — what the upstream sees;
//   mirror                — a fire-and-forget copy, its response discarded;
//   retry / timeout       — each try on another endpoint, bounded by the route timeout and the
//                           deadline the caller propagated; outlier detection sees every try;
//   upstream pool         — keep-alive (m)TLS connections to the destination sidecars.
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEADLINE_HEADER, ROUTE_HEADER, PROXY_ERROR_HEADER, type SpanRecord, type TlsMaterial } from '../protocol/index.js';
import { spiffeIdentityCheck } from '../tls.js';
import type { H2Response } from '../h2-client.js';
import type { H1Response } from '../http1/index.js';
import { ProxyError, RESPONSE_FLAGS, classifyTransportError, rescue, type ProxyErrorCode, type TransportFailure } from '../errors.js';
import { downstreamResponseHeaders, relayTrailersOnly, originFormTarget, requestHasBody, relayResponseBody, upstreamRequestHeaders } from '../http-headers.js';
import { TeeBody, type RequestBody } from '../request-body.js';
import { writeRefusal, writeSwitchingProtocols } from '../upgrade.js';
import { listenLoopback } from '../listen.js';
import type { ProxyContext } from '../proxy-context.js';
import { routeRequestOf, type RouteRequest } from '../protocol/route-match.js';
import { formatTraceparent, isSampled, newSpanId, newTraceId, parseTraceparent, traceFlags } from '../tracing/trace-context.js';
import { sentResponseHeaders } from '../protocol/span-headers.js';
import { pickDestination, type CompiledDestination, type CompiledRoute } from './balancer.js';
import type { EndpointSet, HashInput, UpstreamEndpoint } from './endpoint-set.js';
import { applyRequestOps, applyResponseOps, cookieValue } from './header-ops.js';
import { backoffMs } from './retry.js';
import type { RouteTable } from './router.js';
import { relayConnection } from '../connection-relay.js';

/** Headers the proxy sets itself; a value from the app would be stale (traceparent) or forged (peer). */
const OWNED_HEADERS: ReadonlySet<string> = new Set(['traceparent', 'x-devmesh-peer', DEADLINE_HEADER]);

/** What the client span and the metrics report; filled in as the request moves down the stack. */
interface ExchangeState {
  route: CompiledRoute | null;
  block: number;
  destination: CompiledDestination | null;
  endpoint: UpstreamEndpoint | null;
  attempts: number;
  /** One entry per try: "<instance> <status or failure>". */
  tries: string;
  retryReasons: string;
  error: ProxyErrorCode | null;
  detail: string | null;
  fault: string | null;
  mirrored: boolean;
  /** The trace is sampled: the request gets a span. */
  sampled: boolean;
  upstreamPath: string | null;
  events: string;
  grpcStatus: string;
  setCookie?: string;
}

function newState(): ExchangeState {
  return {
    route: null,
    block: -1,
    destination: null,
    endpoint: null,
    attempts: 0,
    tries: '',
    retryReasons: '',
    error: null,
    detail: null,
    fault: null,
    mirrored: false,
    sampled: true,
    upstreamPath: null,
    events: '',
    grpcStatus: '',
  };
}

function note(list: string, item: string): string {
  return list === '' ? item : `${list}; ${item}`;
}

/** A listener whose destination is `protocol: tcp`: connections are passed through unparsed. */
export interface TcpTarget {
  set: EndpointSet;
  /** null: the destination's inbound is DISABLE (plaintext). */
  tls: TlsMaterial | null;
  spiffeId: string;
}

/** The HTTP/2 connection preface starts with these bytes; anything else on a fresh connection is HTTP/1. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

type Upstream = H1Response | H2Response;

function discard(response: Upstream): void {
  if ('dump' in response) response.dump();
  else response.body.destroy();
}

export class OutboundServer {
  readonly server: http.Server;
  private readonly h2c: http2.Http2Server;
  private readonly tcp: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  /** null while the config has no listener for this service (it stays bound): every request is a 404. */
  table: RouteTable | null = null;
  /** Set when the destination is a tcp service: then nothing is parsed. */
  tcpTarget: TcpTarget | null = null;

  constructor(
    readonly service: string,
    private readonly ctx: ProxyContext,
  ) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    this.server = http.createServer(handler);
    // Longer than any client's idle timeout, so the client (which knows) closes idle connections first.
    this.server.keepAliveTimeout = 65_000;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    // h2c with prior knowledge (gRPC clients): the same handler through Node's compatibility API.
    this.h2c = http2.createServer({}, handler as unknown as Parameters<typeof http2.createServer>[1]);
    this.tcp = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  async listen(port: number): Promise<number> {
    this.port = await listenLoopback(this.tcp, port);
    return this.port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.tcp.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
      this.server.closeAllConnections();
    });
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const target = this.tcpTarget;
    if (target !== null) {
      this.passthrough(socket, target);
      return;
    }
    socket.once('readable', () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) {
        socket.destroy();
        return;
      }
      socket.unshift(chunk);
      if (chunk.length >= 3 && chunk.subarray(0, Math.min(chunk.length, H2_PREFACE.length)).equals(H2_PREFACE.subarray(0, Math.min(chunk.length, H2_PREFACE.length)))) {
        this.h2c.emit('connection', socket);
      } else {
        this.server.emit('connection', socket);
        socket.resume();
      }
    });
  }

  /** protocol: tcp — one upstream connection per downstream connection, bytes copied both ways. */
  private passthrough(socket: net.Socket, target: TcpTarget): void {
    const workload = this.ctx.workload;
    const endpoint = target.set.pick(null, null);
    const labels = {
      reporter: 'source',
      source_workload: workload.service,
      destination_workload: target.set.service,
      destination_service: target.set.service,
      connection_security_policy: target.tls !== null ? 'mutual_tls' : 'none',
    };
    const startMs = Date.now();
    const t0 = performance.now();
    if (endpoint === undefined) {
      socket.destroy();
      this.otherClientSpan(this.sampleNewTrace(), newTraceId(), null, target.set.service, 'TCP', '', 0, startMs, t0, 'no-endpoints', { mtls: target.tls !== null, protocol: 'tcp' });
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
          })
        : net.connect({ host, port, noDelay: true });
    this.ctx.metrics.tcp(labels, 'open');
    relayConnection(socket, upstream, ({ fromDownstream, fromUpstream, failure }) => {
      this.ctx.metrics.tcp(labels, 'close', fromDownstream, fromUpstream);
      // Client span over the connection's life; bytes.out went to the destination, bytes.in came back.
      this.otherClientSpan(this.sampleNewTrace(), newTraceId(), null, target.set.service, 'TCP', '', 0, startMs, t0, failure, {
        mtls: target.tls !== null,
        protocol: 'tcp',
        endpoint: endpoint.instanceId,
        'bytes.out': fromDownstream,
        'bytes.in': fromUpstream,
      });
    });
  }

  /** WebSocket (HTTP/1.1 Upgrade): routed like a request, then bytes copied both ways. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const workload = this.ctx.workload;
    const method = req.method ?? 'GET';
    const target = originFormTarget(req.url);
    const rr = routeRequestOf(method, target, req.headers, { app: workload.service, version: workload.version });
    const route = this.table?.match(rr) ?? null;
    const fail = (status: number, code: string): void => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${PROXY_ERROR_HEADER}: ${code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    };
    const parent = parseTraceparent(req.headers.traceparent);
    const traceId = parent?.traceId ?? newTraceId();
    const spanId = newSpanId();
    const flags = traceFlags(parent, this.ctx.samplingPercent);
    const startMs = Date.now();
    const t0 = performance.now();
    const attributes: SpanRecord['attributes'] = { listener: this.service, protocol: 'websocket' };
    const span = (status: number, error: string | null, peerService: string): void =>
      this.otherClientSpan(isSampled(flags), traceId, parent?.spanId ?? null, peerService, method, target, status, startMs, t0, error, attributes, spanId);
    if (route === null || route.destinations.length === 0) {
      span(404, 'no-route', this.service);
      return fail(404, 'no-route');
    }
    attributes.route = route.label;
    const destination = pickDestination(route.destinations, route.totalWeight);
    const endpoint = destination.set.pick(null, null);
    attributes.mtls = destination.tls;
    if (endpoint === undefined) {
      span(503, 'no-endpoints', destination.service);
      return fail(503, 'no-endpoints');
    }
    attributes.endpoint = endpoint.instanceId;
    const headers = upstreamRequestHeaders(req.headers, OWNED_HEADERS);
    headers.push('traceparent', formatTraceparent(traceId, spanId, flags));
    endpoint.pool.upgrade({ path: target, method, headers }, String(req.headers.upgrade ?? 'websocket')).then(
      (outcome) => {
        if (!outcome.upgraded) {
          // Refused upstream (the destination's authorization, or the app): the client gets that answer.
          span(outcome.status, outcome.headers[PROXY_ERROR_HEADER] !== undefined ? String(outcome.headers[PROXY_ERROR_HEADER]) : null, destination.service);
          writeRefusal(socket, outcome);
          return;
        }
        writeSwitchingProtocols(socket, outcome, head);
        const upstream = outcome.socket;
        const labels = {
          reporter: 'source',
          source_workload: workload.service,
          destination_workload: destination.service,
          destination_service: destination.service,
          connection_security_policy: destination.tls ? 'mutual_tls' : 'none',
        };
        this.ctx.metrics.tcp(labels, 'open');
        relayConnection(
          socket,
          upstream,
          ({ fromDownstream, fromUpstream }) => {
            this.ctx.metrics.tcp(labels, 'close', fromDownstream, fromUpstream);
            attributes['bytes.out'] = fromDownstream;
            attributes['bytes.in'] = fromUpstream;
            span(101, null, destination.service);
          },
          head.length,
        );
      },
      (err: unknown) => {
        const connect = classifyTransportError(err) === 'connect-failure';
        span(connect ? 503 : 502, connect ? 'connect-failure' : 'upstream-reset', destination.service);
        fail(connect ? 503 : 502, connect ? 'connect-failure' : 'upstream-reset');
      },
    );
  }

  /** A connection with no trace context (raw TCP) starts a trace: sampled at tracing.sampling. */
  private sampleNewTrace(): boolean {
    return isSampled(traceFlags(null, this.ctx.samplingPercent));
  }

  /**
   * A client span that is not a proxied request's (raw TCP or a WebSocket, for the connection's whole life;
   * a mirrored copy): duration from `t0` to now; none when unsampled.
   */
  private otherClientSpan(
    sampled: boolean,
    traceId: string,
    parentSpanId: string | null,
    peerService: string,
    method: string,
    path: string,
    status: number,
    startMs: number,
    t0: number,
    error: string | null,
    attributes: SpanRecord['attributes'],
    spanId = newSpanId(),
    attempts = 1,
  ): void {
    if (!sampled) return;
    const workload = this.ctx.workload;
    this.ctx.spans.record({
      traceId,
      spanId,
      parentSpanId,
      kind: 'client',
      service: workload.service,
      instanceId: workload.instanceId,
      peerService,
      method,
      path,
      status,
      startMs,
      durationMs: performance.now() - t0,
      attempts,
      error,
      attributes,
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const startMs = Date.now();
    const t0 = performance.now();
    const method = req.method ?? 'GET';
    const target = originFormTarget(req.url);
    const parent = parseTraceparent(req.headers.traceparent);
    const traceId = parent?.traceId ?? newTraceId();
    const spanId = newSpanId();
    const flags = traceFlags(parent, this.ctx.samplingPercent);
    const state = newState();
    state.sampled = isSampled(flags);

    res.once('close', () => this.finish(req, res, method, target, traceId, spanId, parent?.spanId ?? null, startMs, t0, state));

    this.forward(req, res, method, target, traceId, spanId, flags, state).catch((err: unknown) => {
      if (err instanceof ProxyError && state.detail === null) state.detail = err.message;
      state.error = rescue(res, err, state.route?.label ?? null, isGrpc(req.headers['content-type']));
    });
  }

  private finish(
    _req: IncomingMessage,
    res: ServerResponse,
    method: string,
    target: string,
    traceId: string,
    spanId: string,
    parentSpanId: string | null,
    startMs: number,
    t0: number,
    state: ExchangeState,
  ): void {
    const workload = this.ctx.workload;
    const durationMs = performance.now() - t0;
    const error = state.error ?? (res.writableEnded ? null : 'downstream-closed');
    const destination = state.destination;
    const peerService = destination?.service ?? this.service;
    if (state.sampled) {
      const attributes: SpanRecord['attributes'] = { listener: this.service };
      const route = state.route;
      if (route !== null) {
        attributes.route = route.label;
        attributes['route.index'] = route.index;
        if (state.block >= 0) attributes['route.block'] = state.block;
      }
      if (destination !== null) {
        attributes.mtls = destination.tls;
        if (destination.subset !== undefined) attributes.subset = destination.subset;
      }
      if (state.endpoint !== null) attributes.endpoint = state.endpoint.instanceId;
      if (state.tries !== '') attributes.tries = state.tries;
      if (state.retryReasons !== '') attributes['retry.reasons'] = state.retryReasons;
      if (state.fault !== null) attributes.fault = state.fault;
      if (state.mirrored) attributes.mirrored = true;
      if (state.upstreamPath !== null && state.upstreamPath !== target) attributes['upstream.path'] = state.upstreamPath;
      if (state.events !== '') attributes.events = state.events;
      if (state.detail !== null) attributes['error.detail'] = state.detail;
      this.ctx.spans.record({
        traceId,
        spanId,
        parentSpanId,
        kind: 'client',
        service: workload.service,
        instanceId: workload.instanceId,
        peerService,
        method,
        path: target,
        status: res.statusCode,
        startMs,
        durationMs,
        attempts: state.attempts,
        error,
        attributes,
        // Raw, as they already are: made into attributes where the batch is decoded (../protocol/span-wire.ts).
        requestHeaders: _req.rawHeaders,
        responseHeaders: sentResponseHeaders(res),
      });
    }
    this.ctx.metrics.request(
      {
        reporter: 'source',
        source_workload: workload.service,
        source_version: workload.version || 'unknown',
        destination_workload: peerService,
        destination_version: state.endpoint?.version || destination?.subset || 'unknown',
        destination_service: peerService,
        request_protocol: String(_req.headers['content-type'] ?? '').startsWith('application/grpc') ? 'grpc' : _req.httpVersionMajor === 2 ? 'http2' : 'http',
        response_code: String(res.statusCode),
        grpc_response_status: state.grpcStatus,
        response_flags: state.error !== null ? (RESPONSE_FLAGS[state.error] ?? '-') : error !== null ? 'DC' : '-',
        connection_security_policy: destination === null ? 'unknown' : destination.tls ? 'mutual_tls' : 'none',
      },
      durationMs,
    );
  }

  private async forward(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    target: string,
    traceId: string,
    spanId: string,
    flags: string,
    state: ExchangeState,
  ): Promise<void> {
    const workload = this.ctx.workload;
    const rr = routeRequestOf(method, target, req.headers, { app: workload.service, version: workload.version });
    const table = this.table;
    const route = table?.match(rr) ?? null;
    if (route === null) throw new ProxyError('no-route', `no route of ${this.service} matches ${method} ${rr.path}`);
    state.route = route;
    state.block = table!.lastBlock;

    if (route.directResponse !== undefined) return this.direct(res, route);
    if (route.redirect !== undefined) return this.redirect(res, route, rr);

    let retries = route.retry.retries;
    let timeoutMs = route.timeoutMs;
    const fault = route.fault;
    if (fault !== undefined) {
      // Istio: a client-side fault turns the rule's retries and timeout off.
      retries = 0;
      timeoutMs = undefined;
      if (fault.delay !== undefined && Math.random() * 100 < fault.delay.percent) {
        state.fault = `delay ${fault.delay.fixedDelayMs}ms`;
        await sleep(fault.delay.fixedDelayMs);
      }
      if (fault.abort !== undefined && Math.random() * 100 < fault.abort.percent) {
        const abort = fault.abort;
        state.fault = note(state.fault ?? '', abort.grpcStatus !== undefined ? `abort grpc ${abort.grpcStatus}` : `abort ${abort.httpStatus}`);
        if (abort.grpcStatus !== undefined) {
          state.grpcStatus = String(abort.grpcStatus);
          throw new ProxyError('fault-abort', 'fault filter abort', 200, {
            'content-type': 'application/grpc',
            'grpc-status': String(abort.grpcStatus),
            'grpc-message': 'fault filter abort',
          });
        }
        throw new ProxyError('fault-abort', 'fault filter abort', abort.httpStatus);
      }
    }

    const destination = pickDestination(route.destinations, route.totalWeight);
    state.destination = destination;
    const set = destination.set;
    if (set.endpoints.length === 0) {
      const subset = destination.subset !== undefined ? ` subset ${destination.subset}` : '';
      throw new ProxyError('no-endpoints', `${destination.service}${subset} has no endpoints`);
    }
    const admission = set.admit();
    if (!admission.ok) throw new ProxyError('overflow', `circuit breaker of ${destination.service}: ${admission.reason}`);

    // The caller's remaining budget (a sidecar upstream of our app set it) caps the route timeout.
    const propagated = Number(req.headers[DEADLINE_HEADER]);
    if (propagated > 0 && (timeoutMs === undefined || propagated < timeoutMs)) timeoutMs = propagated;
    // So does a gRPC caller's own deadline (grpc-timeout).
    const grpcTimeout = req.headers['grpc-timeout'];
    if (grpcTimeout !== undefined) {
      const deadline = parseGrpcTimeout(grpcTimeout);
      if (deadline !== null && (timeoutMs === undefined || deadline < timeoutMs)) timeoutMs = deadline;
    }

    // The body always streams through; a copy is kept only when a retry or a mirror may need it again.
    const mirror = route.mirror !== undefined && Math.random() * 100 < route.mirror.percent ? route.mirror : undefined;
    const hasBody = requestHasBody(req);
    const tee = hasBody && (retries > 0 || mirror !== undefined) ? new TeeBody(req) : null;
    const body: RequestBody | null = !hasBody ? null : tee !== null ? tee.first() : req;

    let headers = upstreamRequestHeaders(req.headers, OWNED_HEADERS);
    headers = applyRequestOps(headers, route.headers?.request);
    headers = applyRequestOps(headers, destination.headers?.request);
    let path = target;
    const rewrite = route.rewrite;
    if (rewrite !== undefined) {
      if (rewrite.uri !== undefined) {
        const prefix = state.block >= 0 ? route.blockPrefixes[state.block] : null;
        const q = target.indexOf('?');
        const query = q === -1 ? '' : target.slice(q);
        path = (prefix != null ? rewrite.uri + rr.path.slice(prefix.length) : rewrite.uri) + query;
        if (path === '' || path[0] !== '/') path = '/' + path;
      }
      if (rewrite.authority !== undefined) headers = applyRequestOps(headers, { set: { host: rewrite.authority } });
    }
    state.upstreamPath = path;
    headers.push('traceparent', formatTraceparent(traceId, spanId, flags));

    if (mirror !== undefined) {
      const copy = tee !== null ? tee.copy() : null;
      if (!hasBody || copy !== null) {
        state.mirrored = true;
        this.mirror(mirror.destination, method, path, headers, copy, traceId, spanId, flags, rr.authority);
      }
    }

    set.active++;
    set.budget?.request();
    let response: Upstream;
    try {
      response = await this.send(route, set, rr, retries, timeoutMs, method, path, headers, body, tee, state);
    } finally {
      set.active--;
    }
    const out = downstreamResponseHeaders(response.headers);
    applyResponseOps(out, destination.headers?.response);
    applyResponseOps(out, route.headers?.response);
    out[ROUTE_HEADER] = route.label;
    const grpc = response.headers['grpc-status'];
    if (grpc !== undefined) state.grpcStatus = String(grpc);
    if (state.setCookie !== undefined) out['set-cookie'] = [...toList(out['set-cookie']), state.setCookie];
    if (relayTrailersOnly(res, response, response.statusCode, out)) return;
    res.writeHead(response.statusCode, out);
    relayResponseBody(
      response,
      res,
      () => {
        if (state.error === null) state.error = 'upstream-reset';
      },
      // gRPC puts its status in the trailers: read it once they are in, for the metrics.
      () => {
        const status = response.trailers['grpc-status'];
        if (status !== undefined) state.grpcStatus = String(status);
      },
    );
  }

  private direct(res: ServerResponse, route: CompiledRoute): void {
    const d = route.directResponse!;
    const body = d.body ?? '';
    const headers: OutgoingHttpHeaders = { 'content-length': Buffer.byteLength(body), [PROXY_ERROR_HEADER]: 'direct-response', [ROUTE_HEADER]: route.label };
    if (body !== '') headers['content-type'] = 'text/plain; charset=utf-8';
    applyResponseOps(headers, route.headers?.response);
    res.writeHead(d.status, headers);
    res.end(body);
  }

  private redirect(res: ServerResponse, route: CompiledRoute, rr: RouteRequest): void {
    const r = route.redirect!;
    const scheme = r.scheme ?? 'http';
    const host = r.authority ?? rr.authority;
    const port = r.port !== undefined ? `:${r.port}` : '';
    const uri = r.uri ?? (rr.query === '' ? rr.path : `${rr.path}?${rr.query}`);
    const headers: OutgoingHttpHeaders = {
      location: `${scheme}://${host}${port}${uri}`,
      'content-length': 0,
      [PROXY_ERROR_HEADER]: 'redirect',
      [ROUTE_HEADER]: route.label,
    };
    applyResponseOps(headers, route.headers?.response);
    res.writeHead(r.code, headers);
    res.end();
  }

  private hashInput(set: EndpointSet, rr: RouteRequest, state: ExchangeState): HashInput | null {
    const policy = set.hashPolicy;
    if (policy === null) return null;
    return {
      header: (name) => {
        const v = rr.headers[name];
        return Array.isArray(v) ? v.join(',') : v;
      },
      cookie: (name) => {
        const v = cookieValue(rr.headers.cookie, name);
        if (v !== undefined || policy.cookie?.ttlMs === undefined) return v;
        // Envoy: with a ttl, a request without the cookie gets one, so the client sticks from now on.
        const fresh = Math.random().toString(36).slice(2);
        const attrs = [`${name}=${fresh}`, `Max-Age=${Math.round(policy.cookie.ttlMs / 1000)}`, `Path=${policy.cookie.path ?? '/'}`, 'HttpOnly'];
        state.setCookie = attrs.join('; ');
        return fresh;
      },
      query: (name) => new URLSearchParams(rr.query).get(name) ?? undefined,
      source: this.ctx.workload.instanceId,
    };
  }

  /** Tries, retries and timeouts; resolves with the response to relay (which may be a final 5xx). */
  private async send(
    route: CompiledRoute,
    set: EndpointSet,
    rr: RouteRequest,
    retries: number,
    timeoutMs: number | undefined,
    method: string,
    path: string,
    baseHeaders: string[],
    firstBody: RequestBody | null,
    tee: TeeBody | null,
    state: ExchangeState,
  ): Promise<Upstream> {
    let body = firstBody;
    /** The body for the next try, or undefined when it cannot be sent again (streamed past the buffer limit). */
    const nextBody = (): RequestBody | null | undefined => {
      if (body === null) return null;
      if (tee === null) return undefined;
      const again = tee.again();
      return again === null ? undefined : again;
    };
    const retry = route.retry;
    const deadline = timeoutMs ? performance.now() + timeoutMs : Infinity;
    const timeoutError = (): ProxyError => new ProxyError('timeout', `no response within the ${timeoutMs === route.timeoutMs ? 'route timeout' : 'propagated deadline'} of ${timeoutMs} ms`);
    const hash = this.hashInput(set, rr, state);
    let previous: UpstreamEndpoint | null = null;
    let retrying = false;

    try {
      for (let n = 0; ; n++) {
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw timeoutError();
        const endpoint = set.pick(hash, previous);
        if (endpoint === undefined) throw new ProxyError('no-healthy-endpoints', `every endpoint of ${set.service} is ejected by outlier detection`);
        previous = endpoint;
        state.attempts++;
        state.endpoint = endpoint;

        const budget = Math.min(remaining, retry.perTryTimeoutMs ?? Infinity);
        // Timers only when a timeout is configured: the common no-timeout path allocates nothing for it.
        let controller: AbortController | undefined;
        let timer: NodeJS.Timeout | undefined;
        let headers = baseHeaders;
        if (budget !== Infinity) {
          const c = (controller = new AbortController());
          timer = setTimeout(() => c.abort(), budget);
          headers = [...baseHeaders, DEADLINE_HEADER, String(Math.max(1, Math.floor(budget)))];
          // A gRPC upstream gets the remaining budget as its own deadline, re-encoded (as Envoy does).
          if (isGrpc(rr.headers['content-type'])) headers = withGrpcTimeout(headers, budget);
        }

        let failure: TransportFailure;
        let cause: unknown;
        endpoint.health.active++;
        try {
          const response: Upstream =
            endpoint.h2 !== null
              ? await endpoint.h2.request(method, path, rr.authority || set.service, headers, body, controller?.signal)
              : await endpoint.pool.request({ path, method, headers, body, ...(controller !== undefined ? { signal: controller.signal } : {}) });
          clearTimeout(timer);
          endpoint.health.active--;
          state.tries = note(state.tries, `${endpoint.instanceId} ${response.statusCode}`);
          const ejected = set.report(endpoint, response.statusCode);
          if (ejected !== null) state.events = note(state.events, ejected);
          if (n < retries && retry.retryStatus(response.statusCode, response.headers['grpc-status'])) {
            let refused = set.admitRetry();
            const again = refused === null ? nextBody() : undefined;
            if (refused === null && again === undefined) refused = 'the request body was streamed past the buffer limit';
            if (refused === null) {
              body = again!;
              discard(response);
              this.noteRetry(state, response.headers['grpc-status'] !== undefined && response.statusCode === 200 ? `grpc-${response.headers['grpc-status']}` : String(response.statusCode));
              if (!retrying) {
                retrying = true;
                set.activeRetries++;
              }
              await this.backoff(n + 1, deadline);
              continue;
            }
            state.events = note(state.events, `not retried: ${refused}`);
          }
          return response;
        } catch (err) {
          clearTimeout(timer);
          endpoint.health.active--;
          cause = err;
          failure = controller?.signal.aborted ? 'per-try-timeout' : classifyTransportError(err);
        }
        state.tries = note(state.tries, `${endpoint.instanceId} ${failure}`);
        const ejected = set.report(endpoint, 0);
        if (ejected !== null) state.events = note(state.events, ejected);

        if (failure === 'per-try-timeout' && performance.now() >= deadline - 1) throw timeoutError();
        if (n < retries && retry.retryTransport(failure)) {
          let refused = set.admitRetry();
          const again = refused === null ? nextBody() : undefined;
          if (refused === null && again === undefined) refused = 'the request body was streamed past the buffer limit';
          if (refused === null) {
            body = again!;
            this.noteRetry(state, failure);
            if (!retrying) {
              retrying = true;
              set.activeRetries++;
            }
            await this.backoff(n + 1, deadline);
            continue;
          }
          state.events = note(state.events, `not retried: ${refused}`);
        }
        const where = `${set.service} (${endpoint.instanceId})`;
        const detail = (cause as Error)?.message ?? String(cause);
        const tries = `after ${state.attempts} ${state.attempts === 1 ? 'try' : 'tries'}`;
        if (failure === 'connect-failure') throw new ProxyError('connect-failure', `cannot connect to ${where} ${tries}: ${detail}`);
        if (failure === 'per-try-timeout') throw new ProxyError('timeout', `${where} did not answer within ${Math.round(budget)} ms ${tries}`);
        throw new ProxyError('upstream-reset', `${where} reset the request ${tries}: ${detail}`);
      }
    } finally {
      if (retrying) set.activeRetries--;
    }
  }

  /**
   * A copy of the request to the mirror destination: never awaited, its response discarded, its span tagged
   * shadow. It is a real request to that destination (as in Envoy): it passes the destination's circuit
   * breaker (when that sheds, the copy is dropped, never queued), and outlier detection sees its answer.
   */
  private mirror(
    destination: CompiledDestination,
    method: string,
    path: string,
    headers: string[],
    body: Readable | null,
    traceId: string,
    parentSpanId: string,
    flags: string,
    authority: string,
  ): void {
    const set = destination.set;
    const admission = set.admit();
    const endpoint = admission.ok ? set.pick(null, null) : undefined;
    const spanId = newSpanId();
    const startMs = Date.now();
    const t0 = performance.now();
    const record = (status: number, error: string | null, detail?: string): void =>
      this.otherClientSpan(
        isSampled(flags),
        traceId,
        parentSpanId,
        destination.service,
        method,
        path,
        status,
        startMs,
        t0,
        error,
        {
          shadow: true,
          mtls: destination.tls,
          ...(destination.subset !== undefined ? { subset: destination.subset } : {}),
          ...(endpoint !== undefined ? { endpoint: endpoint.instanceId } : {}),
          ...(detail !== undefined ? { 'error.detail': detail } : {}),
        },
        spanId,
        endpoint === undefined ? 0 : 1,
      );
    if (!admission.ok) {
      record(0, 'overflow', `circuit breaker of ${destination.service}: ${admission.reason}`);
      return;
    }
    if (endpoint === undefined) {
      record(0, 'no-endpoints');
      return;
    }
    // Envoy marks a shadow by suffixing the authority with "-shadow".
    const shadowHeaders = applyRequestOps(headers, {
      set: { host: `${authority || destination.service}-shadow`, traceparent: formatTraceparent(traceId, spanId, flags) },
    });
    const sent: Promise<Upstream> =
      endpoint.h2 !== null
        ? endpoint.h2.request(method, path, `${authority || destination.service}-shadow`, shadowHeaders, body)
        : endpoint.pool.request({ path, method, headers: shadowHeaders, body });
    set.active++;
    endpoint.health.active++;
    const done = (status: number): void => {
      set.active--;
      endpoint.health.active--;
      set.report(endpoint, status);
    };
    sent.then(
      (response) => {
        done(response.statusCode);
        discard(response);
        record(response.statusCode, null);
      },
      (err: unknown) => {
        done(0);
        record(0, classifyTransportError(err));
      },
    );
  }

  private noteRetry(state: ExchangeState, reason: string): void {
    state.retryReasons = state.retryReasons === '' ? reason : `${state.retryReasons},${reason}`;
  }

  private async backoff(retry: number, deadline: number): Promise<void> {
    const wait = Math.min(backoffMs(retry), Math.max(0, deadline - performance.now()));
    if (wait > 0) await sleep(wait);
  }
}

function isGrpc(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}

const GRPC_TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/** A grpc-timeout value ("100m", "5S": at most 8 digits and a unit) in milliseconds; null when malformed. */
export function parseGrpcTimeout(value: string | string[]): number | null {
  const m = /^(\d{1,8})([HMSmun])$/.exec(Array.isArray(value) ? value[0] ?? '' : value);
  if (m === null) return null;
  const ms = Number(m[1]) * GRPC_TIMEOUT_UNITS[m[2]!]!;
  return ms > 0 ? Math.max(1, ms) : null;
}

/** The header list with grpc-timeout replaced by `ms`, in milliseconds (rounded up, so never 0). */
function withGrpcTimeout(headers: string[], ms: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== 'grpc-timeout') out.push(headers[i]!, headers[i + 1]!);
  out.push('grpc-timeout', `${Math.min(99_999_999, Math.max(1, Math.ceil(ms)))}m`);
  return out;
}

function toList(v: OutgoingHttpHeaders[string]): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}
