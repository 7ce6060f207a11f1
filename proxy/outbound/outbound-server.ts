// One outbound listener: plain HTTP (or h2c) from the app, or from a browser for an ingress gateway, on
// 127.0.0.1. Each request becomes an Exchange and goes down the stack in forward(), one layer per file;
// a `protocol: tcp` destination's connections and WebSocket upgrades are passed through (./passthrough.ts).
import type http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ROUTE_HEADER } from '../protocol/index.js';
import { ProxyError } from '../errors.js';
import { downstreamResponseHeaders, relayResponse, relayTrailersOnly, requestHasBody, upstreamRequestHeaders } from '../http-headers.js';
import { TeeBody } from '../request-body.js';
import { ConnectionListener, hardenedHttpServer, type Admission } from '../listener/index.js';
import type { ProxyContext } from '../proxy-context.js';
import { routeRequestOf } from '../protocol/route-match.js';
import { pushTraceHeaders, REQUEST_ID_HEADER } from '../tracing/trace-context.js';
import { pickDestination, type CompiledDestination } from './balancer.js';
import { applyRequestOps, applyResponseOps } from './header-ops.js';
import type { RouteTable } from './router.js';
import { Exchange, type Upstream } from './exchange.js';
import { answerByRule, rewrite } from './route-actions.js';
import { injectFault } from './fault.js';
import { requestDeadline } from './deadline.js';
import { ENDPOINT_WAIT_MS } from './availability.js';
import { mirror } from './mirror.js';
import { sendTries } from './attempts.js';
import { OWNED_HEADERS, passTcp, passUpgrade, type TcpTarget } from './passthrough.js';

export type { TcpTarget } from './passthrough.js';
export { parseGrpcTimeout } from './deadline.js';

export class OutboundServer {
  readonly server: http.Server;
  private readonly h2c: http2.Http2Server;
  private readonly listener: ConnectionListener;
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
    this.server = hardenedHttpServer(handler, (req: IncomingMessage, socket: Duplex, head: Buffer) => passUpgrade(ctx, service, this.table, req, socket, head));
    // h2c with prior knowledge (gRPC clients): the same handler through Node's compatibility API.
    this.h2c = http2.createServer({}, handler as unknown as Parameters<typeof http2.createServer>[1]);
    this.listener = new ConnectionListener({ http1: this.server, h2c: this.h2c, admit: (socket) => this.admit(socket) });
  }

  async listen(port: number): Promise<number> {
    this.port = await this.listener.listen(port);
    return this.port;
  }

  close(): Promise<void> {
    return this.listener.close();
  }

  /** A tcp destination's connections are passed through unread; any other is sniffed for h2c or HTTP/1. */
  private admit(socket: net.Socket): Admission {
    const target = this.tcpTarget;
    if (target === null) return 'sniff';
    if (target.set.endpoints.length > 0) passTcp(this.ctx, socket, target);
    else void this.passTcpWhenAvailable(socket);
    return 'taken';
  }

  /** A tcp connection to a destination without endpoints waits for some, as a request does (./availability.ts). */
  private async passTcpWhenAvailable(socket: net.Socket): Promise<void> {
    const key = `${this.tcpTarget!.set.service}\0`;
    await this.ctx.availability.waitUntil(key, () => this.tcpTarget === null || this.tcpTarget.set.endpoints.length > 0, ENDPOINT_WAIT_MS);
    const target = this.tcpTarget;
    if (target === null) return void socket.destroy(); // no longer a tcp listener
    // Still without endpoints after the wait: passTcp closes the connection and records why.
    if (!socket.destroyed) passTcp(this.ctx, socket, target);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // The exchange wraps everything below, so a proxy-made 404/503/504 is traced and counted too: its span
    // and metrics are recorded once, when the response closes.
    void this.forward(new Exchange(this.ctx, this.service, req, res));
  }

  /** The outbound stack, outermost first (Envoy's filter order); a layer's error is answered by rescue. */
  private async forward(ex: Exchange): Promise<void> {
    try {
      // route: the first matching rule; none is a 404 the app can tell from an upstream 404.
      const route = this.route(ex);
      // direct response / redirect: the rule answers itself, and the app never sees the request.
      if (answerByRule(ex, route)) return;
      // fault: delay, then abort; before the destination, so an abort costs the upstream nothing.
      if (route.fault !== undefined) await injectFault(ex, route.fault);
      // destination: weighted, picked once per request, so retries stay within the chosen subset.
      const destination = await this.destination(ex);
      // circuit breaker: connectionPool limits shed at once instead of queueing.
      const admission = destination.set.admit();
      if (!admission.ok) throw new ProxyError('overflow', `circuit breaker of ${destination.service}: ${admission.reason}`);
      // deadline: the route timeout, capped by what the caller has left (x-devmesh-timeout-ms, grpc-timeout).
      ex.timeoutMs = requestDeadline(ex.timeoutMs, ex.req.headers);
      // body: streams through; a copy is kept only when a retry or a mirror may send it again.
      const mirrorTo = route.mirror !== undefined && Math.random() * 100 < route.mirror.percent ? route.mirror.destination : undefined;
      this.body(ex, mirrorTo !== undefined);
      // header operations, rewrite, trace context: what the upstream sees.
      this.upstreamRequest(ex, destination);
      // mirror: a fire-and-forget copy of what the upstream sees, its response discarded.
      if (mirrorTo !== undefined) ex.mirrored = mirror(this.ctx, ex, mirrorTo);
      // attempts: tries, retries and timeouts; outlier detection sees every try.
      const set = destination.set;
      set.active++;
      set.budget?.request();
      try {
        ex.response = await sendTries(ex, set);
      } finally {
        set.active--;
      }
      // response: the rule's and the destination's header operations, then relayed as it streams.
      this.relay(ex, ex.response, destination);
    } catch (err) {
      // rescue: errors become responses in one place (../errors.ts), with x-devmesh-error.
      ex.rescue(err);
    }
  }

  private route(ex: Exchange): NonNullable<Exchange['route']> {
    const workload = this.ctx.workload;
    ex.rr = routeRequestOf(ex.method, ex.target, ex.req.headers, { app: workload.service, version: workload.version });
    const table = this.table;
    const route = table?.match(ex.rr) ?? null;
    if (route === null) throw new ProxyError('no-route', `no route of ${this.service} matches ${ex.method} ${ex.rr.path}`);
    ex.route = route;
    ex.block = table!.lastBlock;
    ex.retries = route.retry.retries;
    ex.timeoutMs = route.timeoutMs;
    return route;
  }

  /**
   * Picks the destination; one without endpoints is waited for (./availability.ts), within the request's
   * deadline, and the request is routed again under the config that brings them.
   */
  private async destination(ex: Exchange): Promise<CompiledDestination> {
    const first = this.pick(ex);
    if (first.set.endpoints.length > 0) return first;
    const started = performance.now();
    const subset = first.subset !== undefined ? ` subset ${first.subset}` : '';
    const key = `${first.service}\0${first.subset ?? ''}`;
    const availability = this.ctx.availability;
    const failingFast = availability.isFailingFast(key);
    const wait = Math.min(ENDPOINT_WAIT_MS, requestDeadline(ex.timeoutMs, ex.req.headers) ?? Infinity);
    // Under each new config the request is routed again: its rule's destinations carry the new endpoint sets.
    if (await availability.waitUntil(key, () => this.pick(this.routeAgain(ex)).set.endpoints.length > 0, wait)) return ex.destination!;
    throw new ProxyError(
      'no-endpoints',
      failingFast
        ? `${first.service}${subset} has no endpoints (failing fast: a wait for them ran out; the next config ends that)`
        : `${first.service}${subset} has no endpoints (none came within ${Math.round(performance.now() - started)} ms)`,
    );
  }

  /** Weighted, picked once per request (so retries stay within the chosen subset). */
  private pick(ex: Exchange): CompiledDestination {
    const route = ex.route!;
    ex.destination = pickDestination(route.destinations, route.totalWeight);
    return ex.destination;
  }

  private routeAgain(ex: Exchange): Exchange {
    if (this.route(ex).destinations.length === 0) throw new ProxyError('no-route', `the rule matching ${ex.method} ${ex.rr.path} changed while the request waited for endpoints`);
    return ex;
  }

  private body(ex: Exchange, mirrored: boolean): void {
    if (!requestHasBody(ex.req)) return;
    ex.tee = ex.retries > 0 || mirrored ? new TeeBody(ex.req) : null;
    ex.body = ex.tee !== null ? ex.tee.first() : ex.req;
  }

  private upstreamRequest(ex: Exchange, destination: CompiledDestination): void {
    const route = ex.route!;
    let headers = upstreamRequestHeaders(ex.req.headers, OWNED_HEADERS, ex.req.rawHeaders);
    headers = applyRequestOps(headers, route.headers?.request);
    ex.headers = applyRequestOps(headers, destination.headers?.request);
    rewrite(ex, route);
    pushTraceHeaders(ex.headers, ex.traceId, ex.spanId, ex.parentSpanId, ex.flags, ex.b3Single);
    if (ex.requestIdGenerated) ex.headers.push(REQUEST_ID_HEADER, ex.requestId);
  }

  private relay(ex: Exchange, response: Upstream, destination: CompiledDestination): void {
    const route = ex.route!;
    const out = downstreamResponseHeaders(response.headers);
    applyResponseOps(out, destination.headers?.response);
    applyResponseOps(out, route.headers?.response);
    out[ROUTE_HEADER] = route.label;
    const grpc = response.headers['grpc-status'];
    if (grpc !== undefined) ex.grpcStatus = String(grpc);
    if (ex.setCookie !== undefined) out['set-cookie'] = [...toList(out['set-cookie']), ex.setCookie];
    // Timed before the answer goes (a trailers-only answer is the whole response); relayResponse times it again otherwise.
    ex.responseEnded();
    if (relayTrailersOnly(ex.res, response, response.statusCode, out)) return;
    ex.res.writeHead(response.statusCode, out);
    relayResponse(response, ex.res, ex);
  }
}

function toList(v: OutgoingHttpHeaders[string]): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}
