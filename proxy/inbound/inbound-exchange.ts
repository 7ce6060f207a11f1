// One exchange at the inbound: an HTTP request, or a connection (raw TCP, an upgraded WebSocket). It is
// opened when the exchange arrives, the layers fill it in (peer, refusal, authz verdict, error, trailers),
// and it records the server span and Istio's metrics exactly once when the exchange ends, whatever ended
// it. Keeping that in one object is what lets every layer stay a few lines: none records anything itself.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { RESPONSE_FLAGS, type ProxyErrorCode } from '../errors.js';
import type { ResponseObserver } from '../http-headers.js';
import { requestSize, responseHeadSize, type PeerLabels } from '../metrics.js';
import { sentResponseHeaders } from '../protocol/span-headers.js';
import type { ProxyContext } from '../proxy-context.js';
import { peerSpiffeId } from '../tls.js';
import { spanStartMs } from '../tracing/span-clock.js';
import { grpcSpanOutcome, grpcStatusCode } from '../tracing/grpc-status.js';
import { extractTraceContext, isSampled, newRequestId, newSpanId, newTraceId, requestIdOf, traceFlags } from '../tracing/trace-context.js';
import type { AuthzVerdict } from './authz.js';

/** Where the exchange's finish() is kept on the response, so the 'close' listener is one shared function. */
const EXCHANGE = Symbol('devmesh.inboundExchange');
type TaggedResponse = ServerResponse & { [EXCHANGE]?: InboundExchange };

/** What ended an exchange badly (upstream-reset and downstream-closed included). */
export type ExchangeError = ProxyErrorCode;

export class InboundExchange implements ResponseObserver {
  readonly t0 = performance.now();
  readonly startMs = spanStartMs(this.t0);
  readonly traceId: string;
  readonly spanId = newSpanId();
  readonly parentSpanId: string | null;
  readonly flags: string;
  /** x-request-id: as the caller sent it, or made here (Envoy makes one for a request that has none). */
  readonly requestId: string;
  readonly requestIdGenerated: boolean;
  /** The caller used the single b3 header: the app gets one too. */
  readonly b3Single: boolean;
  /** Why the peer was refused before authorization (its trust domain), or null. */
  refused: string | null = null;
  verdict: AuthzVerdict | null = null;
  error: ExchangeError | null = null;
  /** The app's response body length, when it was known (a complete body, or its Content-Length). */
  responseBodyBytes = 0;
  /** performance.now() when the whole response was in, its last bytes about to go; -1 until then (a refusal, a cut response: 'close' times it). */
  private endedAt = -1;
  /** The app's trailers (gRPC status arrives there). */
  trailers: Record<string, string | string[] | undefined> | null = null;

  private constructor(
    readonly ctx: ProxyContext,
    readonly method: string,
    /** Origin-form request target; '' for a raw TCP connection. */
    readonly target: string,
    readonly mtls: boolean,
    /** The verified peer's SPIFFE id; null for plaintext (or a certificate without one). */
    readonly peer: string | null,
    headers: IncomingMessage['headers'],
    private readonly req: IncomingMessage | null,
  ) {
    const parent = extractTraceContext(headers);
    this.traceId = parent?.traceId ?? newTraceId();
    this.parentSpanId = parent?.spanId ?? null;
    this.flags = traceFlags(parent, ctx.samplingPercent);
    this.b3Single = headers.b3 !== undefined;
    const given = requestIdOf(headers);
    this.requestIdGenerated = given === undefined;
    this.requestId = given ?? newRequestId();
    // While this request is served, an outbound call carrying its x-request-id (and no trace headers) joins it.
    ctx.joins.begin(this.requestId, this);
  }

  /** An HTTP request (HTTP/1 or HTTP/2): recorded when its response closes, however it closes. */
  static request(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse, target: string): InboundExchange {
    const socket = req.socket as TLSSocket;
    const mtls = socket.encrypted === true;
    const ex = new InboundExchange(ctx, req.method ?? 'GET', target, mtls, mtls ? peerSpiffeId(socket) : null, req.headers, req);
    (res as TaggedResponse)[EXCHANGE] = ex;
    // 'close' comes once; on() spares the wrapper once() would allocate per request.
    res.on('close', finishOnClose);
    return ex;
  }

  /** A connection's exchange (a tcp service's connection, or an HTTP/1.1 upgrade): the caller ends it with finishConnection. */
  static connection(ctx: ProxyContext, socket: Socket, method: string, target: string, headers: IncomingMessage['headers'] = {}): InboundExchange {
    const mtls = (socket as TLSSocket).encrypted === true;
    return new InboundExchange(ctx, method, target, mtls, mtls ? peerSpiffeId(socket as TLSSocket) : null, headers, null);
  }

  /** The app's body broke part-way: the response was cut, and that is the app's doing, not the caller's. */
  responseFailed(): void {
    if (this.error === null) this.error = 'upstream-reset';
  }

  /**
   * The app's response is in whole and its last bytes are about to be written to the caller: where the span
   * ends. Timed after that write (or at the response's 'close', an event-loop turn or more later), a
   * descheduled sidecar would time it after the caller already had the bytes and ended its own span, and a
   * server span would outlast its client's. Timed before, the child's end can only come before the parent's.
   */
  responseEnded(): void {
    this.endedAt = performance.now();
  }

  get grpc(): boolean {
    return this.req !== null && String(this.req.headers['content-type'] ?? '').startsWith('application/grpc');
  }

  /** Istio's labels for this caller and this workload (cached per caller by the metrics). */
  peerLabels(): PeerLabels {
    const ctx = this.ctx;
    return ctx.metrics.inboundPeer(ctx.workload, ctx.trustDomain, this.peer, this.mtls);
  }

  /** A request's span and metrics, from the response as it closed. */
  private finishRequest(req: IncomingMessage, res: ServerResponse): void {
    this.ctx.joins.end(this.requestId, this);
    const durationMs = (this.endedAt >= 0 ? this.endedAt : performance.now()) - this.t0;
    const spanError = this.error ?? (res.writableEnded ? null : 'downstream-closed');
    const sent = sentResponseHeaders(res);
    // The app's status: trailers-only puts it in the headers, otherwise it comes in the trailers.
    const grpcStatus = res.getHeader('grpc-status') ?? this.trailers?.['grpc-status'];
    if (isSampled(this.flags)) {
      const attributes = this.attributes();
      const error = this.grpc ? grpcSpanOutcome('server', grpcStatusCode(grpcStatus as string | number | string[] | undefined), attributes, spanError) : spanError;
      this.recordSpan(res.statusCode, error, durationMs, attributes, req.rawHeaders, sent);
    }
    this.ctx.metrics.request(this.peerLabels(), {
      protocol: this.grpc ? 'grpc' : req.httpVersionMajor === 2 ? 'http2' : 'http',
      status: res.statusCode,
      grpcStatus: grpcStatus === undefined ? '' : String(grpcStatus),
      flags: spanError !== null ? RESPONSE_FLAGS[spanError] : '-',
      durationMs,
      requestBytes: requestSize(this.method, this.target, req.rawHeaders, req.headers['content-length']),
      responseBytes: responseHeadSize(sent) + this.responseBodyBytes,
    });
  }

  /**
   * A connection's span, for its whole life: duration is how long it stayed open, bytes in (from the caller)
   * and out. An upgrade (status > 0) is also one request in istio_requests_total, as Istio counts it.
   */
  finishConnection(status: number, error: ExchangeError | null, bytesIn: number, bytesOut: number): void {
    this.ctx.joins.end(this.requestId, this);
    const durationMs = performance.now() - this.t0;
    if (error !== null) this.error = error;
    if (isSampled(this.flags)) {
      const attributes = this.attributes();
      attributes.protocol = this.method === 'TCP' ? 'tcp' : 'websocket';
      attributes['bytes.in'] = bytesIn;
      attributes['bytes.out'] = bytesOut;
      this.recordSpan(status, error, durationMs, attributes, undefined, undefined);
    }
    if (this.method !== 'TCP') {
      this.ctx.metrics.request(this.peerLabels(), {
        protocol: 'http',
        status,
        grpcStatus: '',
        flags: error !== null ? RESPONSE_FLAGS[error] : '-',
        durationMs,
        requestBytes: bytesIn,
        responseBytes: bytesOut,
      });
    }
  }

  private attributes(): Record<string, string | number | boolean> {
    const attributes: Record<string, string | number | boolean> = { mtls: this.mtls };
    if (this.peer !== null) attributes['peer.spiffe'] = this.peer;
    if (this.refused !== null) attributes['authn.refused'] = this.refused;
    const verdict = this.verdict;
    if (verdict !== null) {
      attributes['authz.allowed'] = verdict.allowed;
      attributes['authz.by'] = verdict.by;
      if (verdict.notes.length > 0) attributes['authz.notes'] = verdict.notes.join('; ');
    }
    return attributes;
  }

  private recordSpan(
    status: number,
    error: string | null,
    durationMs: number,
    attributes: Record<string, string | number | boolean>,
    requestHeaders: readonly string[] | undefined,
    responseHeaders: string | readonly string[] | undefined,
  ): void {
    const workload = this.ctx.workload;
    this.ctx.spans.record({
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      kind: 'server',
      service: workload.service,
      instanceId: workload.instanceId,
      peerService: null,
      method: this.method,
      path: this.target,
      status,
      startMs: this.startMs,
      durationMs,
      attempts: 1,
      error,
      attributes,
      // Raw, as they already are: made into attributes where the batch is decoded (../protocol/span-wire.ts).
      requestHeaders,
      responseHeaders,
    });
  }

  /** Shared by every request (no closure per request): `this` is the response that closed. */
  static finish(res: ServerResponse): void {
    const ex = (res as TaggedResponse)[EXCHANGE];
    if (ex !== undefined && ex.req !== null) ex.finishRequest(ex.req, res);
  }
}

function finishOnClose(this: ServerResponse): void {
  InboundExchange.finish(this);
}
