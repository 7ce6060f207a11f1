// One request through the outbound stack: what every layer reads and fills in (the route, the destination,
// each try, the fault, the deadline), in one object made once per request, so the layers take one argument
// and the span and the metrics are recorded once, when the response closes. Its methods serve as the
// callbacks the stack would otherwise allocate per request (response relay, hash input, close).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProxyError, RESPONSE_FLAGS, rescue, type ProxyErrorCode } from '../errors.js';
import { originFormTarget, type ResponseObserver } from '../http-headers.js';
import type { ProxyContext } from '../proxy-context.js';
import type { SpanRecord } from '../protocol/index.js';
import { sentResponseHeaders } from '../protocol/span-headers.js';
import { answerBodyLength, requestSize, responseHeadSize } from '../metrics.js';
import type { RouteRequest } from '../protocol/route-match.js';
import type { TeeBody, RequestBody } from '../request-body.js';
import { spanStartMs } from '../tracing/span-clock.js';
import { grpcSpanOutcome, grpcStatusCode } from '../tracing/grpc-status.js';
import { extractTraceContext, isSampled, newRequestId, newSpanId, newTraceId, requestIdOf, traceFlags } from '../tracing/trace-context.js';
import type { CompiledDestination, CompiledRoute } from './balancer.js';
import type { EndpointSet, HashInput, UpstreamEndpoint } from './endpoint-set.js';
import { cookieValue } from './header-ops.js';
import type { H1Response } from '../http1/index.js';
import type { H2Response } from '../h2-client.js';

export type Upstream = H1Response | H2Response;

/** Where the response's 'close' finds its exchange: a property, so no closure is made per request. */
const EXCHANGE = Symbol('devmesh.exchange');
type Carrier = ServerResponse & { [EXCHANGE]?: Exchange };

function onResponseClose(this: Carrier): void {
  this[EXCHANGE]?.finish();
}

function note(list: string, item: string): string {
  return list === '' ? item : `${list}; ${item}`;
}

export function isGrpc(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}

export class Exchange implements HashInput, ResponseObserver {
  readonly t0 = performance.now();
  readonly startMs = spanStartMs(this.t0);
  readonly method: string;
  /** The request target as the app sent it (origin form). */
  readonly target: string;
  readonly traceId: string;
  readonly spanId = newSpanId();
  readonly parentSpanId: string | null;
  /** traceparent flags: the sampling decision that travels on. */
  readonly flags: string;
  /** x-request-id: as the app sent it, or made here when it sent none (then added to the upstream request). */
  readonly requestId: string;
  readonly requestIdGenerated: boolean;
  /** The app used the single b3 header: the upstream gets one too. */
  readonly b3Single: boolean;
  /** The trace was joined through x-request-id (the app forwarded no trace headers). */
  readonly joined: boolean;
  /** The trace is sampled: the request gets a span. */
  readonly sampled: boolean;
  readonly grpc: boolean;
  rr!: RouteRequest;

  // Filled in down the stack, reported by the span and metrics.
  route: CompiledRoute | null = null;
  block = -1;
  destination: CompiledDestination | null = null;
  endpoint: UpstreamEndpoint | null = null;
  attempts = 0;
  /** One entry per try: "<instance> <status or failure>". */
  tries = '';
  retryReasons = '';
  error: ProxyErrorCode | null = null;
  detail: string | null = null;
  fault: string | null = null;
  mirrored = false;
  upstreamPath: string | null = null;
  events = '';
  grpcStatus = '';
  /** performance.now() when the whole response was in, its last bytes about to go; -1 until then ('close' times it). */
  endedAt = -1;
  setCookie: string | undefined = undefined;

  // The request as the layers shape it.
  retries = 0;
  /** What bounds all tries: the route timeout, or a shorter deadline from the caller; undefined: none. */
  timeoutMs: number | undefined = undefined;
  /** The body stream; a copy is kept (tee) only when a retry or a mirror may send it again. */
  body: RequestBody | null = null;
  tee: TeeBody | null = null;
  /** Upstream request headers, flat [name, value, ...]. */
  headers: string[] = [];
  /** Upstream path (after a rewrite). */
  path = '';
  response: Upstream | null = null;

  /** The client went away before its response was complete: no more tries, nothing to answer. */
  downstreamGone = false;
  /** Aborts the try in flight; set while a try that could otherwise wait for ever (a streamed body, a timeout) runs. */
  tryAbort: AbortController | null = null;

  constructor(
    private readonly ctx: ProxyContext,
    /** The listener's service (its outbound port's name). */
    readonly listener: string,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    this.method = req.method ?? 'GET';
    this.target = originFormTarget(req.url);
    const headers = req.headers;
    const given = requestIdOf(headers);
    this.requestIdGenerated = given === undefined;
    this.requestId = given ?? newRequestId();
    let parent = extractTraceContext(headers);
    // No trace headers, but the x-request-id of a request this workload's inbound is serving: its child.
    this.joined = parent === null && given !== undefined && (parent = ctx.joins.parentOf(given)) !== null;
    this.b3Single = headers.b3 !== undefined;
    this.traceId = parent?.traceId ?? newTraceId();
    this.parentSpanId = parent?.spanId ?? null;
    this.flags = traceFlags(parent, ctx.samplingPercent);
    this.sampled = isSampled(this.flags);
    this.grpc = isGrpc(req.headers['content-type']);
    (res as Carrier)[EXCHANGE] = this;
    res.once('close', onResponseClose);
  }

  /** The source for consistent hashing on useSourceIp: on loopback, the calling instance. */
  get source(): string {
    return this.ctx.workload.instanceId;
  }

  noteTry(endpoint: UpstreamEndpoint, outcome: number | string): void {
    this.tries = note(this.tries, `${endpoint.instanceId} ${outcome}`);
  }

  noteEvent(event: string | null): void {
    if (event !== null) this.events = note(this.events, event);
  }

  noteFault(fault: string): void {
    this.fault = note(this.fault ?? '', fault);
  }

  noteRetry(reason: string): void {
    this.retryReasons = this.retryReasons === '' ? reason : `${this.retryReasons},${reason}`;
  }

  /** The error as the proxy's own response (errors.ts), unless the client is gone. */
  rescue(err: unknown): void {
    if (err instanceof ProxyError && this.detail === null) this.detail = err.message;
    try {
      this.error = rescue(this.res, err, this.route?.label ?? null, this.grpc);
    } catch (failed) {
      // The response could not be written (a header Node refuses, a stream in a state it rejects): cutting
      // this request is the answer left, and the failure must not escape as an unhandled rejection.
      if (this.detail === null) this.detail = (failed as Error)?.message ?? String(failed);
      this.error ??= 'internal';
      this.res.destroy();
    }
  }

  // HashInput: what consistent hashing reads, answered from the request.
  header(name: string): string | undefined {
    const v = this.rr.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  }

  cookie(name: string): string | undefined {
    const v = cookieValue(this.rr.headers.cookie, name);
    const ttlMs = this.destination?.set.hashPolicy?.cookie?.ttlMs;
    if (v !== undefined || ttlMs === undefined) return v;
    // Envoy: with a ttl, a request without the cookie gets one, so the client sticks from now on.
    const fresh = Math.random().toString(36).slice(2);
    const path = this.destination!.set.hashPolicy!.cookie!.path ?? '/';
    this.setCookie = [`${name}=${fresh}`, `Max-Age=${Math.round(ttlMs / 1000)}`, `Path=${path}`, 'HttpOnly'].join('; ');
    return fresh;
  }

  query(name: string): string | undefined {
    return new URLSearchParams(this.rr.query).get(name) ?? undefined;
  }

  /** The hash input for `set`'s balancer: this exchange, when the set hashes at all. */
  hashFor(set: EndpointSet): HashInput | null {
    return set.hashPolicy === null ? null : this;
  }

  // ResponseObserver: the relayed upstream body.
  responseFailed(): void {
    if (this.error === null) this.error = 'upstream-reset';
  }

  responseEnded(): void {
    // The span ends here, just before the rest of the response goes to the app, not at the response's
    // 'close' an event-loop turn or more later (../inbound/inbound-exchange.ts says why).
    this.endedAt = performance.now();
    // gRPC puts its status in the trailers: read it once they are in, for the metrics.
    const status = this.response?.trailers['grpc-status'];
    if (status !== undefined) this.grpcStatus = String(status);
  }

  /** The response closed (sent, or the client left): the span and the metrics, once. */
  finish(): void {
    const res = this.res;
    (res as Carrier)[EXCHANGE] = undefined;
    const durationMs = (this.endedAt >= 0 ? this.endedAt : performance.now()) - this.t0;
    if (!res.writableEnded) {
      // The client left first (or broke its own request): a try still waiting on its body would wait for ever.
      this.downstreamGone = true;
      this.tryAbort?.abort();
      if (this.detail === null) this.detail = 'the client closed the connection before the response was complete';
    }
    const error = this.error ?? (res.writableEnded ? null : 'downstream-closed');
    const destination = this.destination;
    const peerService = destination?.service ?? this.listener;
    const workload = this.ctx.workload;
    const sent = sentResponseHeaders(res);
    // The status the caller got: the upstream's (headers or trailers), or the proxy's own trailers-only answer.
    if (this.grpc && this.grpcStatus === '') {
      const own = res.getHeader('grpc-status');
      if (own !== undefined) this.grpcStatus = String(own);
    }
    if (this.sampled) {
      const attributes = this.attributes();
      const spanError = this.grpc ? grpcSpanOutcome('client', grpcStatusCode(this.grpcStatus), attributes, error) : error;
      this.ctx.spans.record({
        traceId: this.traceId,
        spanId: this.spanId,
        parentSpanId: this.parentSpanId,
        kind: 'client',
        service: workload.service,
        instanceId: workload.instanceId,
        peerService,
        method: this.method,
        path: this.target,
        status: res.statusCode,
        startMs: this.startMs,
        durationMs,
        attempts: this.attempts,
        error: spanError,
        attributes,
        // Raw, as they already are: made into attributes where the batch is decoded (../protocol/span-wire.ts).
        requestHeaders: this.req.rawHeaders,
        responseHeaders: sent,
      });
    }
    const endpoint = this.endpoint;
    const peer = this.ctx.metrics.outboundPeer(
      workload,
      this.ctx.trustDomain,
      // The label set is cached on what the request went to: its endpoint, else its destination, else (no
      // route) by the listener's name.
      endpoint ?? destination,
      peerService,
      endpoint?.version || destination?.subset || '',
      destination === null ? 'unknown' : destination.tls ? 'mutual_tls' : 'none',
      endpoint?.meshPeer ?? true,
    );
    const response = this.response;
    this.ctx.metrics.request(peer, {
      protocol: this.grpc ? 'grpc' : this.req.httpVersionMajor === 2 ? 'http2' : 'http',
      status: res.statusCode,
      grpcStatus: this.grpcStatus,
      flags: this.error !== null ? (RESPONSE_FLAGS[this.error] ?? '-') : error !== null ? 'DC' : '-',
      durationMs,
      requestBytes: requestSize(this.method, this.target, this.req.rawHeaders, this.req.headers['content-length']),
      responseBytes:
        responseHeadSize(sent) + (response === null ? 0 : answerBodyLength(response)),
    });
  }

  private attributes(): SpanRecord['attributes'] {
    const attributes: SpanRecord['attributes'] = { listener: this.listener };
    const route = this.route;
    if (route !== null) {
      attributes.route = route.label;
      attributes['route.index'] = route.index;
      if (this.block >= 0) attributes['route.block'] = this.block;
    }
    const destination = this.destination;
    if (destination !== null) {
      attributes.mtls = destination.tls;
      if (destination.subset !== undefined) attributes.subset = destination.subset;
    }
    if (this.endpoint !== null) attributes.endpoint = this.endpoint.instanceId;
    if (this.tries !== '') attributes.tries = this.tries;
    if (this.retryReasons !== '') attributes['retry.reasons'] = this.retryReasons;
    if (this.fault !== null) attributes.fault = this.fault;
    if (this.mirrored) attributes.mirrored = true;
    if (this.joined) attributes['trace.joined_by'] = 'x-request-id';
    if (this.upstreamPath !== null && this.upstreamPath !== this.target) attributes['upstream.path'] = this.upstreamPath;
    if (this.events !== '') attributes.events = this.events;
    if (this.detail !== null) attributes['error.detail'] = this.detail;
    return attributes;
  }
}
