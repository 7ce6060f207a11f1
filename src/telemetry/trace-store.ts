// Spans in SQLite (better-sqlite3, WAL): sidecars report them in batches, apps send theirs over OTLP,
// the API and CLI query them. WAL lets the UI read while spans are written, and a crash loses at most
// the batch in flight: each batch is one transaction, so the file is never left half-written.
//
// Beside the spans, one summary row per trace (`traces`) is kept up to date on every batch, so the
// list query the UI polls every second is an index walk over traces, not a GROUP BY over every span:
// that is what keeps a filtered list under 50 ms with a million spans stored (test/bench/trace-store.bench.ts).
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import type { Span, TraceQuery, TraceRetention, TraceSummary } from '../contract/api.js';

/** Bumped when the tables change shape: traces are a cache of recent activity, so an old file is emptied, not migrated. */
const SCHEMA_VERSION = 2;

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
  route TEXT,
  attributes TEXT NOT NULL,
  PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ms);
CREATE INDEX IF NOT EXISTS spans_service_start ON spans (service, start_ms);
CREATE TABLE IF NOT EXISTS traces (
  trace_id TEXT PRIMARY KEY,
  start_ms REAL NOT NULL,
  duration_ms REAL NOT NULL,
  root_service TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL,
  span_count INTEGER NOT NULL,
  error_count INTEGER NOT NULL,
  -- '|a|b|' so a service or route filter is a LIKE on the row, with no join
  services TEXT NOT NULL,
  routes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_start ON traces (start_ms);
`;

interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  kind: Span['kind'];
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
  route: string | null;
  attributes: string;
}

interface TraceRow {
  trace_id: string;
  start_ms: number;
  duration_ms: number;
  root_service: string;
  method: string;
  path: string;
  status: number;
  span_count: number;
  error_count: number;
  services: string;
  routes: string;
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

function rowToSummary(r: TraceRow): TraceSummary {
  return {
    traceId: r.trace_id,
    rootService: r.root_service,
    method: r.method,
    path: r.path,
    status: r.status,
    startMs: r.start_ms,
    durationMs: r.duration_ms,
    spanCount: r.span_count,
    services: r.services.split('|').filter(Boolean),
    errorCount: r.error_count,
  };
}

export const DEFAULT_RETENTION: TraceRetention = { maxSpans: 200_000, maxAgeMs: 24 * 3600_000 };

/** A failed span: a 5xx, no response at all, or an error the sidecar recorded. */
export function isErrorSpan(s: Pick<Span, 'status' | 'error'>): boolean {
  return s.status >= 500 || s.error !== null;
}

function like(value: string): string {
  return `%|${value.replace(/[\\%_]/g, (c) => `\\${c}`)}|%`;
}

export interface TraceStoreEvents {
  spans: [spans: readonly Span[]];
}

export class TraceStore extends EventEmitter<TraceStoreEvents> {
  private readonly db: Database.Database;
  private readonly insertMany: (spans: readonly Span[]) => void;
  private readonly spansOf: Database.Statement<[string], SpanRow>;
  private readonly retention: TraceRetention;

  constructor(file: string, retention: Partial<TraceRetention> = {}) {
    super();
    this.retention = { ...DEFAULT_RETENTION, ...retention };
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    if ((this.db.pragma('user_version', { simple: true }) as number) !== SCHEMA_VERSION) {
      this.db.exec('DROP TABLE IF EXISTS spans; DROP TABLE IF EXISTS traces;');
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    this.db.exec(SCHEMA);
    const insert = this.db.prepare(`INSERT OR REPLACE INTO spans VALUES
      (@traceId, @spanId, @parentSpanId, @kind, @service, @instanceId, @peerService, @method, @path, @status, @startMs, @durationMs, @attempts, @error, @route, @attributes)`);
    this.spansOf = this.db.prepare<[string], SpanRow>('SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ms');
    const upsertTrace = this.db.prepare(`INSERT OR REPLACE INTO traces VALUES
      (@traceId, @startMs, @durationMs, @rootService, @method, @path, @status, @spanCount, @errorCount, @services, @routes)`);
    this.insertMany = this.db.transaction((spans: readonly Span[]) => {
      const touched = new Set<string>();
      for (const s of spans) {
        const route = typeof s.attributes.route === 'string' ? s.attributes.route : null;
        insert.run({ ...s, route, attributes: JSON.stringify(s.attributes) });
        touched.add(s.traceId);
      }
      for (const traceId of touched) {
        const all = this.spansOf.all(traceId).map(rowToSpan);
        const sum = summarize(traceId, all);
        const routes = [...new Set(all.map((s) => s.attributes.route).filter((r): r is string => typeof r === 'string'))];
        upsertTrace.run({ ...sum, services: `|${sum.services.join('|')}|`, routes: `|${routes.join('|')}|` });
      }
    });
  }

  get limits(): TraceRetention {
    return { ...this.retention };
  }

  add(spans: readonly Span[]): void {
    if (spans.length === 0) return;
    this.insertMany(spans);
    this.emit('spans', spans);
  }

  /**
   * Drops whole traces that are older than the age bound, then the oldest traces until at most
   * maxSpans spans are left. Called on a timer, not per batch.
   */
  prune(nowMs = Date.now()): number {
    const before = this.spanCount();
    const dropOlderThan = this.db.transaction((cutoff: number) => {
      this.db.prepare('DELETE FROM spans WHERE trace_id IN (SELECT trace_id FROM traces WHERE start_ms < ?)').run(cutoff);
      this.db.prepare('DELETE FROM traces WHERE start_ms < ?').run(cutoff);
    });
    dropOlderThan(nowMs - this.retention.maxAgeMs);
    const count = this.spanCount();
    if (count > this.retention.maxSpans) {
      // The start time of the span that is maxSpans-th newest: every trace that started before it goes.
      const row = this.db
        .prepare('SELECT start_ms FROM spans ORDER BY start_ms DESC LIMIT 1 OFFSET ?')
        .get(this.retention.maxSpans) as { start_ms: number } | undefined;
      if (row) dropOlderThan(row.start_ms + 1e-6);
    }
    return before - this.spanCount();
  }

  spanCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM spans').get() as { n: number }).n;
  }

  /** Recent traces matching every given filter, newest first. */
  listTraces(q: TraceQuery = {}): TraceSummary[] {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 1000);
    const where: string[] = [];
    const params: Record<string, string | number> = { limit };
    if (q.service) {
      where.push(`services LIKE @service ESCAPE '\\'`);
      params.service = like(q.service);
    }
    if (q.route) {
      where.push(`routes LIKE @route ESCAPE '\\'`);
      params.route = like(q.route);
    }
    if (q.status === 'error') where.push('error_count > 0');
    else if (q.status === 'ok') where.push('error_count = 0');
    else if (typeof q.status === 'number') {
      where.push('status = @status');
      params.status = q.status;
    }
    if (q.minDurationMs !== undefined) {
      where.push('duration_ms >= @minDuration');
      params.minDuration = q.minDurationMs;
    }
    if (q.fromMs !== undefined) {
      where.push('start_ms >= @from');
      params.from = q.fromMs;
    }
    if (q.toMs !== undefined) {
      where.push('start_ms <= @to');
      params.to = q.toMs;
    }
    if (q.sinceMs !== undefined) {
      where.push('start_ms > @since');
      params.since = q.sinceMs;
    }
    if (q.attribute) {
      const eq = q.attribute.indexOf('=');
      const key = (eq < 0 ? q.attribute : q.attribute.slice(0, eq)).trim();
      params.attrPath = `$."${key.replace(/"/g, '')}"`;
      if (eq < 0) {
        where.push('EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = traces.trace_id AND json_type(s.attributes, @attrPath) IS NOT NULL)');
      } else {
        // Attribute values are strings, numbers or booleans; compare as text so `mtls=true` and `status=503` work.
        where.push(`EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = traces.trace_id AND
          CASE json_type(s.attributes, @attrPath) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
          ELSE CAST(json_extract(s.attributes, @attrPath) AS TEXT) END = @attrValue)`);
        params.attrValue = q.attribute.slice(eq + 1).trim();
      }
    }
    const rows = this.db
      .prepare(`SELECT * FROM traces INDEXED BY traces_start ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY start_ms DESC LIMIT @limit`)
      .all(params) as TraceRow[];
    return rows.map(rowToSummary);
  }

  getTrace(traceId: string): Span[] {
    return this.spansOf.all(traceId).map(rowToSpan);
  }

  /** Spans of one kind started in [fromMs, toMs), oldest first: the raw material of golden metrics and topology. */
  spansBetween(fromMs: number, toMs: number, filter: { service?: string; kind?: Span['kind'] } = {}): Span[] {
    const where = ['start_ms >= @from', 'start_ms < @to'];
    if (filter.service) where.push('service = @service');
    if (filter.kind) where.push('kind = @kind');
    return (
      this.db
        .prepare(`SELECT * FROM spans WHERE ${where.join(' AND ')} ORDER BY start_ms`)
        .all({ from: fromMs, to: toMs, service: filter.service ?? null, kind: filter.kind ?? null }) as SpanRow[]
    ).map(rowToSpan);
  }

  /** Server spans of one instance overlapping [fromMs, toMs]: which requests it was serving then (log ↔ trace linking). */
  serverSpansOf(instanceId: string, fromMs: number, toMs: number): Pick<Span, 'traceId' | 'startMs' | 'durationMs'>[] {
    return (
      this.db
        .prepare(`SELECT trace_id, start_ms, duration_ms FROM spans INDEXED BY spans_start
                  WHERE start_ms >= @from AND start_ms <= @to AND instance_id = @instance AND kind = 'server'`)
        .all({ from: fromMs - 60_000, to: toMs, instance: instanceId }) as { trace_id: string; start_ms: number; duration_ms: number }[]
    )
      .filter((r) => r.start_ms + r.duration_ms >= fromMs)
      .map((r) => ({ traceId: r.trace_id, startMs: r.start_ms, durationMs: r.duration_ms }));
  }

  close(): void {
    this.removeAllListeners();
    this.db.close();
  }
}

/**
 * A trace's root is its earliest span without a parent in the trace (or its earliest span while the
 * root has not arrived yet). A client root (the ingress gateway's) is named after where it went.
 */
export function summarize(traceId: string, spans: Span[]): TraceSummary {
  const ids = new Set(spans.map((s) => s.spanId));
  const root = spans.find((s) => s.parentSpanId === null || !ids.has(s.parentSpanId)) ?? spans[0]!;
  const start = Math.min(...spans.map((s) => s.startMs));
  const end = Math.max(...spans.map((s) => s.startMs + s.durationMs));
  const services = new Set<string>();
  for (const s of spans) {
    services.add(s.service);
    if (s.kind === 'client' && s.peerService) services.add(s.peerService);
  }
  return {
    traceId,
    rootService: root.kind === 'client' && root.peerService ? root.peerService : root.service,
    method: root.method,
    path: root.path,
    status: root.status,
    startMs: start,
    durationMs: end - start,
    spanCount: spans.length,
    services: [...services],
    errorCount: spans.filter(isErrorSpan).length,
  };
}
