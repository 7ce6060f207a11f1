import type net from 'node:net';
import type { Readable } from 'node:stream';
import { abortError } from './h1-error.js';
import type { H1Connection } from './h1-connection.js';
import type { H1Response, Headers } from './h1-response.js';

export interface H1Request {
  method: string;
  path: string;
  /** Flat [name, value, ...]; names lower case. A `host` is added when absent. */
  headers: readonly string[];
  body: Buffer | Readable | null;
  signal?: AbortSignal;
}

export type UpgradeOutcome =
  /** `socket` is paused, with any bytes that followed the 101 put back: pipe() it, or resume() it. */
  | { upgraded: true; headers: Headers; socket: net.Socket }
  | { upgraded: false; status: number; headers: Headers; body: Buffer };

/** What an exchange needs from its pool: to leave the queue when aborted while waiting. */
export interface ExchangeQueue {
  unqueue(ex: Exchange): void;
}

/** One request/response, from dispatch to the end of the response body. */
export class Exchange {
  response: H1Response | null = null;
  settled = false;
  /** The connection carrying it, once started. */
  conn: H1Connection | null = null;
  private onAbort: (() => void) | null = null;

  constructor(
    readonly req: H1Request,
    private readonly resolveFn: (r: H1Response | UpgradeOutcome) => void,
    private readonly rejectFn: (e: Error) => void,
    readonly upgrade: string | null,
    queue: ExchangeQueue,
  ) {
    const signal = req.signal;
    if (signal !== undefined) {
      // Waiting for a connection, connecting, or exchanging: an abort ends it at once.
      const onAbort = (): void => {
        if (this.conn !== null) this.conn.destroy(abortError());
        else {
          queue.unqueue(this);
          this.fail(abortError());
        }
      };
      this.onAbort = onAbort;
      signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  succeed(r: H1Response | UpgradeOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFn(r);
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.end();
    this.rejectFn(err);
  }

  /** The exchange is over (response body included): the signal no longer concerns it. */
  end(): void {
    if (this.onAbort !== null) {
      this.req.signal!.removeEventListener('abort', this.onAbort);
      this.onAbort = null;
    }
    this.conn = null;
  }
}
