// An instance's merged stdout/stderr: search, follow (stick to the newest line), and a link on each line
// to the trace that was active when it was written (logged by the app, or inferred by the mesh).
import { useEffect, useRef, useState } from 'react';
import type { LogLine } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { formatClock } from '../format';
import { usePolling } from '../hooks/usePolling';
import { hrefOf } from '../router';

const KEEP = 2000;

interface Props {
  client: ApiClient;
  service: string;
}

export function LogViewer({ client, service }: Props) {
  const [search, setSearch] = useState('');
  const [follow, setFollow] = useState(true);
  const [instance, setInstance] = useState('');
  const scroller = useRef<HTMLDivElement>(null);

  const { data, error } = usePolling<{ lines: LogLine[]; lastSeq: number }>(
    async (signal, prev) => {
      const q = { service, ...(instance ? { instance } : {}), ...(search ? { search } : {}), limit: 500, ...(prev ? { afterSeq: prev.lastSeq } : {}) };
      const res = await client.logs(q, signal);
      const lines = prev ? [...prev.lines, ...res.lines].slice(-KEEP) : res.lines;
      return { lines, lastSeq: res.lastSeq };
    },
    { intervalMs: 1000, resetKey: `${service}|${instance}|${search}` },
  );

  useEffect(() => {
    if (follow && scroller.current) scroller.current.scrollTop = scroller.current.scrollHeight;
  }, [data, follow]);

  const lines = data?.lines ?? [];
  const instances = [...new Set(lines.map((l) => l.instanceId))].sort();
  return (
    <section className="panel logs-panel" data-testid="logs">
      <header className="panel-head">
        <h2>Logs</h2>
        <span className="muted small">stdout and stderr, merged · {lines.length} lines</span>
        <div className="spacer" />
        <select value={instance} onChange={(e) => setInstance(e.target.value)} aria-label="Instance" data-testid="log-instance">
          <option value="">all instances</option>
          {instances.map((i) => (
            <option key={i}>{i}</option>
          ))}
        </select>
        <input type="search" placeholder="search (text or trace id)" value={search} onChange={(e) => setSearch(e.target.value)} data-testid="log-search" aria-label="Search logs" />
        <label className="filter small">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} data-testid="log-follow" /> follow
        </label>
      </header>
      {error && <div className="inline-error">{error.message}</div>}
      <div
        className="log-scroll mono"
        ref={scroller}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
          if (follow !== atBottom) setFollow(atBottom);
        }}
      >
        {lines.length === 0 && <p className="empty">{data ? 'No output yet.' : 'Loading…'}</p>}
        {lines.map((l) => (
          <div key={l.seq} className={`log-line stream-${l.stream}`} data-testid="log-line" data-trace-id={l.traceId ?? undefined}>
            <span className="muted">{formatClock(l.timeMs)}</span> <span className="log-instance">{l.instanceId}</span>{' '}
            {l.stream === 'stderr' && <span className="badge state-bad">err</span>} <span className="log-text">{l.text}</span>
            {l.traceId && (
              <a className="trace-link" href={hrefOf('traces', { trace: l.traceId })} data-testid="log-trace-link" title={l.traceSource === 'inferred' ? 'the only request this instance was serving when the line was written' : 'trace id written by the app'}>
                trace {l.traceId.slice(0, 8)}
                {l.traceSource === 'inferred' ? ' (inferred)' : ''}
              </a>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}
