import { useEffect, useState } from 'react';
import type { TraceQuery, TraceSummary } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { formatClock, formatDuration, outcomeOf, serviceColor, type Outcome } from '../format';
import { usePolling } from '../hooks/usePolling';

const PAGE = 50;
const KEEP = 100;
/** Every Nth poll re-reads the whole page: traces listed earlier may have gained spans since. */
const FULL_REFRESH_EVERY = 5;
/** Incremental polls re-read this much before the newest trace, to pick up its late spans too. */
const OVERLAP_MS = 2000;

interface ListData {
  traces: TraceSummary[];
  polls: number;
  /** Traces new in this poll (not on first load), highlighted briefly as they stream in. */
  arrived: ReadonlySet<string>;
}

interface Props {
  client: ApiClient;
  /** Filters (without limit/sinceMs, which the list manages). */
  query: TraceQuery;
  selectedId: string | null;
  /** Trace picked as the left side of a comparison, marked in the list. */
  compareId?: string | null;
  onSelect(traceId: string): void;
  onError(error: Error | null): void;
}

export function TraceList({ client, query, selectedId, compareId, onSelect, onError }: Props) {
  const [paused, setPaused] = useState(false);
  const queryKey = JSON.stringify(query);

  const { data, error } = usePolling<ListData>(
    async (signal, prev) => {
      const polls = (prev?.polls ?? 0) + 1;
      const newest = prev?.traces[0]?.startMs;
      const full = newest === undefined || polls % FULL_REFRESH_EVERY === 0;
      const res = await client.traces(
        { ...query, limit: PAGE, ...(full ? {} : { sinceMs: newest - OVERLAP_MS }) },
        signal,
      );
      const traces = mergeTraces(prev?.traces ?? [], res.traces, full);
      const known = new Set(prev?.traces.map((t) => t.traceId));
      const arrived = new Set(prev ? traces.filter((t) => !known.has(t.traceId)).map((t) => t.traceId) : []);
      return { traces, polls, arrived };
    },
    { intervalMs: 1000, enabled: !paused, resetKey: queryKey },
  );

  useEffect(() => onError(error), [error, onError]);

  const traces = data?.traces ?? [];
  const maxDuration = traces.reduce((m, t) => Math.max(m, t.durationMs), 1);

  return (
    <section className="panel traces-panel">
      <header className="panel-head">
        <h2>Traces</h2>
        <span className="muted small">{traces.length} recent{paused ? ' · paused' : ' · live'}</span>
        <div className="spacer" />
        <button type="button" className="btn" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
          {paused ? '▶ Resume' : '❚❚ Pause'}
        </button>
      </header>
      <div className="scroll trace-scroll">
        <table className="grid traces">
          <thead>
            <tr>
              <th>Time</th>
              <th>Root service</th>
              <th>Request</th>
              <th className="num">Status</th>
              <th>Duration</th>
              <th className="num">Spans</th>
              <th>Services</th>
            </tr>
          </thead>
          <tbody>
            {traces.length === 0 && (
              <tr>
                <td colSpan={7} className="empty">
                  {data === null ? 'Loading…' : 'No traces yet. Send a request through an ingress URL above.'}
                </td>
              </tr>
            )}
            {traces.map((t) => (
              <tr
                key={t.traceId}
                className={`trace-row clickable ${t.traceId === selectedId ? 'selected' : ''} ${t.traceId === compareId ? 'compare-pick' : ''} ${data?.arrived.has(t.traceId) ? 'arrived' : ''}`}
                data-testid="trace-row"
                data-trace-id={t.traceId}
                tabIndex={0}
                aria-selected={t.traceId === selectedId}
                onClick={() => onSelect(t.traceId)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' || e.key === ' ') {
                    e.preventDefault();
                    onSelect(t.traceId);
                  }
                  // j/k and the arrows move between rows, as in a mail client.
                  const row = e.currentTarget;
                  const next = e.key === 'ArrowDown' || e.key === 'j' ? row.nextElementSibling : e.key === 'ArrowUp' || e.key === 'k' ? row.previousElementSibling : null;
                  if (next instanceof HTMLElement) {
                    e.preventDefault();
                    next.focus();
                  }
                }}
              >
                <td className="mono muted">{formatClock(t.startMs)}</td>
                <td>
                  <span className="swatch small" style={{ background: serviceColor(t.rootService) }} />
                  {t.rootService}
                </td>
                <td className="mono request" title={`${t.method} ${t.path}`}>
                  <span className="method">{t.method}</span> {t.path}
                </td>
                <td className={`num mono status-${listOutcome(t).cls}`} data-testid="trace-status" title={listOutcome(t).title}>
                  {listOutcome(t).label}
                  {t.errorCount > 0 && (
                    <span className="error-count" title={`${t.errorCount} span(s) with errors`}>
                      {' '}
                      ⚠{t.errorCount}
                    </span>
                  )}
                </td>
                <td className="duration">
                  <span className="mono">{formatDuration(t.durationMs)}</span>
                  <span className="mini-bar">
                    <span style={{ width: `${Math.max(2, (t.durationMs / maxDuration) * 100)}%` }} />
                  </span>
                </td>
                <td className="num mono">{t.spanCount}</td>
                <td className="chips">
                  {[...t.services].sort().map((s) => (
                    <span key={s} className="chip" style={{ borderColor: serviceColor(s) }}>
                      {s}
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/**
 * Newest first, one row per trace. Fetched summaries replace older copies of the same trace (they
 * may have more spans now). A full refresh is the server's view of the newest page, so rows inside
 * that page's time range that it no longer lists are dropped; older rows stay as history.
 */
export function mergeTraces(prev: TraceSummary[], fetched: TraceSummary[], full: boolean): TraceSummary[] {
  const byId = new Map<string, TraceSummary>();
  const oldestFetched = fetched.reduce((m, t) => Math.min(m, t.startMs), Infinity);
  for (const t of prev) {
    if (full && t.startMs >= oldestFetched) continue;
    byId.set(t.traceId, t);
  }
  for (const t of fetched) byId.set(t.traceId, t);
  return [...byId.values()].sort((a, b) => b.startMs - a.startMs || a.traceId.localeCompare(b.traceId)).slice(0, KEEP);
}

/** The root's outcome; the summary keeps no root error, so a connection counts as failed when any span did. */
function listOutcome(t: TraceSummary): Outcome {
  return outcomeOf({ status: t.status, error: t.errorCount > 0 ? `${t.errorCount} span(s) with errors` : null, grpcStatus: t.grpcStatus ?? null, connection: t.method === 'TCP' });
}
