// Tap: live requests as they cross a service's sidecars (method, path, status, latency, the route rule
// that matched, tries), pausable, like `linkerd viz tap`. Newest (by start time) on top; a row opens its trace.
import { useState } from 'react';
import type { TapEvent } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { formatClock, formatDuration, outcomeOf, serviceColor } from '../format';
import { usePolling } from '../hooks/usePolling';
import { hrefOf, type Screen } from '../router';

const KEEP = 300;

interface Props {
  client: ApiClient;
  serviceNames: string[];
  initialService: string;
  go(screen: Screen, params?: Record<string, string | null | undefined>, replace?: boolean): void;
}

/**
 * Newest request on top, by when it started. Events arrive in the order sidecars report them (a slow request
 * reports after quicker ones that started later, and each sidecar sends in batches), so arrival order is
 * not time order; the sequence number breaks ties between requests of the same millisecond.
 */
function newestFirst(events: TapEvent[]): TapEvent[] {
  return events.sort((a, b) => b.timeMs - a.timeMs || b.seq - a.seq);
}

export function TapPage({ client, serviceNames, initialService, go }: Props) {
  const [service, setService] = useState(initialService);
  const [paused, setPaused] = useState(false);
  const { data, error } = usePolling<{ events: TapEvent[]; lastSeq: number }>(
    async (signal, prev) => {
      const res = await client.tap({ ...(service ? { service } : {}), afterSeq: prev?.lastSeq ?? 0 }, signal);
      // The first read starts from now: a tap shows what happens while you watch.
      if (!prev) return { events: [], lastSeq: res.lastSeq };
      return { events: newestFirst([...res.events, ...prev.events]).slice(0, KEEP), lastSeq: res.lastSeq };
    },
    { intervalMs: 500, enabled: !paused, resetKey: service },
  );
  const events = data?.events ?? [];
  return (
    <section className="panel tap-panel" data-testid="tap">
      <header className="panel-head">
        <h2>Tap</h2>
        <select
          value={service}
          onChange={(e) => {
            setService(e.target.value);
            go('tap', { service: e.target.value }, true);
          }}
          aria-label="Service"
          data-testid="tap-service"
        >
          <option value="">all services</option>
          {serviceNames.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
        <span className="muted small">{paused ? 'paused' : 'live'} · {events.length} requests</span>
        <div className="spacer" />
        <button type="button" className="btn" onClick={() => setPaused((p) => !p)} aria-pressed={paused} data-testid="tap-pause">
          {paused ? '▶ Resume' : '❚❚ Pause'}
        </button>
      </header>
      {error && <div className="inline-error">{error.message}</div>}
      <div className="scroll">
        <table className="grid tap">
          <thead>
            <tr>
              <th>Time</th>
              <th>Sidecar</th>
              <th>Dir</th>
              <th>Peer</th>
              <th>Request</th>
              <th className="num">Status</th>
              <th className="num">Latency</th>
              <th>Rule</th>
              <th className="num">Tries</th>
            </tr>
          </thead>
          <tbody>
            {events.length === 0 && (
              <tr>
                <td colSpan={9} className="empty">
                  {paused ? 'Paused.' : 'Waiting for requests…'}
                </td>
              </tr>
            )}
            {events.map((e) => (
              <tr key={e.seq} data-testid="tap-row" data-status={e.status} data-route={e.route ?? ''} data-time-ms={e.timeMs} data-trace-id={e.traceId}>
                <td className="mono muted">{formatClock(e.timeMs)}</td>
                <td>
                  <span className="swatch small" style={{ background: serviceColor(e.service) }} />
                  <span className="mono">{e.instanceId}</span>
                </td>
                <td className="mono">{e.direction === 'inbound' ? '→ in' : 'out →'}</td>
                <td>{e.peer ?? '–'}</td>
                <td className="mono request">
                  <a href={hrefOf('traces', { trace: e.traceId })}>
                    <span className="method">{e.method}</span> {e.path}
                  </a>
                </td>
                {(() => {
                  const outcome = outcomeOf({ status: e.status, error: e.error, grpcStatus: e.grpcStatus ?? null, connection: e.method === 'TCP' });
                  return (
                    <td className={`num mono status-${outcome.cls}`} title={outcome.title} data-testid="tap-status">
                      {outcome.label}
                    </td>
                  );
                })()}
                <td className="num mono">{formatDuration(e.durationMs)}</td>
                <td className="mono">{e.route ?? <span className="muted">–</span>}</td>
                <td className={`num mono ${e.attempts > 1 ? 'warn-text' : ''}`}>{e.attempts}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
