import { useCallback, useEffect, useMemo, useState } from 'react';
import type { StatusResponse } from '../src/contract/api';
import { ApiClientError, createApiClient } from './api-client';
import { formatUptime, registerServices } from './format';
import { usePolling } from './hooks/usePolling';
import { ConfigPage } from './pages/ConfigPage';
import { ImportPage } from './pages/ImportPage';
import { LogsPage } from './pages/LogsPage';
import { OverviewPage } from './pages/OverviewPage';
import { ServicePage } from './pages/ServicePage';
import { TapPage } from './pages/TapPage';
import { TracesPage } from './pages/TracesPage';
import { SCREENS, hrefOf, useRoute, type Screen } from './router';
import { useTheme } from './theme';

interface Props {
  token: string | null;
}

const SCREEN_LABEL: Record<Screen, string> = {
  overview: 'Overview',
  service: 'Service',
  traces: 'Traces',
  config: 'Routes & policies',
  tap: 'Tap',
  import: 'Import',
  logs: 'Structured logs',
};

export function App({ token }: Props) {
  const client = useMemo(() => createApiClient(token), [token]);
  const status = usePolling<StatusResponse>((signal) => client.status(signal), { intervalMs: 1000 });
  const [traceError, setTraceError] = useState<Error | null>(null);
  const [route, go] = useRoute();
  const [theme, toggleTheme] = useTheme();
  const onTraceError = useCallback((e: Error | null) => setTraceError(e), []);

  // Keys 1–7 switch screens (not while typing), so the whole UI works from the keyboard.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.closest('input, textarea, select, .cm-editor') || t.isContentEditable))) return;
      const i = Number(e.key) - 1;
      const screen = SCREENS[i];
      if (screen) {
        e.preventDefault();
        go(screen, screen === 'service' ? { name: route.params.get('name') ?? status.data?.services[0]?.name } : {});
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [go, route, status.data]);

  // In the desktop app a mesh file dropped anywhere on the window is opened (the shell restarts the mesh).
  const [dropError, setDropError] = useState<string | null>(null);
  useEffect(() => {
    const bridge = window.devmesh;
    if (!bridge) return;
    const over = (e: DragEvent) => e.preventDefault();
    const drop = (e: DragEvent) => {
      e.preventDefault();
      const file = e.dataTransfer?.files[0];
      if (!file) return;
      if (!/\.ya?ml$/i.test(file.name)) return setDropError(`${file.name} is not a mesh file (.yaml)`);
      void bridge.openMeshFile(bridge.pathForFile(file)).then((r) => setDropError(r.ok ? null : r.error));
    };
    window.addEventListener('dragover', over);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('drop', drop);
    };
  }, []);

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
        {window.devmesh && (
          <button type="button" className="btn" onClick={() => void window.devmesh?.openMeshDialog().then((r) => setDropError(r && !r.ok ? r.error : null))} title="Open another mesh file (or drop one on the window)">
            Open mesh…
          </button>
        )}
        <button type="button" className="btn" onClick={toggleTheme} data-testid="theme-toggle" title="Switch between dark and light">
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
        </button>
        <LiveDot ok={!status.error && status.updatedAtMs !== null} />
      </header>
      <nav className="tabs" aria-label="Screens">
        {SCREENS.map((screen, i) => (
          <a
            key={screen}
            href={hrefOf(screen, screen === 'service' ? { name: route.params.get('name') ?? data?.services[0]?.name } : {})}
            className={`tab ${route.screen === screen ? 'active' : ''}`}
            aria-current={route.screen === screen ? 'page' : undefined}
            data-testid={`nav-${screen}`}
            title={`${SCREEN_LABEL[screen]} (key ${i + 1})`}
          >
            {SCREEN_LABEL[screen]}
          </a>
        ))}
      </nav>

      {connectionError && (
        <div className="banner banner-error" role="alert" data-testid="error-banner">
          <strong>{bannerTitle(connectionError)}</strong> {connectionError.message}
          {status.updatedAtMs && (
            <span className="muted"> Showing data from {formatUptime(status.updatedAtMs, Date.now())} ago.</span>
          )}
        </div>
      )}
      {dropError && (
        <div className="banner banner-error" role="alert">
          {dropError}
        </div>
      )}
      {data?.config.error && (
        <div className="banner banner-warn" role="alert" data-testid="config-error">
          <strong>{data.config.file} is invalid</strong> — the mesh keeps running config v{data.config.version}, the last
          good one.
          <pre>{data.config.error}</pre>
        </div>
      )}

      <main className={`content ${status.error ? 'stale' : ''}`} data-screen={route.screen}>
        {!data ? (
          <p className="empty">{status.error ? 'No status available.' : 'Loading…'}</p>
        ) : route.screen === 'overview' ? (
          <OverviewPage client={client} status={data} nowMs={status.updatedAtMs ?? Date.now()} onRefresh={status.refresh} go={go} />
        ) : route.screen === 'service' ? (
          <ServicePage client={client} status={data} name={route.params.get('name') ?? data.services[0]?.name ?? ''} nowMs={status.updatedAtMs ?? Date.now()} onRefresh={status.refresh} go={go} />
        ) : route.screen === 'traces' ? (
          <TracesPage client={client} serviceNames={serviceNames} params={route.params} go={go} onError={onTraceError} />
        ) : route.screen === 'config' ? (
          <ConfigPage client={client} status={data} />
        ) : route.screen === 'tap' ? (
          <TapPage client={client} serviceNames={serviceNames} initialService={route.params.get('service') ?? ''} go={go} />
        ) : route.screen === 'logs' ? (
          <LogsPage client={client} serviceNames={serviceNames} params={route.params} go={go} />
        ) : (
          <ImportPage client={client} status={data} />
        )}
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
