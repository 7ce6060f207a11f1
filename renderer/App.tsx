import { useCallback, useEffect, useMemo, useState } from 'react';
import type { StatusResponse } from '../src/contract/api';
import { ApiClientError, createApiClient } from './api-client';
import { ServicesPanel } from './components/ServicesPanel';
import { TraceList } from './components/TraceList';
import { TraceWaterfall } from './components/TraceWaterfall';
import { formatUptime, registerServices } from './format';
import { usePolling } from './hooks/usePolling';

interface Props {
  token: string | null;
  initialTraceId: string | null;
}

export function App({ token, initialTraceId }: Props) {
  const client = useMemo(() => createApiClient(token), [token]);
  const status = usePolling<StatusResponse>((signal) => client.status(signal), { intervalMs: 1000 });
  const [traceError, setTraceError] = useState<Error | null>(null);
  const [selectedTrace, setSelectedTrace] = useState<string | null>(initialTraceId);

  const selectTrace = useCallback((traceId: string | null) => {
    setSelectedTrace(traceId);
    // The open trace lives in the fragment so a link to it can be copied; the token never does.
    const hash = traceId ? `#trace=${encodeURIComponent(traceId)}` : '';
    window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search + hash);
  }, []);
  const onTraceError = useCallback((e: Error | null) => setTraceError(e), []);

  const data = status.data;
  const serviceNames = useMemo(() => (data ? data.services.map((s) => s.name).sort() : []), [data]);
  registerServices(serviceNames);
  const meshName = data?.mesh;
  useEffect(() => {
    document.title = meshName ? `${meshName} · devmesh` : 'devmesh';
  }, [meshName]);
  const connectionError = status.error ?? traceError;

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            ◆
          </span>{' '}
          devmesh
        </div>
        {data ? (
          <div className="config" data-testid="config-status">
            <span className="mesh-name" title="mesh name">
              {data.mesh}
            </span>
            <span className={`pill ${data.config.error ? 'pill-bad' : 'pill-good'}`} title={data.config.file}>
              config v{data.config.version}
              {data.config.error ? ' · invalid on disk' : ''}
            </span>
            <span className="muted small file" title={data.config.file}>
              {shortPath(data.config.file)}
            </span>
          </div>
        ) : (
          <div className="config muted">connecting…</div>
        )}
        <div className="spacer" />
        {data && data.ingress.length > 0 && (
          <nav className="ingress" aria-label="Ingress">
            {data.ingress.map((ing) => (
              <a key={`${ing.service}:${ing.port}`} href={ing.url} target="_blank" rel="noreferrer" data-testid="ingress-link">
                {ing.service} <span className="mono">{ing.url}</span>
              </a>
            ))}
          </nav>
        )}
        <LiveDot ok={!status.error && status.updatedAtMs !== null} />
      </header>

      {connectionError && (
        <div className="banner banner-error" role="alert" data-testid="error-banner">
          <strong>{bannerTitle(connectionError)}</strong> {connectionError.message}
          {status.updatedAtMs && (
            <span className="muted"> Showing data from {formatUptime(status.updatedAtMs, Date.now())} ago.</span>
          )}
        </div>
      )}
      {data?.config.error && (
        <div className="banner banner-warn" role="alert" data-testid="config-error">
          <strong>{data.config.file} is invalid</strong> — the mesh keeps running config v{data.config.version}, the last
          good one.
          <pre>{data.config.error}</pre>
        </div>
      )}

      <main className={`content ${status.error ? 'stale' : ''}`}>
        <section className="panel services-panel">
          <header className="panel-head">
            <h2>Services</h2>
            {data && (
              <span className="muted small">
                {data.services.length} services ·{' '}
                {data.services.reduce((n, s) => n + s.instances.filter((i) => i.state === 'running').length, 0)}/
                {data.services.reduce((n, s) => n + s.instances.length, 0)} instances running
              </span>
            )}
          </header>
          {data ? (
            <ServicesPanel services={data.services} configVersion={data.config.version} nowMs={status.updatedAtMs ?? Date.now()} />
          ) : (
            <p className="empty">{status.error ? 'No status available.' : 'Loading…'}</p>
          )}
        </section>

        <TraceList
          client={client}
          serviceNames={serviceNames}
          selectedId={selectedTrace}
          onSelect={selectTrace}
          onError={onTraceError}
        />

        {selectedTrace && <TraceWaterfall client={client} traceId={selectedTrace} onClose={() => selectTrace(null)} />}
      </main>
      <footer className="footer muted small">
        {window.devmesh?.shell === 'electron' ? `devmesh desktop · ${window.devmesh.platform}` : 'devmesh in the browser'}
      </footer>
    </div>
  );
}

/** Keeps the end of a long path, which is the part that tells mesh files apart. */
function shortPath(path: string, max = 48): string {
  return path.length <= max ? path : `…${path.slice(path.length - max + 1)}`;
}

function LiveDot({ ok }: { ok: boolean }) {
  return (
    <span className={`live ${ok ? 'live-ok' : 'live-bad'}`} title={ok ? 'connected, updating every second' : 'not connected'}>
      ● {ok ? 'live' : 'offline'}
    </span>
  );
}

function bannerTitle(error: Error): string {
  if (!(error instanceof ApiClientError)) return 'Error.';
  switch (error.failure.kind) {
    case 'network':
      return 'Disconnected.';
    case 'unauthorized':
      return 'Not authorized.';
    case 'http':
      return `Request failed (${error.failure.status}).`;
  }
}
