// Turns the engine's pull events (one per layer: "Downloading" with current/total bytes, "Pull complete",
// "Already exists") into one line a person can read: "42% of 27.1 MB, 3/5 layers".
import { z } from 'zod';

const PullEvent = z.object({
  id: z.string().optional(),
  status: z.string().optional(),
  progressDetail: z.object({ current: z.number().optional(), total: z.number().optional() }).partial().optional(),
});

interface Layer {
  current: number;
  total: number;
  done: boolean;
}

export class PullProgress {
  private readonly layers = new Map<string, Layer>();

  static mb(bytes: number): string {
    return `${(bytes / 1e6).toFixed(1)} MB`;
  }

  add(raw: unknown): void {
    const parsed = PullEvent.safeParse(raw);
    if (!parsed.success || !parsed.data.id) return;
    const { id, status = '', progressDetail } = parsed.data;
    if (/^(Pulling from|Digest|Status)/.test(status)) return;
    const layer = this.layers.get(id) ?? { current: 0, total: 0, done: false };
    if (status === 'Downloading' && progressDetail?.total) {
      layer.total = progressDetail.total;
      layer.current = progressDetail.current ?? layer.current;
    }
    if (/^(Download complete|Pull complete|Already exists)/.test(status)) {
      layer.done = true;
      layer.current = layer.total;
    }
    this.layers.set(id, layer);
  }

  totalBytes(): number {
    let t = 0;
    for (const l of this.layers.values()) t += l.total;
    return t;
  }

  /** A fraction from 0 to 1 of the bytes known so far (layers report their size once they start). */
  fraction(): number {
    const total = this.totalBytes();
    if (total === 0) return this.layers.size > 0 && [...this.layers.values()].every((l) => l.done) ? 1 : 0;
    let current = 0;
    for (const l of this.layers.values()) current += l.current;
    return Math.min(1, current / total);
  }

  text(): string {
    const done = [...this.layers.values()].filter((l) => l.done).length;
    const total = this.totalBytes();
    return `${Math.floor(this.fraction() * 100)}%${total ? ` of ${PullProgress.mb(total)}` : ''}, ${done}/${this.layers.size} layers`;
  }
}
