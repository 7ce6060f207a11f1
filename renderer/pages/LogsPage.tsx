// Structured logs, the way the .NET Aspire dashboard shows them: the OpenTelemetry log records apps send over
// OTLP, one row each with its time, resource (service and instance), severity, message and attributes,
// filterable by service, minimum severity, text, attribute (`key` or `key=value`) and trace; a row opens its
// details (every attribute, the resource, scope, event name) and links to its trace and span in the
// waterfall. Filters live in the URL, so a filtered view (e.g. "the logs of this trace") can be linked.
import { Fragment, useEffect, useMemo, useState } from 'react';
import type { AppLogQuery, AppLogRecord, AttributeValue, SeverityName } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { formatClock, serviceColor } from '../format';
import { usePolling } from '../hooks/usePolling';
import { hrefOf, type Screen } from '../router';

interface Props {
  client: ApiClient;
  serviceNames: string[];
  params: URLSearchParams;
  go(screen: Screen, params?: Record<string, string | null | undefined>, replace?: boolean): void;
}

const KEEP = 2000;
const FILTERS = ['service', 'severity', 'search', 'attribute', 'trace', 'span'] as const;
const SEVERITIES: SeverityName[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** The badge colour of an OpenTelemetry severity number's range. */
function severityClass(n: number): string {
  if (n >= 17) return 'state-bad';
  if (n >= 13) return 'state-warn';
  if (n >= 9) return 'state-progress';
  return 'state-idle';
}

function queryOf(params: URLSearchParams): AppLogQuery {
  const q: AppLogQuery = {};
  const service = params.get('service');
  if (service) q.service = service;
  const severity = params.get('severity');
  if (severity && (SEVERITIES as string[]).includes(severity)) q.minSeverity = severity as SeverityName;
  const search = params.get('search');
  if (search) q.search = search;
  const attribute = params.get('attribute');
  if (attribute) q.attribute = attribute;
  const trace = params.get('trace');
  if (trace && /^[0-9a-f]{32}$/i.test(trace)) q.traceId = trace;
  const span = params.get('span');
  if (span && /^[0-9a-f]{16}$/i.test(span)) q.spanId = span;
  return q;
}

const show = (v: AttributeValue) => (typeof v === 'string' ? v : JSON.stringify(v));

export function LogsPage({ client, serviceNames, params, go }: Props) {
  const query = useMemo(() => queryOf(params), [params]);
  const current = Object.fromEntries(FILTERS.map((f) => [f, params.get(f)]));
  const set = (key: (typeof FILTERS)[number], value: string | null) => go('logs', { ...current, [key]: value || null }, true);
  // Typing is kept locally and written to the URL a moment later, so each keystroke is not a query.
  const [search, setSearch] = useState(params.get('search') ?? '');
  const [attribute, setAttribute] = useState(params.get('attribute') ?? '');
  useEffect(() => {
    const t = setTimeout(() => {
      if (search !== (params.get('search') ?? '') || attribute !== (params.get('attribute') ?? '')) go('logs', { ...current, search: search || null, attribute: attribute || null }, true);
    }, 300);
    return () => clearTimeout(t);
  });
  const [open, setOpen] = useState<number | null>(null);

  const { data, error } = usePolling<{ records: AppLogRecord[]; lastSeq: number }>(
    async (signal, prev) => {
      const res = await client.appLogs({ ...query, limit: 500, ...(prev ? { afterSeq: prev.lastSeq } : {}) }, signal);
      const records = prev ? [...prev.records, ...res.records].slice(-KEEP) : res.records;
      return { records, lastSeq: res.lastSeq };
    },
    { intervalMs: 1000, resetKey: JSON.stringify(query) },
  );
  const newestFirst = useMemo(() => [...(data?.records ?? [])].reverse(), [data]);
  const records = newestFirst;

  return (
    <div className="page logs-page" data-testid="structured-logs">
      <section className="panel">
        <header className="panel-head">
          <h2>Structured logs</h2>
          <span className="muted small">OpenTelemetry log records the apps sent over OTLP · newest first · {records.length} shown</span>
        </header>
        <div className="filters">
          <label>
            service
            <select value={current.service ?? ''} onChange={(e) => set('service', e.target.value)} data-testid="app-log-service">
              <option value="">all</option>
              {serviceNames.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            minimum severity
            <select value={current.severity ?? ''} onChange={(e) => set('severity', e.target.value)} data-testid="app-log-severity">
              <option value="">any</option>
              {SEVERITIES.map((s) => (
                <option key={s} value={s}>
                  {s.toUpperCase()}
                </option>
              ))}
            </select>
          </label>
          <label>
            message contains
            <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="text" data-testid="app-log-search" />
          </label>
          <label>
            attribute
            <input type="search" value={attribute} onChange={(e) => setAttribute(e.target.value)} placeholder="key or key=value" data-testid="app-log-attribute" />
          </label>
          {(query.traceId || query.spanId) && (
            <span className="pill" data-testid="app-log-trace-filter">
              {query.spanId ? `span ${query.spanId.slice(0, 8)}` : `trace ${query.traceId!.slice(0, 8)}`}{' '}
              <button type="button" className="link-button" onClick={() => go('logs', { ...current, trace: null, span: null }, true)} aria-label="Clear the trace filter">
                ✕
              </button>
            </span>
          )}
        </div>
        {error && <div className="inline-error">{error.message}</div>}
        <table className="grid app-logs">
          <thead>
            <tr>
              <th>time</th>
              <th>resource</th>
              <th>severity</th>
              <th>message</th>
              <th>attributes</th>
              <th>trace</th>
            </tr>
          </thead>
          <tbody>
            {newestFirst.length === 0 && (
              <tr>
                <td colSpan={6} className="empty">
                  {data ? 'No log records match. Apps with an OpenTelemetry SDK send them over OTLP with the environment devmesh gives them.' : 'Loading…'}
                </td>
              </tr>
            )}
            {newestFirst.map((r) => (
              <Fragment key={r.seq}>
                <tr className={`app-log-row clickable ${open === r.seq ? 'selected' : ''}`} data-testid="app-log-row" data-trace-id={r.traceId ?? undefined} onClick={() => setOpen(open === r.seq ? null : r.seq)}>
                  <td className="mono small">{formatClock(r.timeMs)}</td>
                  <td>
                    <span style={{ color: serviceColor(r.service) }}>{r.service}</span> <span className="muted small">{r.instanceId}</span>
                  </td>
                  <td>
                    <span className={`badge ${severityClass(r.severityNumber)}`} data-testid="app-log-severity-badge">
                      {r.severityText || '—'}
                    </span>
                  </td>
                  <td className="app-log-body" data-testid="app-log-body">
                    {r.body}
                  </td>
                  <td className="chips">
                    {Object.entries(r.attributes)
                      .slice(0, 4)
                      .map(([k, v]) => (
                        <span key={k} className="chip attr-chip" data-testid="app-log-attr">
                          {k}={show(v)}
                        </span>
                      ))}
                    {Object.keys(r.attributes).length > 4 && <span className="muted small">+{Object.keys(r.attributes).length - 4}</span>}
                  </td>
                  <td>
                    {r.traceId && (
                      <a
                        className="trace-link"
                        href={hrefOf('traces', { trace: r.traceId, span: r.spanId })}
                        onClick={(e) => e.stopPropagation()}
                        data-testid="app-log-trace-link"
                        title="open the trace, with this record's span selected"
                      >
                        {r.traceId.slice(0, 8)}
                      </a>
                    )}
                  </td>
                </tr>
                {open === r.seq && (
                  <tr className="app-log-detail" data-testid="app-log-detail">
                    <td colSpan={6}>
                      <LogDetail record={r} />
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

function LogDetail({ record: r }: { record: AppLogRecord }) {
  const rows: [string, string][] = [
    ['severity', `${r.severityText} (${r.severityNumber})`],
    ['time', new Date(r.timeMs).toISOString()],
    ['service', r.service],
    ['instance', r.instanceId],
    ...(r.scope ? [['scope', r.scope] as [string, string]] : []),
    ...(r.eventName ? [['event', r.eventName] as [string, string]] : []),
    ...Object.entries(r.attributes).map(([k, v]) => [k, show(v)] as [string, string]),
    ...Object.entries(r.resource).map(([k, v]) => [`resource ${k}`, show(v)] as [string, string]),
  ];
  return (
    <div className="app-log-detail-body">
      <pre className="mono">{r.body}</pre>
      <table className="header-table">
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td className="mono">{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {r.traceId && (
        <p className="small">
          <a href={hrefOf('traces', { trace: r.traceId, span: r.spanId })} data-testid="app-log-detail-trace">
            trace {r.traceId}
            {r.spanId ? `, span ${r.spanId}` : ''}
          </a>{' '}
          · <a href={hrefOf('logs', { trace: r.traceId })}>every log record of this trace</a>
        </p>
      )}
    </div>
  );
}
