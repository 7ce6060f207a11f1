// OTLP/HTTP export of every signal to an external collector (Jaeger, Tempo, an OpenTelemetry Collector) for
// users who outgrow the laptop: DEVMESH_OTLP_EXPORT=http://127.0.0.1:4318. Spans (the sidecars' and the
// apps') go to /v1/traces; the metrics and log records apps send go on, as received, to /v1/metrics and
// /v1/logs. Batched once a second; a collector that is down costs a log line per failed batch, never a
// blocked request. DEVMESH_OTLP_EXPORT_HEADERS (k=v,k=v, as OTEL_EXPORTER_OTLP_HEADERS) go with each request.
import { spansToOtlp } from './otlp.js';
import type { OtlpSignal, RawOtlp } from './otlp-signals.js';
import type { IncomingSpan } from './trace-store.js';

const MAX_REQUESTS = 1000;

export class OtlpExporter {
  private queue: IncomingSpan[] = [];
  private metrics: RawOtlp[] = [];
  private logs: RawOtlp[] = [];
  private readonly timer: NodeJS.Timeout;
  private failures = 0;

  /** `headers` go with every request (a collector's own auth), as OTEL_EXPORTER_OTLP_HEADERS would say them. */
  constructor(
    private readonly endpoint: string,
    private readonly log: (line: string) => void,
    private readonly headers: Record<string, string> = {},
    private readonly maxQueue = 50_000,
  ) {
    this.timer = setInterval(() => void this.flush(), 1000);
    this.timer.unref();
  }

  enqueue(spans: readonly IncomingSpan[]): void {
    this.queue.push(...spans);
    if (this.queue.length > this.maxQueue) this.queue.splice(0, this.queue.length - this.maxQueue);
  }

  enqueueMetrics(request: RawOtlp): void {
    this.metrics.push(request);
    if (this.metrics.length > MAX_REQUESTS) this.metrics.splice(0, this.metrics.length - MAX_REQUESTS);
  }

  enqueueLogs(request: RawOtlp): void {
    this.logs.push(request);
    if (this.logs.length > MAX_REQUESTS) this.logs.splice(0, this.logs.length - MAX_REQUESTS);
  }

  private url(signal: OtlpSignal): string {
    // A signal-specific endpoint (…/v1/traces) is used as given for traces, as before; the others sit beside it.
    const base = this.endpoint.replace(/\/+$/, '').replace(/\/v1\/(traces|metrics|logs)$/, '');
    return `${base}/v1/${signal}`;
  }

  private async post(signal: OtlpSignal, body: unknown, what: string): Promise<void> {
    const url = this.url(signal);
    try {
      const res = await fetch(url, { method: 'POST', headers: { ...this.headers, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.failures = 0;
    } catch (err) {
      if (this.failures++ % 30 === 0) this.log(`otlp export to ${url} failed: ${(err as Error).message} (${what} dropped)`);
    }
  }

  async flush(): Promise<void> {
    const sends: Promise<void>[] = [];
    if (this.queue.length > 0) {
      const batch = this.queue.splice(0, 5000);
      sends.push(this.post('traces', spansToOtlp(batch), `${batch.length} spans`));
    }
    if (this.metrics.length > 0) {
      const batch = this.metrics.splice(0, 200);
      sends.push(this.post('metrics', { resourceMetrics: batch.flatMap((r) => (Array.isArray(r.resourceMetrics) ? (r.resourceMetrics as unknown[]) : [])) }, `${batch.length} metrics requests`));
    }
    if (this.logs.length > 0) {
      const batch = this.logs.splice(0, 200);
      sends.push(this.post('logs', { resourceLogs: batch.flatMap((r) => (Array.isArray(r.resourceLogs) ? (r.resourceLogs as unknown[]) : [])) }, `${batch.length} logs requests`));
    }
    await Promise.all(sends);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** `k=v,k2=v2` (values percent-decoded), the format of OTEL_EXPORTER_OTLP_HEADERS; throws naming a bad entry. */
export function parseHeaderList(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of (text ?? '').split(',')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`"${entry.trim()}": expected name=value`);
    out[entry.slice(0, eq).trim()] = decodeURIComponent(entry.slice(eq + 1).trim());
  }
  return out;
}
