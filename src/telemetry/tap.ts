// Live requests as they cross the sidecars, like `linkerd viz tap`: every span batch the store takes is
// turned into tap events kept in a small ring, and clients poll with the last sequence number they saw.
import type { Span, TapEvent, TapResponse } from '../contract/api.js';
import { isAppSpan } from './otlp-signals.js';
import { grpcStatusOf } from './trace-store.js';

export class Tap {
  private events: TapEvent[] = [];
  private seq = 0;

  constructor(private readonly capacity = 2000) {}

  push(spans: readonly Span[]): void {
    for (const s of [...spans].sort((a, b) => a.startMs - b.startMs)) {
      if (s.kind === 'internal' || isAppSpan(s)) continue; // requests through the sidecars, not apps' own spans
      const route = s.attributes.route;
      this.events.push({
        seq: ++this.seq,
        timeMs: s.startMs + s.durationMs,
        traceId: s.traceId,
        spanId: s.spanId,
        service: s.service,
        instanceId: s.instanceId,
        direction: s.kind === 'server' ? 'inbound' : 'outbound',
        peer: s.kind === 'client' ? s.peerService : typeof s.attributes['peer.service'] === 'string' ? s.attributes['peer.service'] : peerFromSpiffe(s.attributes['peer.spiffe']),
        method: s.method,
        path: s.path,
        status: s.status,
        grpcStatus: grpcStatusOf(s),
        durationMs: s.durationMs,
        route: typeof route === 'string' ? route : null,
        attempts: s.attempts,
        error: s.error,
      });
    }
    if (this.events.length > this.capacity * 1.2) this.events = this.events.slice(this.events.length - this.capacity);
  }

  /** Events after `afterSeq` that involve `service` (as reporter or peer), oldest first. */
  read(q: { service?: string; afterSeq?: number; limit?: number }): TapResponse {
    const limit = Math.min(Math.max(q.limit ?? 200, 1), 1000);
    const out: TapEvent[] = [];
    for (let i = this.events.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.events[i]!;
      if (q.afterSeq !== undefined && e.seq <= q.afterSeq) break;
      if (q.service && e.service !== q.service && e.peer !== q.service) continue;
      out.push(e);
    }
    return { events: out.reverse(), lastSeq: this.seq };
  }
}

function peerFromSpiffe(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const m = /\/sa\/([^/]+)$/.exec(v);
  return m ? m[1]! : null;
}
