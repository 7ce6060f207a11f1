// Two traces side by side, span by span: spans are paired by their place in the tree (service, kind,
// operation, order among siblings), each with both durations and the difference, so "what got slower"
// reads off one column. Jaeger's comparison shows structure only.
import { useMemo } from 'react';
import type { TraceDetailResponse } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { formatDuration, serviceColor, spanOutcome } from '../format';
import { usePolling } from '../hooks/usePolling';
import { compareTraces } from '../trace-analysis';

interface Props {
  client: ApiClient;
  a: string;
  b: string;
  onClose(): void;
}

export function TraceCompare({ client, a, b, onClose }: Props) {
  const both = usePolling<[TraceDetailResponse, TraceDetailResponse]>((signal) => Promise.all([client.trace(a, signal), client.trace(b, signal)]), { intervalMs: 5000, resetKey: `${a}|${b}` });
  const rows = useMemo(() => (both.data ? compareTraces(both.data[0].spans, both.data[1].spans) : []), [both.data]);
  const total = (t: TraceDetailResponse) => {
    const start = Math.min(...t.spans.map((s) => s.startMs));
    return Math.max(...t.spans.map((s) => s.startMs + s.durationMs)) - start;
  };
  const max = rows.reduce((m, r) => Math.max(m, r.a?.durationMs ?? 0, r.b?.durationMs ?? 0), 1);
  return (
    <section className="panel compare-panel" data-testid="trace-compare">
      <header className="panel-head">
        <h2>Compare</h2>
        <code className="trace-id">A {a.slice(0, 12)}…</code>
        <code className="trace-id">B {b.slice(0, 12)}…</code>
        {both.data && (
          <span className="muted small">
            {formatDuration(total(both.data[0]))} → {formatDuration(total(both.data[1]))} ({signed(total(both.data[1]) - total(both.data[0]))})
          </span>
        )}
        <div className="spacer" />
        <button type="button" className="btn" onClick={onClose} aria-label="Close comparison">
          ✕
        </button>
      </header>
      {both.error && <div className="inline-error">{both.error.message}</div>}
      <table className="grid compare">
        <thead>
          <tr>
            <th>Span</th>
            <th className="num">A status</th>
            <th className="num">A</th>
            <th className="num">B status</th>
            <th className="num">B</th>
            <th className="num">B − A</th>
            <th>Durations</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.key} data-testid="compare-row" data-delta={r.deltaMs ?? ''} className={r.a && r.b ? '' : 'only-one'}>
              <td style={{ paddingLeft: 8 + r.depth * 14 }}>
                <span className="swatch small" style={{ background: serviceColor(r.service) }} />
                {r.service} <span className="mono muted">{r.label}</span>
                {!r.a && <span className="pill pill-bad">only in B</span>}
                {!r.b && <span className="pill pill-bad">only in A</span>}
              </td>
              <td className={`num mono status-${r.a ? spanOutcome(r.a).cls : 'ok'}`}>{r.a ? spanOutcome(r.a).label : ''}</td>
              <td className="num mono">{r.a ? formatDuration(r.a.durationMs) : '–'}</td>
              <td className={`num mono status-${r.b ? spanOutcome(r.b).cls : 'ok'}`}>{r.b ? spanOutcome(r.b).label : ''}</td>
              <td className="num mono">{r.b ? formatDuration(r.b.durationMs) : '–'}</td>
              <td className={`num mono ${r.deltaMs !== null && r.deltaMs > 0.05 * max ? 'slower' : r.deltaMs !== null && r.deltaMs < -0.05 * max ? 'faster' : ''}`}>
                {r.deltaMs === null ? '' : signed(r.deltaMs)}
              </td>
              <td className="compare-bars">
                <span className="cbar cbar-a" style={{ width: `${((r.a?.durationMs ?? 0) / max) * 100}%` }} />
                <span className="cbar cbar-b" style={{ width: `${((r.b?.durationMs ?? 0) / max) * 100}%` }} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${formatDuration(Math.abs(ms))}`;
}
