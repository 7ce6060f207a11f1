// Spans leave in batches (~200 ms or 500 spans): one IPC message per request would cost more than the
// request itself. The timer exists only while spans wait, so an idle sidecar has no wakeups.
import type { SidecarMessage, SpanRecord } from '../protocol.js';

export const FLUSH_INTERVAL_MS = 200;
export const MAX_BATCH = 500;

export class SpanExporter {
  private batch: SpanRecord[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly send: (msg: SidecarMessage) => void) {}

  record(span: SpanRecord): void {
    this.batch.push(span);
    if (this.batch.length >= MAX_BATCH) this.flush();
    else if (this.timer === null) this.timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
  }

  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.batch.length === 0) return;
    const spans = this.batch;
    this.batch = [];
    this.send({ type: 'spans', spans });
  }
}
