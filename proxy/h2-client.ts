// HTTP/2 to one origin over one multiplexed session: h2 with ALPN and mesh mTLS to a destination sidecar,
// or h2c (prior knowledge) to a local app that speaks HTTP/2 or gRPC. Streams flow both ways at once
// (gRPC streaming) and trailers come back (grpc-status), which HTTP/1.1 (./http1/) cannot carry.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { ConnectionOptions } from 'node:tls';
import type { Readable } from 'node:stream';

export interface H2Response {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: ClientHttp2Stream;
  /** Filled when the trailers arrive, before the body ends. */
  trailers: Record<string, string | string[] | undefined>;
}

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

export class H2Client {
  private session: ClientHttp2Session | null = null;
  private closed = false;

  constructor(
    private readonly origin: string,
    private readonly tls: ConnectionOptions | null,
    private readonly connectTimeoutMs = 5_000,
  ) {}

  private connect(): ClientHttp2Session {
    const existing = this.session;
    if (existing !== null && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(this.origin, this.tls === null ? {} : { ...this.tls, ALPNProtocols: ['h2'] });
    this.session = session;
    const timer = setTimeout(() => {
      if (!session.connecting) return;
      const err = new Error(`connect to ${this.origin} timed out`) as Error & { code: string };
      err.code = 'UND_ERR_CONNECT_TIMEOUT';
      session.destroy(err);
    }, this.connectTimeoutMs);
    session.once('connect', () => clearTimeout(timer));
    const forget = (): void => {
      clearTimeout(timer);
      if (this.session === session) this.session = null;
    };
    session.once('close', forget);
    session.once('goaway', forget);
    session.on('error', forget);
    // An idle session must not keep the sidecar's event loop alive on shutdown.
    session.unref();
    return session;
  }

  request(
    method: string,
    path: string,
    authority: string,
    headers: string[],
    body: Buffer | Readable | null,
    signal?: AbortSignal,
  ): Promise<H2Response> {
    if (this.closed) return Promise.reject(Object.assign(new Error('client closed'), { code: 'ECONNREFUSED' }));
    const out: OutgoingHttpHeaders = {
      ':method': method,
      ':path': path,
      ':authority': authority,
      ':scheme': this.tls === null ? 'http' : 'https',
    };
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name === 'host') {
        out[':authority'] = headers[i + 1]!;
        continue;
      }
      const prev = out[name];
      out[name] = prev === undefined ? headers[i + 1]! : [...(Array.isArray(prev) ? prev : [String(prev)]), headers[i + 1]!];
    }
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = this.connect().request(out, { endStream: body === null });
      } catch (err) {
        reject(err);
        return;
      }
      const trailers: H2Response['trailers'] = {};
      let answered = false;
      const onAbort = (): void => {
        stream.close(NGHTTP2_CANCEL);
        if (!answered) reject(Object.assign(new Error('aborted'), { code: 'UND_ERR_ABORTED' }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.once('response', (h: IncomingHttpHeaders) => {
        answered = true;
        signal?.removeEventListener('abort', onAbort);
        const headersOut: H2Response['headers'] = {};
        for (const name in h) if (name[0] !== ':') headersOut[name] = h[name];
        resolve({ statusCode: Number(h[':status']), headers: headersOut, body: stream, trailers });
      });
      stream.on('trailers', (t: IncomingHttpHeaders) => {
        for (const name in t) if (name[0] !== ':') trailers[name] = t[name];
      });
      stream.once('error', (err: Error & { code?: string }) => {
        if (answered) return;
        signal?.removeEventListener('abort', onAbort);
        if (stream.rstCode === NGHTTP2_REFUSED_STREAM) err.code = 'REFUSED_STREAM';
        reject(err);
      });
      stream.once('close', () => {
        if (answered) return;
        signal?.removeEventListener('abort', onAbort);
        const code = stream.rstCode === NGHTTP2_REFUSED_STREAM ? 'REFUSED_STREAM' : 'UND_ERR_SOCKET';
        reject(Object.assign(new Error(`stream closed before a response (rst ${stream.rstCode})`), { code }));
      });
      if (Buffer.isBuffer(body)) stream.end(body);
      else if (body !== null) body.pipe(stream);
    });
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = null;
  }
}
