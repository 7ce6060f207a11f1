// Request and response headers on a span, for the trace inspector's span detail, under OpenTelemetry's
// names (`http.request.header.<name>`, `http.response.header.<name>`, values of a repeated header joined
// with ", "). Bounded and redacted, because spans are stored, shown and exported: credentials are masked
// (the header stays visible, its value does not), values are cut at MAX_VALUE characters, and at most
// MAX_HEADERS headers are kept per direction (the rest are counted in `http.<dir>.header_dropped`).
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { SpanRecord } from '../protocol.js';

export const MAX_HEADERS = 32;
export const MAX_VALUE = 256;
export const REDACTED = '[redacted]';

/** Headers whose value is a credential by definition (RFC 9110, RFC 6265, and devmesh's own). */
const SECRET = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-devmesh-peer']);
/** Names the pattern below would catch that carry no credential: a challenge, and devmesh's authz verdict. */
const NOT_SECRET = new Set(['www-authenticate', 'proxy-authenticate', 'x-devmesh-authz']);
/** Conventional names of custom credential headers: x-api-key, x-auth-token, x-csrf-token, x-amz-security-token… */
const SECRET_NAME = /(auth|token|secret|passw|api-?key|session|cookie|credential|signature|csrf|xsrf)/;

// Header names repeat from request to request: decide each once (bounded, so hostile names cannot grow it).
const decided = new Map<string, boolean>();
function isSecret(name: string): boolean {
  let secret = decided.get(name);
  if (secret === undefined) {
    secret = SECRET.has(name) || (!NOT_SECRET.has(name) && SECRET_NAME.test(name));
    if (decided.size < 1024) decided.set(name, secret);
  }
  return secret;
}

function valueOf(v: string | number | readonly string[]): string {
  const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : v.join(', ');
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

/** Adds `headers` to `attributes` as `http.<direction>.header.<name>`, redacted and bounded. */
export function recordHeaders(
  attributes: SpanRecord['attributes'],
  direction: 'request' | 'response',
  headers: IncomingHttpHeaders | OutgoingHttpHeaders,
): void {
  const prefix = direction === 'request' ? 'http.request.header.' : 'http.response.header.';
  let kept = 0;
  let dropped = 0;
  for (const raw in headers) {
    const value = headers[raw];
    // HTTP/2 pseudo-headers (:path, :authority…) are already the span's method, path and status.
    if (value === undefined || raw.charCodeAt(0) === 58 /* : */) continue;
    if (kept === MAX_HEADERS) {
      dropped++;
      continue;
    }
    const name = raw.toLowerCase();
    attributes[prefix + name] = isSecret(name) ? REDACTED : valueOf(value);
    kept++;
  }
  if (dropped > 0) attributes[`http.${direction}.header_dropped`] = dropped;
}

/**
 * The response headers as sent. The proxy answers with `writeHead(status, headers)`, which on HTTP/1 takes
 * Node's fast path and leaves `getHeaders()` empty; the header block it wrote (`_header`, which also has
 * what Node added itself: date, content-length, connection) is the truth then. HTTP/2's compatibility
 * response keeps its headers in `getHeaders()`.
 */
export function recordResponseHeaders(attributes: SpanRecord['attributes'], res: ServerResponse | Http2ServerResponse): void {
  const block = (res as { _header?: unknown })._header;
  if (typeof block !== 'string' || block === '') {
    recordHeaders(attributes, 'response', res.getHeaders());
    return;
  }
  const headers: Record<string, string> = {};
  const lines = block.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  recordHeaders(attributes, 'response', headers);
}
