// The client span of something that is not a proxied request's exchange: a raw TCP connection or a
// WebSocket (the span lasts the connection's life), or a mirrored copy. Started when made, recorded by
// end(); nothing is recorded when the trace is not sampled.
import type { SpanRecord } from '../protocol/index.js';
import type { ProxyContext } from '../proxy-context.js';
import { spanStartMs } from '../tracing/span-clock.js';
import { isSampled, newSpanId, newTraceId, traceFlags } from '../tracing/trace-context.js';

export interface ClientSpanStart {
  traceId: string;
  parentSpanId: string | null;
  /** traceparent flags; null: a new trace (raw TCP has no trace context), sampled at tracing.sampling. */
  flags: string | null;
  peerService: string;
  method: string;
  path: string;
  attributes: SpanRecord['attributes'];
}

export class ClientSpan {
  readonly t0 = performance.now();
  readonly startMs = spanStartMs(this.t0);
  readonly spanId = newSpanId();
  readonly traceId: string;
  /** traceparent flags: the sampling decision, passed on where the connection can carry it. */
  readonly flags: string;
  readonly sampled: boolean;
  /** Added to until end(). */
  readonly attributes: SpanRecord['attributes'];
  peerService: string;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly start: ClientSpanStart,
  ) {
    this.traceId = start.traceId === '' ? newTraceId() : start.traceId;
    this.flags = start.flags ?? traceFlags(null, ctx.samplingPercent);
    this.sampled = isSampled(this.flags);
    this.attributes = start.attributes;
    this.peerService = start.peerService;
  }

  /** A fresh trace for a connection without trace context (raw TCP). */
  static newTrace(ctx: ProxyContext, peerService: string, attributes: SpanRecord['attributes']): ClientSpan {
    return new ClientSpan(ctx, { traceId: '', parentSpanId: null, flags: null, peerService, method: 'TCP', path: '', attributes });
  }

  end(status: number, error: string | null, attempts = 1): void {
    if (!this.sampled) return;
    const workload = this.ctx.workload;
    this.ctx.spans.record({
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.start.parentSpanId,
      kind: 'client',
      service: workload.service,
      instanceId: workload.instanceId,
      peerService: this.peerService,
      method: this.start.method,
      path: this.start.path,
      status,
      startMs: this.startMs,
      durationMs: performance.now() - this.t0,
      attempts,
      error,
      attributes: this.attributes,
    });
  }
}
