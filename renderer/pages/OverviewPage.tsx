// Overview: the topology with live edges, the services and their instances, and start/stop/restart of a
// service or the whole mesh with the operation's progress shown while it runs.
import { useCallback, useState } from 'react';
import type { LifecycleAction, OperationStatus, StatusResponse, TopologyResponse } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { LifecycleButtons, ServicesPanel } from '../components/ServicesPanel';
import { TopologyGraph } from '../components/TopologyGraph';
import { formatUptime } from '../format';
import { usePolling } from '../hooks/usePolling';
import type { Screen } from '../router';

interface Props {
  client: ApiClient;
  status: StatusResponse;
  nowMs: number;
  onRefresh(): void;
  go(screen: Screen, params?: Record<string, string>): void;
}

export function useLifecycle(client: ApiClient, status: StatusResponse, onRefresh: () => void) {
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(
    (action: LifecycleAction, service: string | null) => {
      setError(null);
      client.lifecycle(action, service).then(onRefresh, (e: Error) => setError(e.message));
    },
    [client, onRefresh],
  );
  const running = (status.operations ?? []).filter((o) => o.state === 'running');
  const busy = new Set(running.map((o) => o.service ?? '*'));
  if (busy.has('*')) for (const s of status.services) busy.add(s.name);
  return { run, error, busy, running };
}

export function OperationsBar({ operations, error }: { operations: OperationStatus[]; error: string | null }) {
  const recent = operations.filter((o) => o.state === 'running' || Date.now() - (o.finishedAtMs ?? 0) < 8000);
  if (recent.length === 0 && !error) return null;
  return (
    <div className="operations" aria-live="polite" data-testid="operations">
      {error && <div className="inline-error">{error}</div>}
      {recent.map((o) => (
        <div key={o.id} className={`operation op-${o.state}`} data-testid="operation" data-state={o.state} data-action={o.action} data-service={o.service ?? ''}>
          {o.state === 'running' ? <span className="spinner" aria-hidden="true" /> : o.state === 'succeeded' ? '✓' : '✕'} {o.detail}
          <span className="muted small"> · {formatUptime(o.startedAtMs, o.finishedAtMs ?? Date.now())}</span>
        </div>
      ))}
    </div>
  );
}

export function OverviewPage({ client, status, nowMs, onRefresh, go }: Props) {
  const topology = usePolling<TopologyResponse>((signal) => client.topology(60_000, signal), { intervalMs: 2000 });
  const { run, error, busy } = useLifecycle(client, status, onRefresh);
  const running = status.services.reduce((n, s) => n + s.instances.filter((i) => i.state === 'running').length, 0);
  const total = status.services.reduce((n, s) => n + s.instances.length, 0);
  return (
    <div className="page overview">
      <section className="panel">
        <header className="panel-head">
          <h2>Topology</h2>
          <span className="muted small">last minute · edge colour is success rate · click a service for its detail</span>
          <div className="spacer" />
          <span className="muted small" data-testid="mesh-count">
            {running}/{total} instances running
          </span>
          <LifecycleButtons target="mesh" label="the whole mesh" busy={busy.size > 0} onAction={(a) => run(a, null)} />
        </header>
        <OperationsBar operations={status.operations ?? []} error={error} />
        <div className="topology-wrap">
          <TopologyGraph services={status.services} edges={topology.data?.edges ?? []} ingress={status.ingress.map((i) => i.service)} onSelect={(name) => go('service', { name })} />
        </div>
      </section>
      <section className="panel services-panel">
        <header className="panel-head">
          <h2>Services</h2>
          <span className="muted small">
            {status.services.length} services · {running}/{total} instances running
          </span>
        </header>
        <ServicesPanel services={status.services} configVersion={status.config.version} nowMs={nowMs} onAction={run} busy={busy} />
      </section>
    </div>
  );
}
