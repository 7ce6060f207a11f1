// OTLP/HTTP ingest on 127.0.0.1 (POST /v1/traces, /v1/metrics, /v1/logs), so apps instrumented with an
// OpenTelemetry SDK send their own spans (they join the sidecar spans of the same trace), metrics and logs. Every request must carry the
// mesh's ingest token (OTLP_TOKEN_HEADER, or `Authorization: Bearer`), so no other local process can write
// into the trace store: apps started by devmesh get it in OTEL_EXPORTER_OTLP_HEADERS, which every
// OpenTelemetry SDK reads, with no code change. It is its own token: it can add telemetry and nothing else,
// where the API token controls the mesh. The same token guards the OTLP/gRPC receiver (otlp-grpc.ts).
// Both OTLP/HTTP encodings are served, as the spec asks of a receiver: JSON (`application/json`) and
// protobuf (`application/x-protobuf`, the SDKs' usual default), each optionally gzip-compressed; a reply
// uses the request's encoding (an empty Export*ServiceResponse, or a google.rpc.Status on error). A body
// that is not what its path says (a metrics request on /v1/traces) is a 400 saying where it belongs.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { encodeRpcStatus, OTLP_PROTOBUF_SUCCESS } from './otlp-proto.js';
import { OtlpRequestError, parseOtlp, type OtlpBatch, type OtlpSignal } from './otlp-signals.js';

const MAX_BODY = 8 * 1024 * 1024;
/** The header carrying the ingest token (a token without spaces, so it needs no escaping in OTEL_EXPORTER_OTLP_HEADERS). */
export const OTLP_TOKEN_HEADER = 'x-devmesh-otlp-token';
const gunzipAsync = promisify(gunzip);
const SIGNAL_OF_PATH: Record<string, OtlpSignal> = { '/v1/traces': 'traces', '/v1/metrics': 'metrics', '/v1/logs': 'logs' };

/** How a request came: OTLP/HTTP with either encoding, or OTLP/gRPC (as OTEL_EXPORTER_OTLP_PROTOCOL names them). */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';

/** Where a receiver hands what it took: spans, metrics or log records, already validated and mapped. */
export type OtlpSink = (batch: OtlpBatch, protocol: OtlpProtocol) => void;

/** A request a receiver refused (bad token, bad body, unknown path), for a counter and a log line. */
export type OtlpRejected = (rejected: { signal: OtlpSignal | null; protocol: OtlpProtocol; message: string }) => void;

/** Whether `given` is the ingest token (constant time). */
export function isOtlpToken(given: string, token: Buffer): boolean {
  const b = Buffer.from(given);
  return b.length === token.length && timingSafeEqual(b, token);
}

/** The token a request carries, in OTLP_TOKEN_HEADER or as `Authorization: Bearer`. */
export function otlpTokenOf(header: unknown, authorization: unknown): string {
  if (typeof header === 'string') return header;
  return /^Bearer (.+)$/i.exec(typeof authorization === 'string' ? authorization : '')?.[1] ?? '';
}

type Encoding = 'json' | 'protobuf';

function encodingOf(contentType: string): Encoding | null {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type.endsWith('json')) return 'json';
  return null;
}

function reply(res: ServerResponse, encoding: Encoding, status: number, error?: string): void {
  if (encoding === 'protobuf') {
    // google.rpc.Code: 3 INVALID_ARGUMENT, 5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, 16 UNAUTHENTICATED
    const code = status === 401 ? 16 : status === 404 ? 5 : status === 413 ? 8 : 3;
    const body = error === undefined ? OTLP_PROTOBUF_SUCCESS : encodeRpcStatus(code, error);
    res.writeHead(status, { 'content-type': 'application/x-protobuf', 'content-length': body.length });
    res.end(body);
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(error === undefined ? {} : { error }));
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.resume();
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export class OtlpReceiver {
  private readonly server: Server;

  private readonly token: Buffer;

  constructor(
    private readonly sink: OtlpSink,
    token: string,
    private readonly onRejected: OtlpRejected = () => {},
  ) {
    this.token = Buffer.from(token);
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  private authorized(req: IncomingMessage): boolean {
    return isOtlpToken(otlpTokenOf(req.headers[OTLP_TOKEN_HEADER], req.headers.authorization), this.token);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const encoding = encodingOf(req.headers['content-type'] ?? '');
    const path = (req.url ?? '').split('?')[0] ?? '';
    const signal = SIGNAL_OF_PATH[path] ?? null;
    const refuse = (status: number, message: string, as: Encoding = encoding ?? 'json') => {
      req.resume();
      this.onRejected({ signal, protocol: as === 'protobuf' ? 'http/protobuf' : 'http/json', message });
      reply(res, as, status, message);
    };
    if (!this.authorized(req)) return refuse(401, `send the mesh's OTLP token in ${OTLP_TOKEN_HEADER} (apps started by devmesh get it in OTEL_EXPORTER_OTLP_HEADERS; devmesh status shows it)`);
    if (req.method !== 'POST' || signal === null) return refuse(404, `OTLP/HTTP here is POST /v1/traces, /v1/metrics or /v1/logs (not ${req.method} ${path})`);
    if (encoding === null) return refuse(415, 'send OTLP as application/x-protobuf or application/json', 'json');
    try {
      let body = await readBody(req);
      if (body === null) return refuse(413, `body over ${MAX_BODY} bytes`);
      const contentEncoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (contentEncoding === 'gzip') body = await gunzipAsync(body);
      else if (contentEncoding !== 'identity') return refuse(415, `unsupported content-encoding ${contentEncoding} (gzip or none)`);
      let batch: OtlpBatch;
      try {
        batch = parseOtlp(signal, body, encoding);
      } catch (err) {
        if (err instanceof OtlpRequestError) return refuse(400, `POST ${path}: ${err.message.slice(0, 500)}`);
        throw err;
      }
      this.sink(batch, encoding === 'protobuf' ? 'http/protobuf' : 'http/json');
      reply(res, encoding, 200);
    } catch (err) {
      if (!res.headersSent) refuse(400, (err as Error).message.slice(0, 500));
    }
  }

  /** Listens on `port` (4318 is OTLP/HTTP's default); falls back to a free port when it is taken. */
  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE' && port !== 0) {
          this.server.listen(0, '127.0.0.1');
        } else reject(err);
      };
      this.server.on('error', onError);
      this.server.on('listening', () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
      this.server.listen(port, '127.0.0.1');
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
