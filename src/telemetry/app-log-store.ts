// The OpenTelemetry log records apps send over OTLP (structured logs: severity, body, attributes, the trace
// and span they were written in), in SQLite beside the trace store, bounded like spans: by count and by
// age (DEVMESH_LOG_MAX_RECORDS / DEVMESH_LOG_MAX_AGE, as retentionFromEnv reads the trace bounds), pruned
// on a timer so a chatty app cannot grow the file. Its own file (app-logs.db), so it never contends with
// the trace store's writer. Plain stdout/stderr lines stay in log-store.ts (memory).
import Database from 'better-sqlite3';
import type { AppLogQuery, AppLogRecord, AppLogResponse, AttributeValue, SeverityName } from '../contract/api.js';

export interface AppLogRetention {
  maxRecords: number;
  maxAgeMs: number;
}

export const DEFAULT_APP_LOG_RETENTION: AppLogRetention = { maxRecords: 100_000, maxAgeMs: 24 * 3600_000 };

/** The lowest severity number of each OpenTelemetry severity range. */
export const SEVERITY_FLOOR: Record<SeverityName, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17, fatal: 21 };

const SCHEMA_VERSION = 1;
const SCHEMA = `
CREATE TABLE IF NOT EXISTS app_logs (
  seq INTEGER PRIMARY KEY,
  time_ms REAL NOT NULL,
  service TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  severity_number INTEGER NOT NULL,
  severity_text TEXT NOT NULL,
  body TEXT NOT NULL,
  attributes TEXT NOT NULL,
  resource TEXT NOT NULL,
  scope TEXT,
  event_name TEXT,
  trace_id TEXT,
  span_id TEXT
);
CREATE INDEX IF NOT EXISTS app_logs_time ON app_logs (time_ms);
CREATE INDEX IF NOT EXISTS app_logs_service ON app_logs (service, seq);
CREATE INDEX IF NOT EXISTS app_logs_trace ON app_logs (trace_id) WHERE trace_id IS NOT NULL;
`;

interface Row {
  seq: number;
  time_ms: number;
  service: string;
  instance_id: string;
  severity_number: number;
  severity_text: string;
  body: string;
  attributes: string;
  resource: string;
  scope: string | null;
  event_name: string | null;
  trace_id: string | null;
  span_id: string | null;
}

function toRecord(r: Row): AppLogRecord {
  return {
    seq: r.seq,
    timeMs: r.time_ms,
    service: r.service,
    instanceId: r.instance_id,
    severityNumber: r.severity_number,
    severityText: r.severity_text,
    body: r.body,
    attributes: JSON.parse(r.attributes) as Record<string, AttributeValue>,
    resource: JSON.parse(r.resource) as Record<string, AttributeValue>,
    scope: r.scope,
    eventName: r.event_name,
    traceId: r.trace_id,
    spanId: r.span_id,
  };
}

/** "key=value" → a JSON path and a value; "key" alone → just the path. Keys are quoted, so dots stay in the name. */
function attributeFilter(expr: string): { path: string; value: string | null } {
  const eq = expr.indexOf('=');
  const key = (eq < 0 ? expr : expr.slice(0, eq)).trim();
  return { path: `$."${key.replace(/"/g, '""')}"`, value: eq < 0 ? null : expr.slice(eq + 1) };
}

export class AppLogStore {
  private readonly db: Database.Database;
  private readonly insert: (records: readonly Omit<AppLogRecord, 'seq'>[]) => void;
  private readonly retention: AppLogRetention;

  constructor(file: string, retention: Partial<AppLogRetention> = {}) {
    this.retention = { ...DEFAULT_APP_LOG_RETENTION, ...retention };
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    if (this.db.pragma('user_version', { simple: true }) !== SCHEMA_VERSION) {
      this.db.exec('DROP TABLE IF EXISTS app_logs');
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    this.db.exec(SCHEMA);
    const stmt = this.db.prepare(`INSERT INTO app_logs (time_ms, service, instance_id, severity_number, severity_text, body, attributes, resource, scope, event_name, trace_id, span_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insert = this.db.transaction((records: readonly Omit<AppLogRecord, 'seq'>[]) => {
      for (const r of records) {
        stmt.run(r.timeMs, r.service, r.instanceId, r.severityNumber, r.severityText, r.body, JSON.stringify(r.attributes), JSON.stringify(r.resource), r.scope, r.eventName, r.traceId, r.spanId);
      }
    });
  }

  add(records: readonly Omit<AppLogRecord, 'seq'>[]): void {
    if (records.length > 0) this.insert(records);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM app_logs').get() as { n: number }).n;
  }

  get lastSeq(): number {
    return (this.db.prepare('SELECT coalesce(max(seq), 0) AS n FROM app_logs').get() as { n: number }).n;
  }

  /** Drops records older than the age bound, then the oldest until at most maxRecords are left; returns how many went. */
  prune(nowMs = Date.now()): number {
    let removed = this.db.prepare('DELETE FROM app_logs WHERE time_ms < ?').run(nowMs - this.retention.maxAgeMs).changes;
    const excess = this.count() - this.retention.maxRecords;
    if (excess > 0) removed += this.db.prepare('DELETE FROM app_logs WHERE seq IN (SELECT seq FROM app_logs ORDER BY seq LIMIT ?)').run(excess).changes;
    return removed;
  }

  /** The newest `limit` records matching every given filter (after `afterSeq`), oldest first. */
  query(q: AppLogQuery): AppLogResponse {
    const limit = Math.min(Math.max(q.limit ?? 500, 1), 5000);
    const where: string[] = [];
    const params: Record<string, string | number> = { limit };
    const eq = (column: string, name: string, value: string | number | undefined) => {
      if (value === undefined) return;
      where.push(`${column} = @${name}`);
      params[name] = value;
    };
    eq('service', 'service', q.service);
    eq('instance_id', 'instance', q.instance);
    eq('trace_id', 'traceId', q.traceId?.toLowerCase());
    eq('span_id', 'spanId', q.spanId?.toLowerCase());
    if (q.afterSeq !== undefined) {
      where.push('seq > @afterSeq');
      params.afterSeq = q.afterSeq;
    }
    if (q.minSeverity !== undefined) {
      where.push('severity_number >= @minSeverity');
      params.minSeverity = typeof q.minSeverity === 'number' ? q.minSeverity : SEVERITY_FLOOR[q.minSeverity];
    }
    if (q.search) {
      where.push(`lower(body) LIKE @search ESCAPE '\\'`);
      params.search = `%${q.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    }
    if (q.attribute) {
      const f = attributeFilter(q.attribute);
      params.attrPath = f.path;
      if (f.value === null) where.push('json_type(attributes, @attrPath) IS NOT NULL');
      else {
        // Compared as text, so `status=200` finds the number 200 and `ok=true` the boolean.
        where.push(`(CASE json_type(attributes, @attrPath) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(attributes, @attrPath) AS TEXT) END) = @attrValue`);
        params.attrValue = f.value;
      }
    }
    const rows = this.db
      .prepare(`SELECT * FROM app_logs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`)
      .all(params) as Row[];
    return { records: rows.reverse().map(toRecord), lastSeq: this.lastSeq };
  }

  close(): void {
    this.db.close();
  }
}

