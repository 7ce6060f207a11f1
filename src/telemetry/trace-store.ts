// Spans in SQLite (better-sqlite3, WAL): sidecars report them in batches, apps send theirs over OTLP,
// the API and CLI query them. WAL lets the UI read while spans are written.
//
// Beside the spans, one summary row per trace (`traces`) is kept up to date, so the list query the UI polls
// every second is an index walk over traces, not a GROUP BY over every span: that is what keeps a filtered
// list under 50 ms with a million spans stored (test/bench/trace-store.bench.ts).
//
// Storing is most of what the control plane does under load, so the layout is shaped by what a write
// costs (test/bench/span-ingest.bench.ts measures it; docs/traffic.md has the figures):
// - Spans are inserted as they come, into a transaction committed once per COMMIT_MS (or MAX_OPEN
//   spans), and every read commits first, so a reader never misses a span. A commit writes each page it
//   dirtied to the WAL, so fewer, larger commits write far fewer pages. A crash loses at most the open
//   transaction. Inserted at once, not held until the commit: a span held for a second outlives V8's
//   young-generation collections, which copy it each time (a fifth of the control plane's CPU under
//   load, profiled); only the brief of each span (below) waits for the commit.
// - A trace id is random, so a B-tree keyed by it takes its inserts all over the file, and every commit
//   dirtied a page of it per span. Here a trace gets a sequence number (`traces.seq`, the rowid) when
//   first seen; spans are keyed by it, so their rows and indexes grow at the end like a log. The one
//   index in random order is `traces_key`: one small integer per trace, not a text key per span.
// - A trace's summary is recomputed from the spans of it seen lately, kept in memory (`recent`), not
//   read back and JSON-parsed from the file on every batch; it is written once per commit.
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import type { Span, TraceQuery, TraceRetention, TraceSummary } from '../contract/api.js';
import { expandHeaderLines, headerLineNeedle } from '../../proxy/protocol/index.js';

/** A span as the store takes it: a sidecar's comes with its headers as lines (SpanRecord.headers), not yet attributes. */
export type IncomingSpan = Span & { headers?: string };

/** Bumped when the tables change shape; an old file is migrated (versions 2 to 4) or emptied (older). */
const SCHEMA_VERSION = 5;
/** How long a transaction of spans stays open before its commit (reads commit it at once). */
export const COMMIT_MS = 1000;
/** Spans that commit a transaction before COMMIT_MS is up. */
const MAX_OPEN = 20_000;
/** SQLite's page size for a new file (see the constructor). */
const PAGE_SIZE = 32_768;
/** Traces whose spans are kept in memory for their summaries: a few seconds of traffic. */
const MAX_RECENT = 4096;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS traces (
  seq INTEGER PRIMARY KEY,
  -- 52 bits of the trace id (see traceKey); equal keys are told apart by trace_id
  key INTEGER NOT NULL,
  trace_id TEXT NOT NULL,
  start_ms REAL NOT NULL,
  duration_ms REAL NOT NULL,
  root_service TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL,
  -- the root span's rpc.grpc.status_code (version 4); NULL: not a gRPC call
  grpc_status INTEGER,
  span_count INTEGER NOT NULL,
  error_count INTEGER NOT NULL,
  -- '|a|b|' so a service or route filter is a LIKE on the row, with no join
  services TEXT NOT NULL,
  routes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_key ON traces (key);
CREATE INDEX IF NOT EXISTS traces_start ON traces (start_ms);
CREATE TABLE IF NOT EXISTS spans (
  seq INTEGER NOT NULL,
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
  -- a sidecar span's headers as lines, "> name: value" (request) and "< name: value" (response),
  -- redacted and bounded (proxy/protocol/span-headers.ts); read back as http.*.header.* attributes.
  -- NULL: an app's span, or one stored before version 5 (its headers are in attributes).
  headers TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS spans_trace ON spans (seq, span_id);
CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ms);
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
  headers: string | null;
}

interface TraceRow {
  trace_id: string;
  start_ms: number;
  duration_ms: number;
  root_service: string;
  method: string;
  path: string;
  status: number;
  grpc_status: number | null;
  span_count: number;
  error_count: number;
  services: string;
  routes: string;
}

/** What a trace's summary is made of, per span. */
export type SpanBrief = Pick<Span, 'spanId' | 'parentSpanId' | 'kind' | 'service' | 'peerService' | 'method' | 'path' | 'status' | 'startMs' | 'durationMs' | 'error'> & {
  route: string | null;
  /** rpc.grpc.status_code, or null. */
  grpcStatus: number | null;
};

interface RecentTrace {
  seq: number;
  spans: SpanBrief[];
  /** Whether its summary row is in the file (a new trace's is written at the commit). */
  stored: boolean;
}

/**
 * The indexed part of a trace id: its last 13 hex digits as a number (an id whose high half is zero, as
 * 64-bit tracers send, still spreads), or a hash of an id that is not hex.
 */
export function traceKey(traceId: string): number {
  const n = parseInt(traceId.slice(-13), 16);
  if (Number.isSafeInteger(n) && /^[0-9a-fA-F]{13}$/.test(traceId.slice(-13))) return n;
  let h = 0x811c9dc5;
  for (let i = 0; i < traceId.length; i++) h = Math.imul(h ^ traceId.charCodeAt(i), 0x01000193);
  return -1 - (h >>> 0); // negative: never equal to a hex id's key
}

function rowToSpan(r: SpanRow): Span {
  const attributes = JSON.parse(r.attributes) as Span['attributes'];
  if (r.headers) expandHeaderLines(attributes, r.headers);
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
    attributes,
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
    grpcStatus: r.grpc_status,
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
  spans: [spans: readonly IncomingSpan[]];
  /** The open transaction could not be written (its spans are dropped): the store itself stays usable. */
  failed: [error: Error];
}

const SPAN_COLUMNS = 'seq, span_id, parent_span_id, kind, service, instance_id, peer_service, method, path, status, start_ms, duration_ms, attempts, error, route, attributes, headers';

export class TraceStore extends EventEmitter<TraceStoreEvents> {
  private readonly db: Database.Database;
  private readonly insert: (spans: readonly IncomingSpan[]) => void;
  private readonly writeSummary: (traceId: string, trace: RecentTrace) => void;
  private readonly traceOf: Database.Statement<[number, string], SpanRow>;
  private readonly retention: TraceRetention;
  /** Spans inserted in the open transaction (0: none is open). */
  private open = 0;
  /** Traces that took spans in the open transaction: their summaries are written at its commit. */
  private readonly dirty = new Set<string>();
  /** The next trace's sequence number (assigned here so its spans can be inserted before its summary). */
  private nextSeq: number;
  private timer: NodeJS.Timeout | null = null;
  /** Recently written traces by id, oldest first (a Map keeps insertion order). */
  private readonly recent = new Map<string, RecentTrace>();

  constructor(file: string, retention: Partial<TraceRetention> = {}) {
    super();
    this.retention = { ...DEFAULT_RETENTION, ...retention };
    this.db = new Database(file);
    // Set before the file's first table, so it holds for a new file only (an older one keeps its size).
    // A commit appends each page it dirtied to the WAL with a write of its own: 32 KB pages make an eighth
    // of the writes of SQLite's 4 KB for the same spans, which were a quarter of what storing one cost,
    // and the UI's queries stay as fast (both measured in docs/traffic.md, "The trace store").
    this.db.pragma(`page_size = ${PAGE_SIZE}`);
    this.db.pragma('journal_mode = WAL');
    // A crash of the machine may lose the last commits, never corrupt the file (WAL); spans are not worth an fsync each.
    this.db.pragma('synchronous = NORMAL');
    // Holds the indexes written in random order (traces_key) and the newest pages, so a commit reads nothing back.
    this.db.pragma('cache_size = -32000');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    const migrate = version === 2 && this.hasTable('spans');
    if ((version === 3 || version === 4) && this.hasTable('traces')) {
      // Version 3 lacked the root's gRPC status: a column added in place (its spans kept no such attribute, so NULL is right).
      if (version === 3) this.db.exec('ALTER TABLE traces ADD COLUMN grpc_status INTEGER');
      // Versions 3 and 4 kept headers among the attributes: NULL lines, and reads and searches look in both.
      this.db.exec('ALTER TABLE spans ADD COLUMN headers TEXT');
    } else if (version !== SCHEMA_VERSION) {
      this.db.exec(
        migrate
          ? 'DROP INDEX IF EXISTS spans_start; DROP INDEX IF EXISTS spans_service_start; ALTER TABLE spans RENAME TO spans_v2; DROP TABLE IF EXISTS traces;'
          : 'DROP TABLE IF EXISTS spans; DROP TABLE IF EXISTS traces;',
      );
    }
    this.db.exec(SCHEMA);

    const findTrace = this.db.prepare<[number, string], { seq: number }>('SELECT seq FROM traces WHERE key = ? AND trace_id = ?');
    const briefsOf = this.db.prepare<[number], SpanBrief>(`SELECT span_id AS spanId, parent_span_id AS parentSpanId, kind, service, peer_service AS peerService,
      method, path, status, start_ms AS startMs, duration_ms AS durationMs, error, route,
      json_extract(attributes, '$."rpc.grpc.status_code"') AS grpcStatus FROM spans WHERE seq = ?`);
    const insertTrace = this.db.prepare(`INSERT INTO traces (seq, key, trace_id, start_ms, duration_ms, root_service, method, path, status, grpc_status, span_count, error_count, services, routes)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const updateTrace = this.db.prepare(`UPDATE traces SET start_ms = ?, duration_ms = ?, root_service = ?, method = ?, path = ?, status = ?, grpc_status = ?,
      span_count = ?, error_count = ?, services = ?, routes = ? WHERE seq = ?`);
    const insertSpan = this.db.prepare(`INSERT OR REPLACE INTO spans (${SPAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.traceOf = this.db.prepare<[number, string], SpanRow>(
      'SELECT t.trace_id, s.* FROM traces t JOIN spans s ON s.seq = t.seq WHERE t.key = ? AND t.trace_id = ? ORDER BY s.start_ms',
    );

    this.nextSeq = ((this.db.prepare('SELECT max(seq) AS seq FROM traces').get() as { seq: number | null }).seq ?? 0) + 1;

    this.insert = (spans) => {
      for (const s of spans) {
        let trace = this.recent.get(s.traceId);
        if (trace === undefined) {
          const found = findTrace.get(traceKey(s.traceId), s.traceId);
          trace = found ? { seq: found.seq, spans: briefsOf.all(found.seq), stored: true } : { seq: this.nextSeq++, spans: [], stored: false };
          this.recent.set(s.traceId, trace);
        }
        const brief = toBrief(s);
        const at = trace.spans.findIndex((b) => b.spanId === s.spanId);
        if (at >= 0) trace.spans[at] = brief;
        else trace.spans.push(brief);
        this.dirty.add(s.traceId);
        insertSpan.run(
          trace.seq, s.spanId, s.parentSpanId, s.kind, s.service, s.instanceId, s.peerService, s.method, s.path, s.status,
          s.startMs, s.durationMs, s.attempts, s.error, brief.route, JSON.stringify(s.attributes), s.headers ?? null,
        );
        this.open++;
      }
    };
    this.writeSummary = (traceId, trace) => {
      trace.spans.sort((a, b) => a.startMs - b.startMs);
      const sum = summarize(traceId, trace.spans);
      const services = `|${sum.services.join('|')}|`;
      const routes = `|${[...new Set(trace.spans.map((b) => b.route).filter((r): r is string => r !== null))].join('|')}|`;
      if (!trace.stored) {
        insertTrace.run(trace.seq, traceKey(traceId), traceId, sum.startMs, sum.durationMs, sum.rootService, sum.method, sum.path, sum.status, sum.grpcStatus, sum.spanCount, sum.errorCount, services, routes);
        trace.stored = true;
      } else {
        updateTrace.run(sum.startMs, sum.durationMs, sum.rootService, sum.method, sum.path, sum.status, sum.grpcStatus, sum.spanCount, sum.errorCount, services, routes, trace.seq);
      }
    };
    if (migrate) this.migrateFromV2();
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  private hasTable(name: string): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  }

  /** Version 2 kept trace_id on every span and its summary rows keyed by it: re-written through the new path, oldest first. */
  private migrateFromV2(): void {
    const chunk = this.db.prepare<[number], SpanRow & { rowid: number }>('SELECT rowid, * FROM spans_v2 WHERE rowid > ? ORDER BY rowid LIMIT 5000');
    for (let after = 0; ; ) {
      const rows = chunk.all(after);
      if (rows.length === 0) break;
      this.add(rows.map(rowToSpan));
      this.flush();
      after = rows.at(-1)!.rowid;
    }
    this.db.exec('DROP TABLE spans_v2');
    this.recent.clear();
  }

  get limits(): TraceRetention {
    return { ...this.retention };
  }

  /** Takes spans: they are live for listeners at once, and committed within COMMIT_MS (or before any read). */
  add(spans: readonly IncomingSpan[]): void {
    if (spans.length === 0) return;
    try {
      if (this.open === 0) this.db.exec('BEGIN');
      this.insert(spans);
    } catch (err) {
      this.failed(err as Error);
    }
    if (this.open >= MAX_OPEN) this.flush();
    else if (this.open > 0 && this.timer === null) this.timer = setTimeout(() => this.flush(), COMMIT_MS).unref();
    this.emit('spans', spans);
  }

  /** Commits the open transaction, with the summaries of the traces it touched. A failure drops it and is reported, never thrown. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.open === 0) return;
    try {
      for (const traceId of this.dirty) {
        const trace = this.recent.get(traceId)!;
        this.writeSummary(traceId, trace);
        this.recent.delete(traceId); // re-inserted as the newest
        this.recent.set(traceId, trace);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.failed(err as Error);
      return;
    }
    this.open = 0;
    this.dirty.clear();
    if (this.recent.size > MAX_RECENT) {
      // The oldest go an eighth at a time, in one pass: a Map's iteration starts at its first slot, and a
      // deleted slot stays until the table is rebuilt, so taking the oldest one by one re-walked every
      // hole left before it (a sixth of the store's time, profiled under load).
      let excess = this.recent.size - MAX_RECENT + MAX_RECENT / 8;
      for (const id of this.recent.keys()) {
        if (excess-- <= 0) break;
        this.recent.delete(id);
      }
    }
  }

  /** The open transaction is rolled back: its spans are lost, and what `recent` learned from them may be wrong. */
  private failed(err: Error): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.open = 0;
    this.dirty.clear();
    this.recent.clear();
    this.emit('failed', err);
  }

  /**
   * Drops whole traces that are older than the age bound, then the oldest traces until at most
   * maxSpans spans are left. Called on a timer, not per batch.
   */
  prune(nowMs = Date.now()): number {
    this.flush();
    const before = this.spanCount();
    const dropOlderThan = this.db.transaction((cutoff: number) => {
      this.db.prepare('DELETE FROM spans WHERE seq IN (SELECT seq FROM traces WHERE start_ms < ?)').run(cutoff);
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
    const removed = before - this.spanCount();
    // Summaries of dropped traces must not come back from memory.
    if (removed > 0) this.recent.clear();
    return removed;
  }

  spanCount(): number {
    this.flush();
    return (this.db.prepare('SELECT count(*) AS n FROM spans').get() as { n: number }).n;
  }

  /** Recent traces matching every given filter, newest first. */
  listTraces(q: TraceQuery = {}): TraceSummary[] {
    this.flush();
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
      // Below 100 it is a gRPC status (0–16), as the list shows a gRPC call's; an HTTP status leaves out
      // the gRPC calls that failed under an HTTP 200 (grpc-status 14 is not a "200").
      where.push(q.status < 100 ? 'grpc_status = @status' : 'status = @status AND (grpc_status IS NULL OR grpc_status = 0)');
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
      const value = eq < 0 ? null : q.attribute.slice(eq + 1).trim();
      params.attrPath = `$."${key.replace(/"/g, '')}"`;
      // A header is on a sidecar span's header lines (or, stored before version 5, among its attributes).
      const needle = headerLineNeedle(key, value);
      const inLines = needle === null ? '' : ' OR instr(char(10) || s.headers, @needle) > 0';
      if (needle !== null) params.needle = `\n${needle}`;
      if (value === null) {
        where.push(`EXISTS (SELECT 1 FROM spans s WHERE s.seq = traces.seq AND (json_type(s.attributes, @attrPath) IS NOT NULL${inLines}))`);
      } else {
        // Attribute values are strings, numbers or booleans; compare as text so `mtls=true` and `status=503` work.
        where.push(`EXISTS (SELECT 1 FROM spans s WHERE s.seq = traces.seq AND (
          CASE json_type(s.attributes, @attrPath) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
          ELSE CAST(json_extract(s.attributes, @attrPath) AS TEXT) END = @attrValue${inLines}))`);
        params.attrValue = value;
      }
    }
    const rows = this.db
      .prepare(`SELECT * FROM traces INDEXED BY traces_start ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY start_ms DESC LIMIT @limit`)
      .all(params) as TraceRow[];
    return rows.map(rowToSummary);
  }

  getTrace(traceId: string): Span[] {
    this.flush();
    return this.traceOf.all(traceKey(traceId), traceId).map(rowToSpan);
  }

  /** Spans of one kind started in [fromMs, toMs), oldest first: the raw material of golden metrics and topology. */
  spansBetween(fromMs: number, toMs: number, filter: { service?: string; kind?: Span['kind'] } = {}): Span[] {
    this.flush();
    const where = ['s.start_ms >= @from', 's.start_ms < @to'];
    if (filter.service) where.push('s.service = @service');
    if (filter.kind) where.push('s.kind = @kind');
    return (
      this.db
        .prepare(`SELECT t.trace_id, s.* FROM spans s INDEXED BY spans_start JOIN traces t ON t.seq = s.seq WHERE ${where.join(' AND ')} ORDER BY s.start_ms`)
        .all({ from: fromMs, to: toMs, service: filter.service ?? null, kind: filter.kind ?? null }) as SpanRow[]
    ).map(rowToSpan);
  }

  /** Server spans of one instance overlapping [fromMs, toMs]: which requests it was serving then (log ↔ trace linking). */
  serverSpansOf(instanceId: string, fromMs: number, toMs: number): Pick<Span, 'traceId' | 'startMs' | 'durationMs'>[] {
    this.flush();
    return (
      this.db
        .prepare(`SELECT t.trace_id, s.start_ms, s.duration_ms FROM spans s INDEXED BY spans_start JOIN traces t ON t.seq = s.seq
                  WHERE s.start_ms >= @from AND s.start_ms <= @to AND s.instance_id = @instance AND s.kind = 'server'`)
        .all({ from: fromMs - 60_000, to: toMs, instance: instanceId }) as { trace_id: string; start_ms: number; duration_ms: number }[]
    )
      .filter((r) => r.start_ms + r.duration_ms >= fromMs)
      .map((r) => ({ traceId: r.trace_id, startMs: r.start_ms, durationMs: r.duration_ms }));
  }

  close(): void {
    this.flush();
    this.removeAllListeners();
    this.db.close();
  }
}

function toBrief(s: Span): SpanBrief {
  const route = s.attributes.route;
  return {
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    kind: s.kind,
    service: s.service,
    peerService: s.peerService,
    method: s.method,
    path: s.path,
    status: s.status,
    startMs: s.startMs,
    durationMs: s.durationMs,
    error: s.error,
    route: typeof route === 'string' ? route : null,
    grpcStatus: grpcStatusOf(s),
  };
}

/** A gRPC span's status code (its rpc.grpc.status_code attribute), null for anything else. */
export function grpcStatusOf(s: Pick<Span, 'attributes'>): number | null {
  const code = s.attributes['rpc.grpc.status_code'];
  return typeof code === 'number' ? code : null;
}

/**
 * A trace's root is its earliest span without a parent in the trace (or its earliest span while the
 * root has not arrived yet). A client root (the ingress gateway's) is named after where it went.
 */
export function summarize(traceId: string, spans: readonly Omit<SpanBrief, 'route'>[]): TraceSummary {
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
    grpcStatus: root.grpcStatus,
  };
}
