// The x-request-id join: an app that forwards only x-request-id (the one header Istio's docs insist on, and
// what many HTTP libraries pass along by themselves) would otherwise start a new trace at its outbound call.
// The inbound notes, while it serves a request, which server span that request's x-request-id belongs to;
// the outbound, given a request with no trace context but a known x-request-id, makes its client span a
// child of that server span. The entry lives exactly as long as the inbound request (removed when it
// closes), so the table holds the requests in flight and nothing more; a hard bound covers the pathological
// case of many in-flight requests sharing ids. Per workload (one table per sidecar context), so in a shared
// data plane one workload's inbound never parents another workload's call.
import type { TraceContext } from './trace-context.js';

/** In-flight requests remembered at most; past it the oldest entry goes (its outbound calls then start a trace). */
export const MAX_JOINED = 10_000;

export interface JoinedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: string;
}

export class RequestJoin {
  private readonly open = new Map<string, JoinedSpan>();

  /** The inbound starts serving `requestId` as `span`. A second request with the same id takes over. */
  begin(requestId: string, span: JoinedSpan): void {
    const open = this.open;
    if (open.size >= MAX_JOINED && !open.has(requestId)) {
      const oldest = open.keys().next().value;
      if (oldest !== undefined) open.delete(oldest);
    }
    open.set(requestId, span);
  }

  /** The inbound request closed: forget it, unless a later request with the same id took over the entry. */
  end(requestId: string, span: JoinedSpan): void {
    if (this.open.get(requestId) === span) this.open.delete(requestId);
  }

  /** The context for an outbound call carrying `requestId` and no trace headers: the inbound's server span. */
  parentOf(requestId: string | undefined): TraceContext | null {
    if (requestId === undefined) return null;
    const span = this.open.get(requestId);
    return span === undefined ? null : { traceId: span.traceId, spanId: span.spanId, flags: span.flags };
  }

  get size(): number {
    return this.open.size;
  }
}
