// One outbound listener: plain HTTP from the app (or a browser, for an ingress gateway) on 127.0.0.1.
// The per-request stack, outermost first, each layer there for one reason:
//   client span      — wraps everything, so a proxy-made 404/503/504 is traced like any response;
//   rescue           — errors become responses in one place (../errors.ts);
//   route            — first matching rule; none is a 404 the app can tell from an upstream 404;
//   destination pick — weighted, once per request, so retries stay within the chosen subset;
//   body buffer      — a retry must be able to send the body again;
//   retry / timeout  — each try on the next endpoint, bounded by the route timeout;
//   upstream pool    — keep-alive (m)TLS connections to the destination sidecars.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { ROUTE_HEADER, type SpanRecord } from '../protocol.js';
import { ProxyError, rescue } from '../errors.js';
import { downstreamResponseHeaders, hasRequestBody, originFormTarget, pathOnly, relayBody, upstreamRequestHeaders } from '../http-headers.js';
import { readRequestBody, type RequestBody } from '../request-body.js';
import { listenLoopback } from '../listen.js';
import type { ProxyContext } from '../proxy-context.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../tracing/trace-context.js';
import { pickDestination, type CompiledDestination, type CompiledRoute } from './balancer.js';
import { backoffMs, classifyTransportError, type TransportFailure } from './retry.js';
import type { RouteTable } from './router.js';

/** Headers the proxy sets itself; a value from the app would be stale (traceparent) or forged (peer). */
const OWNED_HEADERS: ReadonlySet<string> = new Set(['traceparent', 'x-devmesh-peer']);

/** What the client span reports; filled in as the request moves down the stack. */
interface ExchangeState {
  route: CompiledRoute | null;
  destination: CompiledDestination | null;
  endpoint: string | null;
  attempts: number;
  retryReasons: string;
  error: string | null;
}

export class OutboundServer {
  readonly server: http.Server;
  port = 0;
  /** null while the config has no listener for this service (it stays bound): every request is a 404. */
  table: RouteTable | null = null;

  constructor(
    readonly service: string,
    private readonly ctx: ProxyContext,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    // Longer than any client's idle timeout, so the client (which knows) closes idle connections first.
    this.server.keepAliveTimeout = 65_000;
  }

  async listen(port: number): Promise<number> {
    this.port = await listenLoopback(this.server, port);
    return this.port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
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
    const flags = parent?.flags ?? '01';
    const state: ExchangeState = { route: null, destination: null, endpoint: null, attempts: 0, retryReasons: '', error: null };

    res.once('close', () => {
      const workload = this.ctx.workload;
      const attributes: SpanRecord['attributes'] = { listener: this.service };
      if (state.route !== null) attributes.route = state.route.label;
      if (state.destination !== null) {
        attributes.mtls = state.destination.tls;
        if (state.destination.subset !== undefined) attributes.subset = state.destination.subset;
      }
      if (state.endpoint !== null) attributes.endpoint = state.endpoint;
      if (state.retryReasons !== '') attributes['retry.reasons'] = state.retryReasons;
      this.ctx.spans.record({
        traceId,
        spanId,
        parentSpanId: parent?.spanId ?? null,
        kind: 'client',
        service: workload.service,
        instanceId: workload.instanceId,
        peerService: state.destination?.service ?? this.service,
        method,
        path: target,
        status: res.statusCode,
        startMs,
        durationMs: performance.now() - t0,
        attempts: state.attempts,
        error: state.error ?? (res.writableFinished ? null : 'downstream-closed'),
        attributes,
      });
    });

    this.forward(req, res, method, target, formatTraceparent(traceId, spanId, flags), state).catch((err: unknown) => {
      state.error = rescue(res, err, state.route?.label ?? null);
    });
  }

  private async forward(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    target: string,
    traceparent: string,
    state: ExchangeState,
  ): Promise<void> {
    const path = pathOnly(target);
    const route = this.table?.match(method, path, req.headers) ?? null;
    if (route === null) throw new ProxyError('no-route', `no route of ${this.service} matches ${method} ${path}`);
    state.route = route;
    const destination = pickDestination(route.destinations, route.totalWeight);
    state.destination = destination;
    if (destination.ring.endpoints.length === 0) {
      const subset = destination.subset !== undefined ? ` subset ${destination.subset}` : '';
      throw new ProxyError('no-endpoints', `${destination.service}${subset} has no endpoints`);
    }

    const body = hasRequestBody(req.headers) ? await readRequestBody(req) : null;
    const headers = upstreamRequestHeaders(req.headers, OWNED_HEADERS);
    headers.push('traceparent', traceparent);

    const response = await this.send(route, destination, method, target, headers, body, state);
    const out = downstreamResponseHeaders(response.headers);
    out[ROUTE_HEADER] = route.label;
    res.writeHead(response.statusCode, out);
    relayBody(response.body, res, () => {
      if (state.error === null) state.error = 'upstream-reset';
    });
  }

  /** Tries, retries and timeouts; resolves with the response to relay (which may be a final 5xx). */
  private async send(
    route: CompiledRoute,
    destination: CompiledDestination,
    method: string,
    path: string,
    headers: string[],
    body: RequestBody | null,
    state: ExchangeState,
  ): Promise<Dispatcher.ResponseData> {
    const retry = route.retry;
    // A streamed body was consumed by the first try; sending it again is impossible.
    const retries = body === null || Buffer.isBuffer(body) ? retry.retries : 0;
    const deadline = route.timeoutMs ? performance.now() + route.timeoutMs : Infinity;

    for (let n = 0; ; n++) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new ProxyError('timeout', `no response within the route timeout of ${route.timeoutMs} ms`);
      const endpoint = destination.ring.pick()!;
      state.attempts++;
      state.endpoint = endpoint.instanceId;

      const budget = Math.min(remaining, retry.perTryTimeoutMs ?? Infinity);
      // Timers only when a timeout is configured: the common no-timeout path allocates nothing for it.
      let controller: AbortController | undefined;
      let timer: NodeJS.Timeout | undefined;
      if (budget !== Infinity) {
        const c = (controller = new AbortController());
        timer = setTimeout(() => c.abort(), budget);
      }

      let failure: TransportFailure;
      let cause: unknown;
      try {
        const response = await endpoint.pool.request({ path, method, headers, body, signal: controller?.signal });
        clearTimeout(timer);
        if (n < retries && retry.retryStatus(response.statusCode, response.headers['grpc-status'])) {
          response.body.dump().catch(() => {});
          this.noteRetry(state, String(response.statusCode));
          await this.backoff(n + 1, deadline);
          continue;
        }
        return response;
      } catch (err) {
        clearTimeout(timer);
        cause = err;
        failure = controller?.signal.aborted ? 'per-try-timeout' : classifyTransportError(err);
      }

      if (failure === 'per-try-timeout' && performance.now() >= deadline - 1) {
        throw new ProxyError('timeout', `no response within the route timeout of ${route.timeoutMs} ms`);
      }
      if (n < retries && retry.retryTransport(failure)) {
        this.noteRetry(state, failure);
        await this.backoff(n + 1, deadline);
        continue;
      }
      const where = `${destination.service} (${endpoint.instanceId})`;
      const detail = (cause as Error)?.message ?? String(cause);
      const tries = `after ${state.attempts} ${state.attempts === 1 ? 'try' : 'tries'}`;
      if (failure === 'connect-failure') throw new ProxyError('connect-failure', `cannot connect to ${where} ${tries}: ${detail}`);
      if (failure === 'per-try-timeout') throw new ProxyError('timeout', `${where} did not answer within ${retry.perTryTimeoutMs} ms ${tries}`);
      throw new ProxyError('upstream-reset', `${where} reset the request ${tries}: ${detail}`);
    }
  }

  private noteRetry(state: ExchangeState, reason: string): void {
    state.retryReasons = state.retryReasons === '' ? reason : `${state.retryReasons},${reason}`;
  }

  private async backoff(retry: number, deadline: number): Promise<void> {
    const wait = Math.min(backoffMs(retry), Math.max(0, deadline - performance.now()));
    if (wait > 0) await sleep(wait);
  }
}
