// Spans leave in batches (~200 ms or 500 spans): one IPC message per request would cost more than the
// request itself. Each span is encoded (./span-wire.ts) into one reused byte buffer the moment it is
// recorded, so nothing of a request stays on the JavaScript heap until the flush. (Kept as objects, or as
// strings, a batch's spans and the header strings they point to survived young-generation collections
// and were copied and promoted: with spans switched off, the benchmark pair used ~12 µs less CPU per
// request, and encoding to strings alone recovered none of it.) The timer exists only while spans wait,
// so an idle sidecar has no wakeups.
import type { SidecarMessage } from '../protocol.js';
import { encodeSpan, type SpanSource } from './span-wire.js';

export const FLUSH_INTERVAL_MS = 200;
export const MAX_BATCH = 500;
const BUFFER_BYTES = 512 * 1024;

export class SpanExporter {
  private buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly send: (msg: SidecarMessage) => void) {}

  record(span: SpanSource): void {
    const text = encodeSpan(span);
    // UTF-8 needs at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units).
    const worst = text.length * 3;
    if (this.used + worst > this.buffer.length) {
      this.flush();
      if (worst > this.buffer.length) this.buffer = Buffer.allocUnsafe(worst);
    }
    this.used += this.buffer.write(text, this.used, 'utf8');
    this.count++;
    if (this.count >= MAX_BATCH) this.flush();
    else if (this.timer === null) this.timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
  }

  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.used === 0) return;
    // process.send serializes at once, so the buffer can be reused right after.
    const batch = this.buffer.subarray(0, this.used);
    this.used = 0;
    this.count = 0;
    this.send({ type: 'spans', batch });
  }
}
