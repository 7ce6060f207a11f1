// The last layer of an HTTP request at the inbound: to the app on 127.0.0.1, over a keep-alive HTTP/1 pool,
// or HTTP/2 (h2c) for http2 and grpc services. The request carries what the mesh knows and the app may use:
// the verified peer (x-devmesh-peer; a client's own is dropped), the server span as traceparent parent, and
// the caller's remaining deadline, past which nobody waits for the answer, so the inbound stops waiting too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { H2Client } from '../h2-client.js';
import { DEFAULT_POOL_OPTIONS, H1Pool } from '../http1/index.js';
import { ProxyError, classifyTransportError, rescue, resetErrorCode } from '../errors.js';
import { downstreamResponseHeaders, relayResponse, relayTrailersOnly, requestHasBody, upstreamRequestHeaders } from '../http-headers.js';
import { DEADLINE_HEADER, PROXY_ERROR_HEADER, type AppProtocol } from '../protocol/index.js';
import { pushTraceHeaders, REQUEST_ID_HEADER, TRACE_HEADERS } from '../tracing/trace-context.js';
import type { InboundExchange } from './inbound-exchange.js';
import { answerBodyLength } from '../metrics.js';

export const PEER_HEADER = 'x-devmesh-peer';
/** A client's x-devmesh-peer is never trusted: only the verified certificate speaks for the peer. */
const OWNED_HEADERS: ReadonlySet<string> = new Set([...TRACE_HEADERS, PEER_HEADER, DEADLINE_HEADER]);

function abortOnDeadline(controller: AbortController): void {
  controller.abort();
}

/** The app behind this sidecar, for one (port, protocol): replaced whole when either changes. */
export class AppUpstream {
  /** HTTP/1 to the app; also carries WebSocket handshakes for every protocol. */
  readonly pool: H1Pool;
  /** HTTP/2 (h2c) to the app, for http2 and grpc services. */
  readonly h2: H2Client | null;

  constructor(
    readonly port: number,
    readonly protocol: AppProtocol,
  ) {
    this.pool = new H1Pool({ host: '127.0.0.1', port, tls: null }, DEFAULT_POOL_OPTIONS);
    this.h2 = protocol === 'http2' || protocol === 'grpc' ? new H2Client(`http://127.0.0.1:${port}`, null) : null;
  }

  /** After a config change: requests in flight finish on the old connections. */
  close(): void {
    this.pool.close();
    this.h2?.close();
  }

  /** At shutdown: nothing finishes. */
  destroy(): void {
    this.h2?.close();
    this.pool.destroy();
  }

  /** The request's headers for the app: hop-by-hop and owned headers dropped, the mesh's added. */
  headersFor(ex: InboundExchange, req: IncomingMessage): string[] {
    const headers = upstreamRequestHeaders(req.headers, OWNED_HEADERS, req.rawHeaders);
    if (ex.peer !== null) headers.push(PEER_HEADER, ex.peer);
    // The app gets the server span as parent, in W3C and B3 form: whichever it forwards, its outbound call
    // nests under it; x-request-id too when the caller sent none (forwarding that alone also joins the trace).
    pushTraceHeaders(headers, ex.traceId, ex.spanId, ex.parentSpanId, ex.flags, ex.b3Single);
    if (ex.requestIdGenerated) headers.push(REQUEST_ID_HEADER, ex.requestId);
    return headers;
  }

  /** Sends the request to the app and relays its answer; a failure becomes the proxy's own answer. */
  async relay(ex: InboundExchange, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = this.headersFor(ex, req);
    const budget = Number(req.headers[DEADLINE_HEADER]);
    let controller: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    if (budget > 0) {
      headers.push(DEADLINE_HEADER, String(Math.floor(budget)));
      controller = new AbortController();
      timer = setTimeout(abortOnDeadline, budget, controller);
    }
    const body = requestHasBody(req) ? req : null;
    const signal = controller?.signal;
    try {
      const response =
        this.h2 !== null
          ? await this.h2.request(ex.method, ex.target, String(req.headers[':authority'] ?? req.headers.host ?? 'localhost'), headers, body, signal)
          : await this.pool.request({ path: ex.target, method: ex.method, headers, body, ...(signal !== undefined ? { signal } : {}) });
      clearTimeout(timer);
      const out = downstreamResponseHeaders(response.headers);
      // x-devmesh-error says "the sidecar made this answer": an app cannot say it (callers act on it).
      delete out[PROXY_ERROR_HEADER];
      ex.trailers = response.trailers;
      ex.responseBodyBytes = answerBodyLength(response);
      // Timed before the answer goes (a trailers-only answer is the whole response); relayResponse times it again otherwise.
      ex.responseEnded();
      if (relayTrailersOnly(res, response, response.statusCode, out)) return;
      res.writeHead(response.statusCode, out);
      // The exchange observes the body: a complete one (the common case) relays with no closure at all.
      relayResponse(response, res, ex);
    } catch (err) {
      clearTimeout(timer);
      if (signal?.aborted === true) {
        ex.error = rescue(res, new ProxyError('timeout', `app at 127.0.0.1:${this.port} did not answer within the propagated deadline of ${budget} ms`), null, ex.grpc);
        return;
      }
      const kind = classifyTransportError(err);
      const detail = `app at 127.0.0.1:${this.port}: ${err instanceof Error ? err.message : String(err)}`;
      ex.error = rescue(res, new ProxyError(kind === 'connect-failure' ? 'connect-failure' : resetErrorCode(err), detail), null, ex.grpc);
    }
  }
}
