// Spans leave in batches (~200 ms or 500 spans): one IPC message per request would cost more than the
// request itself. Each span is encoded (./span-wire.ts) into one reused byte buffer the moment it is
// recorded, so nothing of a request stays on the JavaScript heap until the flush. (Kept as objects, or as
// strings, a batch's spans and the header strings they point to survived young-generation collections
// and were copied and promoted: with spans switched off, the benchmark pair used ~12 µs less CPU per
// request, and encoding to strings alone recovered none of it.) The timer exists only while spans wait,
// so an idle sidecar has no wakeups.
//
// The IPC channel has no backpressure of its own: batches the control plane has not read yet wait in the
// sidecar's memory. When MAX_UNWRITTEN_BYTES of them wait (the control plane is stalled, or far behind),
// new batches are dropped and counted, as Envoy drops spans its collector does not take: requests never
// wait for tracing, and a stalled control plane cannot grow a sidecar without bound.
import type { SidecarMessage } from '../protocol/index.js';
import { encodeSpan, type SpanSource } from '../protocol/span-wire.js';

export const FLUSH_INTERVAL_MS = 200;
export const MAX_BATCH = 500;
const BUFFER_BYTES = 512 * 1024;
/** Span bytes sent but not yet written into the channel, past which new batches are dropped. */
export const MAX_UNWRITTEN_BYTES = 8 * 1024 * 1024;

/**
 * Sends a message; `written` runs once it is in the channel (or the channel failed). Returns false when no
 * control plane is connected to take it (it is gone, or restarting): those spans are counted as dropped.
 */
export type SendWithAck = (msg: SidecarMessage, written: () => void) => boolean | void;

/** What the exporter drops: counted for the sidecar's metrics, and told once per episode. */
export interface DropReporter {
  dropped(spans: number): void;
  /** A drop episode starts (`backlogBytes` waiting) or ends (`total` spans dropped during it). */
  episode(event: { start: true; backlogBytes: number } | { start: false; total: number }): void;
}

export class SpanExporter {
  private buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private unwritten = 0;
  /** Spans dropped in the episode under way; -1 when none is. */
  private droppingSince = -1;

  constructor(
    private readonly send: SendWithAck,
    private readonly drops: DropReporter | null = null,
  ) {}

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
    const bytes = this.used;
    const spans = this.count;
    this.used = 0;
    this.count = 0;
    if (this.unwritten + bytes > MAX_UNWRITTEN_BYTES) {
      if (this.droppingSince === -1) {
        this.droppingSince = 0;
        this.drops?.episode({ start: true, backlogBytes: this.unwritten });
      }
      this.droppingSince += spans;
      this.drops?.dropped(spans);
      return;
    }
    if (this.droppingSince !== -1) {
      this.drops?.episode({ start: false, total: this.droppingSince });
      this.droppingSince = -1;
    }
    this.unwritten += bytes;
    // The channel copies (or frames) the batch at once, so the buffer can be reused right after.
    const sent = this.send({ type: 'spans', batch: this.buffer.subarray(0, bytes) }, () => {
      this.unwritten -= bytes;
    });
    if (sent === false) this.drops?.dropped(spans);
  }

  /** Span bytes handed to the channel and not yet written (what the control plane has not taken). */
  get backlogBytes(): number {
    return this.unwritten;
  }
}
