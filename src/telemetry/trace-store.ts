// Spans in SQLite (better-sqlite3, WAL): sidecars report them in batches, the API and CLI query them.
// WAL lets the UI read while spans are written, and a crash loses at most the batch in flight.
import Database from 'better-sqlite3';
import type { Span, TraceQuery, TraceSummary } from '../contract/api.js';
import type { SpanRecord } from '../../proxy/protocol.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS spans (
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  parent_span_id TEXT,
  kind TEXT NOT NULL,
  service TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  peer_service TEXT,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL,
  start_ms REAL NOT NULL,
  duration_ms REAL NOT NULL,
  attempts INTEGER NOT NULL,
  error TEXT,
  attributes TEXT NOT NULL,
  PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ms);
CREATE INDEX IF NOT EXISTS spans_service_start ON spans (service, start_ms);
`;

interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  kind: 'server' | 'client';
  service: string;
  instance_id: string;
  peer_service: string | null;
  method: string;
  path: string;
  status: number;
  start_ms: number;
  duration_ms: number;
  attempts: number;
  error: string | null;
  attributes: string;
}

function rowToSpan(r: SpanRow): Span {
  return {
    traceId: r.trace_id,
    spanId: r.span_id,
    parentSpanId: r.parent_span_id,
    kind: r.kind,
    service: r.service,
    instanceId: r.instance_id,
    peerService: r.peer_service,
    method: r.method,
    path: r.path,
    status: r.status,
    startMs: r.start_ms,
    durationMs: r.duration_ms,
    attempts: r.attempts,
    error: r.error,
    attributes: JSON.parse(r.attributes) as Span['attributes'],
  };
}

export class TraceStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly insertMany: (spans: readonly SpanRecord[]) => void;

  constructor(file: string, private readonly maxSpans = 200_000) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare(`INSERT OR REPLACE INTO spans VALUES
      (@traceId, @spanId, @parentSpanId, @kind, @service, @instanceId, @peerService, @method, @path, @status, @startMs, @durationMs, @attempts, @error, @attributes)`);
    this.insertMany = this.db.transaction((spans: readonly SpanRecord[]) => {
      for (const s of spans) this.insert.run({ ...s, attributes: JSON.stringify(s.attributes) });
    });
  }

  add(spans: readonly SpanRecord[]): void {
    if (spans.length > 0) this.insertMany(spans);
  }

  /** Drops the oldest spans beyond the bound; called on a timer, not per batch. */
  prune(): void {
    const count = (this.db.prepare('SELECT count(*) AS n FROM spans').get() as { n: number }).n;
    if (count <= this.maxSpans) return;
    this.db.prepare('DELETE FROM spans WHERE rowid IN (SELECT rowid FROM spans ORDER BY start_ms LIMIT ?)').run(count - this.maxSpans);
  }

  /**
   * Recent traces, newest first. A trace's root is its earliest span without a parent in the trace
   * (or its earliest span while the root has not arrived yet).
   */
  listTraces(q: TraceQuery = {}): TraceSummary[] {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 1000);
    const where: string[] = [];
    const params: Record<string, string | number> = { limit };
    if (q.service) {
      where.push('trace_id IN (SELECT trace_id FROM spans WHERE service = @service OR peer_service = @service)');
      params.service = q.service;
    }
    const having = q.sinceMs !== undefined ? 'HAVING min(start_ms) > @since' : '';
    if (q.sinceMs !== undefined) params.since = q.sinceMs;
    const ids = this.db
      .prepare(`SELECT trace_id FROM spans ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
                GROUP BY trace_id ${having} ORDER BY min(start_ms) DESC LIMIT @limit`)
      .all(params) as { trace_id: string }[];
    const spansOf = this.db.prepare('SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ms');
    return ids.map(({ trace_id }) => summarize(trace_id, (spansOf.all(trace_id) as SpanRow[]).map(rowToSpan)));
  }

  getTrace(traceId: string): Span[] {
    return (this.db.prepare('SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ms').all(traceId) as SpanRow[]).map(rowToSpan);
  }

  close(): void {
    this.db.close();
  }
}

function summarize(traceId: string, spans: Span[]): TraceSummary {
  const ids = new Set(spans.map((s) => s.spanId));
  const root = spans.find((s) => s.parentSpanId === null || !ids.has(s.parentSpanId)) ?? spans[0]!;
  const start = Math.min(...spans.map((s) => s.startMs));
  const end = Math.max(...spans.map((s) => s.startMs + s.durationMs));
  return {
    traceId,
    rootService: root.kind === 'client' && root.peerService ? root.peerService : root.service,
    method: root.method,
    path: root.path,
    status: root.status,
    startMs: start,
    durationMs: end - start,
    spanCount: spans.length,
    services: [...new Set(spans.map((s) => s.service))],
    errorCount: spans.filter((s) => s.status >= 500 || s.error !== null).length,
  };
}
