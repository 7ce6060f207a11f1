// The OpenTelemetry metrics apps send over OTLP, kept in memory for the service screen, beside the golden
// metrics the sidecars' spans give. Bounded on every axis (services, metrics per service, series per metric,
// points per series), so an app with a cardinality explosion costs a fixed amount: what does not fit is
// dropped and counted, never stored.
import type { AppMetric, AppMetricPoint, AppMetricsResponse, AttributeValue } from '../contract/api.js';
import type { MetricBatch } from './otlp-signals.js';

export interface AppMetricsBounds {
  services: number;
  metricsPerService: number;
  seriesPerMetric: number;
  pointsPerSeries: number;
}

export const DEFAULT_APP_METRICS_BOUNDS: AppMetricsBounds = { services: 100, metricsPerService: 200, seriesPerMetric: 50, pointsPerSeries: 120 };

interface Series {
  attributes: Record<string, AttributeValue>;
  points: AppMetricPoint[];
}

interface StoredMetric extends Omit<AppMetric, 'series'> {
  series: Map<string, Series>;
}

/** Attributes as a stable key: the same set in any order is the same series. */
function seriesKey(attributes: Record<string, AttributeValue>): string {
  return JSON.stringify(Object.keys(attributes).sort().map((k) => [k, attributes[k]]));
}

/** The increase per second between the last two points of a cumulative counter; null when it reset or there is no pair. */
function rateOf(metric: StoredMetric, points: readonly AppMetricPoint[]): number | null {
  if (!metric.monotonic || metric.type === 'gauge' || points.length < 2) return null;
  const a = points[points.length - 2]!;
  const b = points[points.length - 1]!;
  const dt = (b.tMs - a.tMs) / 1000;
  if (dt <= 0) return null;
  const amount = (p: AppMetricPoint) => (metric.type === 'sum' ? p.value : (p.count ?? null));
  const va = amount(a);
  const vb = amount(b);
  if (va === null || vb === null) return null;
  if (metric.temporality === 'delta') return vb / dt;
  return vb >= va ? (vb - va) / dt : null;
}

export class AppMetricsStore {
  private readonly services = new Map<string, Map<string, StoredMetric>>();
  /** Points that did not fit a bound, for the UI to say so. */
  dropped = 0;
  private readonly bounds: AppMetricsBounds;

  constructor(bounds: Partial<AppMetricsBounds> = {}) {
    this.bounds = { ...DEFAULT_APP_METRICS_BOUNDS, ...bounds };
  }

  add(batches: readonly MetricBatch[]): void {
    for (const b of batches) {
      let metrics = this.services.get(b.service);
      if (!metrics) {
        if (this.services.size >= this.bounds.services) {
          this.dropped += b.points.length;
          continue;
        }
        metrics = new Map();
        this.services.set(b.service, metrics);
      }
      let metric = metrics.get(b.name);
      if (!metric || metric.type !== b.type) {
        if (!metric && metrics.size >= this.bounds.metricsPerService) {
          this.dropped += b.points.length;
          continue;
        }
        // A metric that changed its type starts over: its old points mean something else.
        metric = { name: b.name, description: b.description, unit: b.unit, type: b.type, monotonic: b.monotonic, temporality: b.temporality, instrumentationScope: b.scope, series: new Map() };
        metrics.set(b.name, metric);
      }
      for (const p of b.points) {
        // Instances of one service report the same series: the instance is part of its identity.
        const attributes = { ...p.attributes, 'service.instance.id': b.instanceId };
        const key = seriesKey(attributes);
        let series = metric.series.get(key);
        if (!series) {
          if (metric.series.size >= this.bounds.seriesPerMetric) {
            this.dropped++;
            continue;
          }
          series = { attributes, points: [] };
          metric.series.set(key, series);
        }
        const point: AppMetricPoint = { tMs: p.tMs, value: p.value, ...(p.count !== undefined ? { count: p.count } : {}), ...(p.sum !== undefined ? { sum: p.sum } : {}) };
        const last = series.points[series.points.length - 1];
        if (last && last.tMs === point.tMs) series.points[series.points.length - 1] = point;
        else series.points.push(point);
        if (series.points.length > this.bounds.pointsPerSeries) series.points.splice(0, series.points.length - this.bounds.pointsPerSeries);
      }
    }
  }

  /** Names of the services that sent metrics. */
  serviceNames(): string[] {
    return [...this.services.keys()].sort();
  }

  of(service: string): AppMetricsResponse {
    const metrics = [...(this.services.get(service)?.values() ?? [])]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => ({
        ...m,
        series: [...m.series.values()].map((s) => ({ attributes: s.attributes, points: [...s.points], ratePerSec: rateOf(m, s.points) })),
      }));
    return {
      service,
      metrics,
      source: `sent by the service's apps over OTLP (OpenTelemetry SDK metrics), the last ${this.bounds.pointsPerSeries} points of each series${this.dropped ? `; ${this.dropped} points dropped over the bounds` : ''}`,
    };
  }
}
