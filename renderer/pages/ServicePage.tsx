// Service detail: its instances (state, pid, ports, uptime), start/stop/restart, inbound and outbound
// golden metrics over the last minutes, the metrics its apps send over OTLP, and its merged logs with links
// to traces.
import { useMemo } from 'react';
import type { MetricPoint, ServiceMetricsResponse, StatusResponse } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { AppMetricsPanel } from '../components/AppMetricsPanel';
import { MetricChart } from '../components/MetricChart';
import { LogViewer } from '../components/LogViewer';
import { LifecycleButtons, ServicesPanel } from '../components/ServicesPanel';
import { usePolling } from '../hooks/usePolling';
import { hrefOf, type Screen } from '../router';
import { OperationsBar, useLifecycle } from './OverviewPage';

interface Props {
  client: ApiClient;
  status: StatusResponse;
  name: string;
  nowMs: number;
  onRefresh(): void;
  go(screen: Screen, params?: Record<string, string>): void;
}

const WINDOW_MS = 5 * 60_000;
const STEP_MS = 10_000;

export function ServicePage({ client, status, name, nowMs, onRefresh, go }: Props) {
  const service = status.services.find((s) => s.name === name);
  const { run, error, busy } = useLifecycle(client, status, onRefresh);
  const metrics = usePolling<ServiceMetricsResponse>((signal) => client.serviceMetrics(name, WINDOW_MS, STEP_MS, signal), { intervalMs: 5000, resetKey: name });
  if (!service) return <p className="empty">No service “{name}” in this mesh.</p>;
  return (
    <div className="page service-page" data-testid="service-page" data-service={name}>
      <section className="panel">
        <header className="panel-head">
          <select value={name} onChange={(e) => go('service', { name: e.target.value })} aria-label="Service" data-testid="service-select">
            {status.services.map((s) => (
              <option key={s.name}>{s.name}</option>
            ))}
          </select>
          <a href={hrefOf('traces', { service: name })} className="small">traces</a>
          <a href={hrefOf('tap', { service: name })} className="small">tap</a>
          <a href={hrefOf('logs', { service: name })} className="small">structured logs</a>
          <a href={hrefOf('config', { service: name })} className="small">routes & policies</a>
          <div className="spacer" />
          <LifecycleButtons target={name} label={name} busy={busy.has(name)} onAction={(a) => run(a, name)} />
        </header>
        <OperationsBar operations={(status.operations ?? []).filter((o) => o.service === name || o.service === null)} error={error} />
        <ServicesPanel services={[service]} configVersion={status.config.version} nowMs={nowMs} />
      </section>
      <section className="panel">
        <header className="panel-head">
          <h2>Golden metrics</h2>
          <span className="muted small">last 5 minutes, 10 s buckets{metrics.data ? ` · ${metrics.data.source}` : ''}</span>
        </header>
        <div className="charts">
          <GoldenCharts direction="inbound" points={metrics.data?.inbound ?? []} />
          <GoldenCharts direction="outbound" points={metrics.data?.outbound ?? []} />
        </div>
      </section>
      <AppMetricsPanel client={client} service={name} />
      <LogViewer client={client} service={name} />
    </div>
  );
}

function GoldenCharts({ direction, points }: { direction: 'inbound' | 'outbound'; points: MetricPoint[] }) {
  const times = useMemo(() => points.map((p) => p.tMs), [points]);
  const rps = useMemo(() => [{ label: 'req/s', color: '#4e9cf5', values: points.map((p) => p.rps) }], [points]);
  const success = useMemo(() => [{ label: 'success %', color: '#3fb950', values: points.map((p) => (p.successRate === null ? null : p.successRate * 100)) }], [points]);
  const latency = useMemo(
    () => [
      { label: 'p50', color: '#43c59e', values: points.map((p) => p.p50Ms) },
      { label: 'p95', color: '#f2b544', values: points.map((p) => p.p95Ms) },
      { label: 'p99', color: '#f85149', values: points.map((p) => p.p99Ms) },
    ],
    [points],
  );
  const total = points.reduce((n, p) => n + p.requests, 0);
  return (
    <div className="chart-group" data-testid={`metrics-${direction}`} data-requests={total}>
      <h3>
        {direction === 'inbound' ? 'Inbound (requests it served)' : 'Outbound (calls it made)'} <span className="muted small">{total} requests</span>
      </h3>
      <MetricChart title="Requests/s" times={times} series={rps} unit="" testId={`chart-${direction}-rps`} />
      <MetricChart title="Success rate" times={times} series={success} unit="%" yRange={[0, 100]} testId={`chart-${direction}-success`} />
      <MetricChart title="Latency" times={times} series={latency} unit="ms" testId={`chart-${direction}-latency`} />
    </div>
  );
}
