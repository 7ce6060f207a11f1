// Request bodies stream to the upstream as they arrive; a copy is kept, up to a limit, so a retry or a
// mirror can send them again. Beyond the limit the copy is dropped (the request is not retried), so one
// large upload cannot make the sidecar hold its size in memory.
//
// Every stream made here has an error listener from birth: a client that cuts its upload short destroys
// them while no upstream connection reads them yet (a busy or cold pool), and an 'error' nobody listens to
// would kill the whole sidecar. A failed body is seen by its reader as `destroyed`, and by the exchange
// through `failed` and `signal` (which ends a mirror copy's upstream request too).
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';

export const MAX_BUFFERED_BODY = 1024 * 1024;

/** A Buffer (replayable), a Readable (streaming, single use). */
export type RequestBody = Buffer | Readable;

/** Streams that already carry the error and will report it as `failed`: nothing more to do here. */
function ignore(): void {}

/** A PassThrough whose 'error' cannot escape as an unhandled event. */
function guarded(): PassThrough {
  const p = new PassThrough();
  p.on('error', ignore);
  return p;
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
  /** Set when the source failed (the client went away mid-body): nothing here can be sent again. */
  failed: Error | null = null;
  private sink: PassThrough | null;
  private extra: PassThrough[] = [];
  private abort: AbortController | null = null;

  constructor(
    private readonly req: Readable,
    private readonly limit = MAX_BUFFERED_BODY,
  ) {
    this.sink = guarded();
    req.on('data', (chunk: Buffer) => this.onData(chunk));
    req.once('end', () => this.onEnd());
    // The listener also keeps IncomingMessage from emitting an unhandled 'error' of its own.
    req.once('error', (err: Error) => this.onError(err));
  }

  /** Aborted when the source fails: for upstream requests (a mirror's) that read a copy. Made on first use. */
  get signal(): AbortSignal {
    this.abort ??= new AbortController();
    if (this.failed !== null) this.abort.abort(this.failed);
    return this.abort.signal;
  }

  /** The body for the first try. */
  first(): PassThrough {
    return this.sink!;
  }

  /** A second live copy from the start (for a mirror); null once data has been dropped or the body failed. */
  copy(): PassThrough | null {
    if (this.overflow || this.failed !== null) return null;
    const p = guarded();
    for (const c of this.chunks) p.write(c);
    if (this.ended) p.end();
    else this.extra.push(p);
    return p;
  }

  /** The body for a retry: the whole body when it has arrived, else the copy so far then the rest live; null past the limit or after a failure. */
  again(): Buffer | PassThrough | null {
    if (this.overflow || this.failed !== null) return null;
    this.sink?.destroy();
    this.sink = null;
    if (this.ended) return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const p = guarded();
    for (const c of this.chunks) p.write(c);
    this.sink = p;
    this.req.resume();
    return p;
  }

  private onData(chunk: Buffer): void {
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
      this.req.pause();
      sink.once('drain', this.resumeSource);
    }
  }

  /** Bound once (not per chunk): the sink drained, the source may flow again. */
  private readonly resumeSource = (): void => {
    this.req.resume();
  };

  private onEnd(): void {
    this.ended = true;
    this.sink?.end();
    for (const e of this.extra) e.end();
  }

  private onError(err: Error): void {
    this.failed = err;
    this.sink?.destroy(err);
    for (const e of this.extra) e.destroy(err);
    this.extra = [];
    this.abort?.abort(err);
  }
}
