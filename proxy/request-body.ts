// Request bodies are buffered so a retry can send them again, up to a limit; beyond it they stream
// (and the request is not retried), so one large upload cannot make the sidecar hold its size in memory.
import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable } from 'node:stream';

export const MAX_BUFFERED_BODY = 1024 * 1024;

/** A Buffer (replayable), a Readable (streaming, single use). */
export type RequestBody = Buffer | Readable;

export function readRequestBody(req: IncomingMessage): Promise<RequestBody> {
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BUFFERED_BODY) return Promise.resolve(req);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_BUFFERED_BODY) {
        cleanup();
        req.pause();
        resolve(Readable.from(replay(chunks, req), { objectMode: false }));
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

async function* replay(head: Buffer[], rest: IncomingMessage): AsyncGenerator<Buffer> {
  yield* head;
  for await (const chunk of rest) yield chunk as Buffer;
}

/**
 * A request body that streams to the upstream as it arrives (gRPC streams and uploads are not held back)
 * while a copy is kept, up to a limit, so a retry can send it again: replayed from the copy, then
 * continued live, as Envoy does. Past the limit the copy is dropped and the request can no longer be retried.
 */
export class TeeBody {
  private chunks: Buffer[] = [];
  private size = 0;
  overflow = false;
  ended = false;
  private sink: PassThrough | null;
  private extra: PassThrough[] = [];

  constructor(
    private readonly req: Readable,
    private readonly limit = MAX_BUFFERED_BODY,
  ) {
    this.sink = new PassThrough();
    req.on('data', (chunk: Buffer) => {
      if (!this.overflow) {
        this.size += chunk.length;
        if (this.size > this.limit) {
          this.overflow = true;
          this.chunks = [];
        } else this.chunks.push(chunk);
      }
      for (const e of this.extra) e.write(chunk);
      const sink = this.sink;
      if (sink !== null && !sink.write(chunk)) {
        req.pause();
        sink.once('drain', () => req.resume());
      }
    });
    req.once('end', () => {
      this.ended = true;
      this.sink?.end();
      for (const e of this.extra) e.end();
    });
    req.once('error', (err) => {
      this.sink?.destroy(err);
      for (const e of this.extra) e.destroy(err);
    });
  }

  /** The body for the first try. */
  first(): PassThrough {
    return this.sink!;
  }

  /** A second live copy from the start (for a mirror); null once data has been dropped. */
  copy(): PassThrough | null {
    if (this.overflow) return null;
    const p = new PassThrough();
    for (const c of this.chunks) p.write(c);
    if (this.ended) p.end();
    else this.extra.push(p);
    return p;
  }

  /** The body for a retry: the whole body when it has arrived, else the copy so far then the rest live; null past the limit. */
  again(): Buffer | PassThrough | null {
    if (this.overflow) return null;
    this.sink?.destroy();
    this.sink = null;
    if (this.ended) return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const p = new PassThrough();
    for (const c of this.chunks) p.write(c);
    this.sink = p;
    this.req.resume();
    return p;
  }
}
