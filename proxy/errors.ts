// Every response the proxy makes itself comes from here (linkerd2-proxy's ServerRescue): one place maps
// an error to a status and stamps PROXY_ERROR_HEADER (x-devmesh-error: <code>), so a user can tell a
// proxy 503 from an app 503 and knows what happened without reading logs.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { PROXY_ERROR_HEADER, ROUTE_HEADER } from './protocol.js';

export type ProxyErrorCode =
  | 'no-route'
  | 'no-endpoints'
  | 'no-healthy-endpoints'
  | 'connect-failure'
  | 'timeout'
  | 'upstream-reset'
  | 'overflow'
  | 'denied'
  | 'fault-abort'
  | 'internal';

const STATUS: Record<ProxyErrorCode, number> = {
  'no-route': 404,
  'no-endpoints': 503,
  'no-healthy-endpoints': 503,
  'connect-failure': 503,
  timeout: 504,
  // Envoy answers 503 for a reset too; 502 keeps "the upstream broke the exchange" apart from
  // "nothing could be reached", and the header carries the exact code either way.
  'upstream-reset': 502,
  overflow: 503,
  denied: 403,
  'fault-abort': 503,
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
  overflow: 'UO',
  denied: 'RBAC',
  'fault-abort': 'FI',
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

/** Writes the proxy's own response for `err` and returns the code for the span. */
export function rescue(res: ServerResponse, err: unknown, route: string | null): ProxyErrorCode {
  const proxyErr = err instanceof ProxyError ? err : new ProxyError('internal', (err as Error)?.message ?? String(err));
  if (res.headersSent || res.destroyed) {
    // Too late for a status line: cutting the connection is the only honest signal left.
    res.destroy();
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
