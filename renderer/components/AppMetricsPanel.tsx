// The OpenTelemetry metrics a service's apps send over OTLP, on the service screen beside the golden metrics
// the sidecars give: one row per series (metric × attribute set × instance) with its latest value and, for
// counters, its rate; a row opens its chart over the points kept.
import { Fragment, useMemo, useState } from 'react';
import type { AppMetric, AppMetricSeries, AppMetricsResponse, AttributeValue } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { usePolling } from '../hooks/usePolling';
import { MetricChart } from './MetricChart';

interface Props {
  client: ApiClient;
  service: string;
}

const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '—' : Number.isInteger(v) ? String(v) : v.toPrecision(4));
const attrs = (a: Record<string, AttributeValue>) =>
  Object.entries(a)
    .filter(([k]) => k !== 'service.instance.id')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');

function latestOf(m: AppMetric, s: AppMetricSeries): string {
  const p = s.points[s.points.length - 1];
  if (!p) return '—';
  if (m.type === 'gauge' || m.type === 'sum') return `${fmt(p.value)}${m.unit && !m.unit.startsWith('{') ? ` ${m.unit}` : ''}`;
  return `n=${fmt(p.count)} · mean ${fmt(p.value)}${m.unit ? ` ${m.unit}` : ''}`;
}

export function AppMetricsPanel({ client, service }: Props) {
  const { data, error } = usePolling<AppMetricsResponse>((signal) => client.appMetrics(service, signal), { intervalMs: 5000, resetKey: service });
  const [open, setOpen] = useState<string | null>(null);
  const rows = useMemo(() => (data?.metrics ?? []).flatMap((m) => m.series.map((s, i) => ({ key: `${m.name}#${i}`, metric: m, series: s }))), [data]);
  return (
    <section className="panel" data-testid="app-metrics">
      <header className="panel-head">
        <h2>App metrics</h2>
        <span className="muted small">{data ? data.source : 'OpenTelemetry metrics the apps send over OTLP'}</span>
      </header>
      {error && <div className="inline-error">{error.message}</div>}
      {rows.length === 0 ? (
        <p className="empty small">{data ? 'No app metrics yet: an app with an OpenTelemetry SDK exports them with the environment devmesh gives it.' : 'Loading…'}</p>
      ) : (
        <table className="grid app-metrics">
          <thead>
            <tr>
              <th>metric</th>
              <th>type</th>
              <th>attributes</th>
              <th>instance</th>
              <th>latest</th>
              <th>rate</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ key, metric, series }) => (
              <Fragment key={key}>
                <tr className={open === key ? 'selected' : ''} onClick={() => setOpen(open === key ? null : key)} data-testid="app-metric-row" data-metric={metric.name}>
                  <td title={metric.description}>
                    <span className="mono">{metric.name}</span> {metric.description && <span className="muted small">{metric.description}</span>}
                  </td>
                  <td className="small">
                    {metric.type}
                    {metric.monotonic && metric.type === 'sum' ? ' (counter)' : ''}
                  </td>
                  <td className="mono small">{attrs(series.attributes)}</td>
                  <td className="small">{String(series.attributes['service.instance.id'] ?? '')}</td>
                  <td className="mono" data-testid="app-metric-latest">
                    {latestOf(metric, series)}
                  </td>
                  <td className="mono small">{series.ratePerSec === null ? '' : `${fmt(series.ratePerSec)}/s`}</td>
                </tr>
                {open === key && (
                  <tr>
                    <td colSpan={6}>
                      <MetricChart
                        title={`${metric.name}${metric.unit ? ` (${metric.unit})` : ''}`}
                        times={series.points.map((p) => p.tMs)}
                        series={[{ label: metric.type === 'gauge' || metric.type === 'sum' ? 'value' : 'mean', color: '#4e9cf5', values: series.points.map((p) => p.value) }]}
                        unit=""
                        height={120}
                      />
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
