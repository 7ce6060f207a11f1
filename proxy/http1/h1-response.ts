import { Readable } from 'node:stream';

export type Headers = Record<string, string | string[]>;

export const EMPTY = Buffer.alloc(0);

/** The response body as a stream, made only when asked for (a complete body never needs one). */
export class H1Body extends Readable {
  constructor(private readonly onRead: () => void) {
    super();
  }
  override _read(): void {
    this.onRead();
  }
  /** Reads and drops the rest (for a response nobody relays: a retried or mirrored one). */
  dump(): void {
    this.resume();
  }
}

/**
 * An upstream response. Its `headers` never hold framing the parser did not use: no `transfer-encoding`
 * (a chunked body arrives decoded), and a `content-length` only where it framed the body (or, for HEAD,
 * 204 and 304, where it describes a body not sent), so a relay cannot forward stale framing.
 */
export class H1Response {
  /** Filled as they arrive (chunked trailers), before the body ends. */
  readonly trailers: Headers = {};
  /** The whole body, when it arrived with the head (nothing left to stream); else null and `body` streams. */
  complete: Buffer | null = null;
  private stream: H1Body | null = null;

  constructor(
    readonly statusCode: number,
    readonly headers: Headers,
  ) {}

  /** The rest of the body arrives later, through `stream`. */
  streamFrom(stream: H1Body): void {
    this.stream = stream;
  }

  /** The body as a stream (for a complete body, made on first use: a stream of that one Buffer). */
  get body(): H1Body {
    if (this.stream === null) {
      const s = new H1Body(() => {});
      const done = this.complete ?? EMPTY;
      if (done.length > 0) s.push(done);
      s.push(null);
      this.stream = s;
    }
    return this.stream;
  }

  /** Drops the body: nothing to do for a complete one, else read to the end (the connection stays usable). */
  dump(): void {
    if (this.stream !== null) this.stream.dump();
  }
}
