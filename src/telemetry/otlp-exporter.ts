// OTLP/HTTP export of every stored span to an external collector (Jaeger, Tempo, an OpenTelemetry
// Collector) for users who outgrow the laptop: DEVMESH_OTLP_EXPORT=http://127.0.0.1:4318. Batched once a
// second; a collector that is down costs a log line per failed batch, never a blocked request.
import type { Span } from '../contract/api.js';
import { spansToOtlp } from './otlp.js';

export class OtlpExporter {
  private queue: Span[] = [];
  private readonly timer: NodeJS.Timeout;
  private failures = 0;

  constructor(private readonly endpoint: string, private readonly log: (line: string) => void, private readonly maxQueue = 50_000) {
    this.timer = setInterval(() => void this.flush(), 1000);
    this.timer.unref();
  }

  enqueue(spans: readonly Span[]): void {
    this.queue.push(...spans);
    if (this.queue.length > this.maxQueue) this.queue.splice(0, this.queue.length - this.maxQueue);
  }

  async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, 5000);
    const url = this.endpoint.replace(/\/+$/, '') + (this.endpoint.endsWith('/v1/traces') ? '' : '/v1/traces');
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spansToOtlp(batch)), signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.failures = 0;
    } catch (err) {
      if (this.failures++ % 30 === 0) this.log(`otlp export to ${url} failed: ${(err as Error).message} (${batch.length} spans dropped)`);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
