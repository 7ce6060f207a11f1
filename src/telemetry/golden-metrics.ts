// Golden metrics (requests/s, success rate, latency percentiles) and topology edges, computed from the
// spans the sidecars report. Every request through the mesh produces a span at each sidecar it crosses,
// so the figures are exact for the window asked; they are computed per query rather than kept as
// counters, which at a laptop's request rates costs a few milliseconds.
import type { EdgeStats, MetricPoint, Span } from '../contract/api.js';
import { isErrorSpan } from './trace-store.js';

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** The caller of a server span is not recorded on it; the gateway and client spans say who called whom. */
export function edgesOf(spans: readonly Span[], windowMs: number): EdgeStats[] {
  const groups = new Map<string, Span[]>();
  for (const s of spans) {
    if (s.kind !== 'client' || !s.peerService) continue;
    const key = `${s.service}\u0000${s.peerService}`;
    const list = groups.get(key);
    if (list) list.push(s);
    else groups.set(key, [s]);
  }
  return [...groups.entries()]
    .map(([key, list]) => {
      const [source, target] = key.split('\u0000') as [string, string];
      const durations = list.map((s) => s.durationMs).sort((a, b) => a - b);
      return {
        source,
        target,
        requests: list.length,
        rps: list.length / (windowMs / 1000),
        successRate: list.filter((s) => !isErrorSpan(s)).length / list.length,
        p50Ms: percentile(durations, 50),
        p99Ms: percentile(durations, 99),
      };
    })
    .sort((a, b) => a.source.localeCompare(b.source) || a.target.localeCompare(b.target));
}

/** Buckets of `stepMs` from `fromMs` to `toMs`; empty buckets are kept (zero requests), so charts do not skip time. */
export function seriesOf(spans: readonly Span[], fromMs: number, toMs: number, stepMs: number): MetricPoint[] {
  const n = Math.max(1, Math.ceil((toMs - fromMs) / stepMs));
  const buckets: Span[][] = Array.from({ length: n }, () => []);
  for (const s of spans) {
    const i = Math.floor((s.startMs - fromMs) / stepMs);
    if (i >= 0 && i < n) buckets[i]!.push(s);
  }
  return buckets.map((list, i) => {
    const durations = list.map((s) => s.durationMs).sort((a, b) => a - b);
    return {
      tMs: fromMs + i * stepMs,
      requests: list.length,
      rps: list.length / (stepMs / 1000),
      successRate: list.length ? list.filter((s) => !isErrorSpan(s)).length / list.length : null,
      p50Ms: percentile(durations, 50),
      p95Ms: percentile(durations, 95),
      p99Ms: percentile(durations, 99),
    };
  });
}
