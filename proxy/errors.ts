// Every response the proxy makes itself comes from here (linkerd2-proxy's ServerRescue): one place maps
// an error to a status and stamps PROXY_ERROR_HEADER (x-devmesh-error: <code>), so a user can tell a
// proxy 503 from an app 503 and knows what happened without reading logs.
import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROXY_ERROR_HEADER, ROUTE_HEADER } from './protocol/index.js';
import type { UpgradeOutcome } from './http1/index.js';

export type ProxyErrorCode =
  | 'no-route'
  | 'no-endpoints'
  | 'no-healthy-endpoints'
  | 'connect-failure'
  | 'timeout'
  | 'upstream-reset'
  | 'upstream-protocol-error'
  | 'overflow'
  | 'denied'
  | 'fault-abort'
  | 'downstream-closed'
  // The client's own request is malformed (RFC 9112): answered before any routing, on the raw socket.
  | 'bad-request'
  | 'headers-too-large'
  | 'request-timeout'
  | 'expectation-failed'
  | 'internal';

const STATUS: Record<ProxyErrorCode, number> = {
  'no-route': 404,
  'no-endpoints': 503,
  'no-healthy-endpoints': 503,
  'connect-failure': 503,
  timeout: 504,
  // As Envoy: a disconnect or reset before the response's headers is 503 (UC), an answer that breaks
  // HTTP's rules is 502 (UPE, "upstream_reset_before_response_started{protocol_error}"). The header
  // carries the exact code either way. Gateway API's retry conformance expects 500 or 503 for the first.
  'upstream-reset': 503,
  'upstream-protocol-error': 502,
  overflow: 503,
  denied: 403,
  'fault-abort': 503,
  // nginx's "client closed request": never seen by the client (it is gone), only by the span and metrics.
  'downstream-closed': 499,
  'bad-request': 400,
  'headers-too-large': 431,
  'request-timeout': 408,
  'expectation-failed': 417,
  internal: 500,
};

/** Envoy's response flags for each code: what istio_requests_total's response_flags label says. */
export const RESPONSE_FLAGS: Record<ProxyErrorCode, string> = {
  'no-route': 'NR',
  'no-endpoints': 'UH',
  'no-healthy-endpoints': 'UH',
  'connect-failure': 'UF',
  timeout: 'UT',
  'upstream-reset': 'UC',
  'upstream-protocol-error': 'UPE',
  overflow: 'UO',
  denied: 'RBAC',
  'fault-abort': 'FI',
  'downstream-closed': 'DC',
  // Envoy's "downstream protocol error".
  'bad-request': 'DPE',
  'headers-too-large': 'DPE',
  'request-timeout': 'DPE',
  'expectation-failed': 'DPE',
  internal: 'DPE',
};

export class ProxyError extends Error {
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    private readonly statusOverride?: number,
    readonly headers?: OutgoingHttpHeaders,
  ) {
    super(message);
  }

  get status(): number {
    return this.statusOverride ?? STATUS[this.code];
  }
}

/** gRPC status for each code, for a gRPC caller (Envoy's HTTP→gRPC mapping; a timeout is DEADLINE_EXCEEDED). */
const GRPC_STATUS: Record<ProxyErrorCode, number> = {
  'no-route': 12, // UNIMPLEMENTED
  'no-endpoints': 14, // UNAVAILABLE
  'no-healthy-endpoints': 14,
  'connect-failure': 14,
  timeout: 4, // DEADLINE_EXCEEDED
  'upstream-reset': 14,
  'upstream-protocol-error': 14,
  overflow: 14,
  denied: 7, // PERMISSION_DENIED
  'fault-abort': 14,
  'downstream-closed': 1, // CANCELLED
  'bad-request': 13,
  'headers-too-large': 13,
  'request-timeout': 4,
  'expectation-failed': 13,
  internal: 13, // INTERNAL
};

/** Envoy's Grpc::Utility::httpToGrpcStatus, for an HTTP fault abort sent to a gRPC caller. */
function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

/** The gRPC spec's percent-encoding for grpc-message: only '%' and bytes outside printable ASCII are encoded. */
function grpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * To a gRPC caller the proxy answers in gRPC: a trailers-only response (HTTP 200, content-type
 * application/grpc, grpc-status, grpc-message, in one HEADERS frame that ends the stream), so the client
 * library reports the status instead of a protocol error. x-devmesh-error and the other headers stay.
 */
function rescueGrpc(res: ServerResponse, err: ProxyError, route: string | null): void {
  const headers: OutgoingHttpHeaders = { ...err.headers };
  const explicit = headers['grpc-status'];
  const status = explicit !== undefined ? String(explicit) : String(err.code === 'fault-abort' ? grpcStatusOfHttp(err.status) : GRPC_STATUS[err.code]);
  headers['content-type'] = 'application/grpc';
  headers['grpc-status'] = status;
  if (headers['grpc-message'] === undefined) headers['grpc-message'] = grpcMessage(`${err.code}: ${err.message}`);
  headers[PROXY_ERROR_HEADER] = err.code;
  if (route !== null) headers[ROUTE_HEADER] = route;
  res.statusCode = 200;
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined) res.setHeader(name, v);
  }
  // No writeHead: Node's HTTP/2 compatibility layer then sends one HEADERS frame with END_STREAM.
  res.end();
}

/** Writes the proxy's own response for `err` and returns the code for the span. `grpc`: the caller speaks gRPC. */
export function rescue(res: ServerResponse, err: unknown, route: string | null, grpc = false): ProxyErrorCode {
  const proxyErr = err instanceof ProxyError ? err : new ProxyError('internal', (err as Error)?.message ?? String(err));
  if (res.headersSent || res.destroyed) {
    // Too late for a status line: cutting the connection is the only honest signal left.
    res.destroy();
    return proxyErr.code;
  }
  if (grpc) {
    rescueGrpc(res, proxyErr, route);
    return proxyErr.code;
  }
  const body = `${proxyErr.code}: ${proxyErr.message}\n`;
  const headers: OutgoingHttpHeaders = {
    ...proxyErr.headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [PROXY_ERROR_HEADER]: proxyErr.code,
  };
  if (route !== null) headers[ROUTE_HEADER] = route;
  res.writeHead(proxyErr.status, headers);
  res.end(body);
  return proxyErr.code;
}

/** How one try failed, in retryOn vocabulary (also what span `retry.reasons` lists for transport errors). */
export type TransportFailure = 'connect-failure' | 'reset' | 'refused-stream' | 'per-try-timeout';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'CONNECT_TIMEOUT',
  // TLS handshake failures: the connection was never usable.
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
]);

/** Sorts a client or socket error into connect failure (never reached the upstream) or reset. */
/**
 * The proxy's answer to a try that failed after the connection was made: a malformed response (the HTTP/1
 * parser's HPE_ codes) is a protocol error, anything else a reset. (Both are `reset` to a retry policy.)
 */
export function resetErrorCode(err: unknown): 'upstream-reset' | 'upstream-protocol-error' {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('HPE_') ? 'upstream-protocol-error' : 'upstream-reset';
}

export function classifyTransportError(err: unknown): TransportFailure {
  const code = (err as { code?: unknown })?.code;
  if (code === 'REFUSED_STREAM') return 'refused-stream';
  // The HTTP/1 client says when it failed before the connection was established: nothing was sent.
  if ((err as { phase?: unknown })?.phase === 'connect') return 'connect-failure';
  if (typeof code === 'string' && (CONNECT_CODES.has(code) || code.startsWith('ERR_SSL_'))) return 'connect-failure';
  return 'reset';
}

/**
 * The proxy's own answer written on a raw socket, where there is no ServerResponse: a malformed request
 * (Node's HTTP parser gave up on it), or a refused WebSocket upgrade. Same body and x-devmesh-error as
 * rescue(); the connection closes after it, since the byte stream can no longer be trusted to be in step.
 */
export function writeSocketError(socket: Duplex, err: ProxyError, route: string | null = null): void {
  const body = `${err.code}: ${err.message}\n`;
  let head = `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\n${PROXY_ERROR_HEADER}: ${err.code}\r\n`;
  if (route !== null) head += `${ROUTE_HEADER}: ${route}\r\n`;
  // The error's own headers (x-devmesh-authz naming the policy), each value on one line: never a second header.
  for (const name in err.headers) {
    const value = err.headers[name];
    if (value !== undefined) head += `${name}: ${String(value).replace(/[\r\n]/g, ' ')}\r\n`;
  }
  head += `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body);
}

/** Node's HTTP parser errors (http.Server 'clientError') as the proxy's codes; null: the client just went away. */
export function clientErrorOf(err: Error & { code?: string }): ProxyError | null {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return null;
    case 'HPE_HEADER_OVERFLOW':
      return new ProxyError('headers-too-large', 'the request head is larger than the limit (16 KiB)');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ProxyError('request-timeout', 'the request did not arrive in time');
    default:
      return new ProxyError('bad-request', `malformed request (${err.code ?? 'parse error'}): ${err.message}`);
  }
}

/**
 * An upstream's refusal of an upgrade (the next sidecar's 403, the app's 426), relayed on the raw
 * downstream socket as that answer, not as a proxy error, in a response that closes the connection.
 */
export function writeRefusal(socket: Duplex, refusal: Extract<UpgradeOutcome, { upgraded: false }>): void {
  let head = `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Refused'}\r\n`;
  for (const [name, value] of Object.entries(refusal.headers)) {
    if (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding' || name === 'content-length') continue;
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v.replace(/[\r\n]/g, ' ')}\r\n`;
  }
  head += `content-length: ${refusal.body.length}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), refusal.body]));
}
