// The merged stdout/stderr of every instance, kept in memory for the UI (the full output also goes to
// meshes/<name>/logs/<instance>.log). Bounded by line count: a chatty app cannot grow the control plane.
//
// A line is linked to a trace in one of two ways: the app wrote a trace id itself (a W3C traceparent,
// or `trace_id=<32 hex>` / `"traceId":"…"` as OpenTelemetry log bridges do), or, at query time, the
// instance was serving exactly one request when the line was written (from its sidecar's server spans),
// which is the mesh telling, not guessing: with two requests in flight the line stays unlinked.
import type { LogLine, LogQuery, LogResponse } from '../contract/api.js';

const TRACEPARENT = /\b[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b/;
const TRACE_ID = /\btrace[_-]?id["']?\s*[:=]\s*["']?([0-9a-f]{32})\b/i;
const ZERO_TRACE = '0'.repeat(32);

export function traceIdIn(text: string): string | null {
  const m = TRACEPARENT.exec(text) ?? TRACE_ID.exec(text);
  const id = m?.[1]?.toLowerCase() ?? null;
  return id === ZERO_TRACE ? null : id;
}

/** Which requests an instance was serving in a time range; the trace store answers it. */
export type ActiveRequests = (instanceId: string, fromMs: number, toMs: number) => { traceId: string; startMs: number; durationMs: number }[];

export class LogStore {
  private lines: LogLine[] = [];
  private seq = 0;

  constructor(private readonly maxLines = 20_000) {}

  append(service: string, instanceId: string, stream: 'stdout' | 'stderr', text: string, timeMs = Date.now()): LogLine {
    const traceId = traceIdIn(text);
    const line: LogLine = { seq: ++this.seq, service, instanceId, stream, timeMs, text, traceId, traceSource: traceId ? 'logged' : null };
    this.lines.push(line);
    // Trim in chunks so appends stay O(1) amortised.
    if (this.lines.length > this.maxLines * 1.1) this.lines = this.lines.slice(this.lines.length - this.maxLines);
    return line;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** The newest `limit` matching lines after `afterSeq`, oldest first, with inferred trace links filled in. */
  query(q: LogQuery, active?: ActiveRequests): LogResponse {
    const limit = Math.min(Math.max(q.limit ?? 500, 1), 5000);
    const needle = q.search?.toLowerCase();
    const out: LogLine[] = [];
    for (let i = this.lines.length - 1; i >= 0 && out.length < limit; i--) {
      const l = this.lines[i]!;
      if (q.afterSeq !== undefined && l.seq <= q.afterSeq) break;
      if (q.service && l.service !== q.service) continue;
      if (q.instance && l.instanceId !== q.instance) continue;
      if (needle && !l.text.toLowerCase().includes(needle) && l.traceId !== needle) continue;
      out.push(l);
    }
    out.reverse();
    return { lines: active ? inferTraces(out, active) : out, lastSeq: this.seq };
  }
}

function inferTraces(lines: LogLine[], active: ActiveRequests): LogLine[] {
  const byInstance = new Map<string, LogLine[]>();
  for (const l of lines) if (!l.traceId) byInstance.set(l.instanceId, [...(byInstance.get(l.instanceId) ?? []), l]);
  const inferred = new Map<number, string>();
  for (const [instance, ls] of byInstance) {
    const spans = active(instance, ls[0]!.timeMs, ls[ls.length - 1]!.timeMs);
    if (spans.length === 0) continue;
    for (const l of ls) {
      // Timestamps come from two clocks' worth of buffering (pipe → control plane); allow a little slack.
      const serving = spans.filter((s) => s.startMs - 5 <= l.timeMs && l.timeMs <= s.startMs + s.durationMs + 5);
      const ids = new Set(serving.map((s) => s.traceId));
      if (ids.size === 1) inferred.set(l.seq, [...ids][0]!);
    }
  }
  if (inferred.size === 0) return lines;
  return lines.map((l) => {
    const id = inferred.get(l.seq);
    return id ? { ...l, traceId: id, traceSource: 'inferred' as const } : l;
  });
}
