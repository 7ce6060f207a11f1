// Request and response headers on a span, for the trace inspector's span detail, under OpenTelemetry's
// names (`http.request.header.<name>`, `http.response.header.<name>`, values of a repeated header joined
// with ", "). Bounded and redacted, because spans are stored, shown and exported: credentials are masked
// (the header stays visible, its value does not; so are credential-named query parameters in the path and
// in URL-valued headers, see redactQuery), values are cut at MAX_VALUE characters, and at most
// MAX_HEADERS headers are kept per direction (the rest are counted in `http.<dir>.header_dropped`).
// The sidecar only picks up the raw headers (sentResponseHeaders). Where span batches are decoded
// (./span-wire.ts), off the request path, they become header lines (headerLines): `> name: value` for the
// request, `< name: value` for the response, as curl -v shows them, already redacted and bounded. The
// lines are what the trace store keeps, in a column of their own (fewer bytes than the same headers as
// JSON attributes, and no object property per header; figures in docs/traffic.md); expandHeaderLines
// turns them into the attributes wherever a span is read or exported.
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { SpanRecord } from './index.js';

export const MAX_HEADERS = 32;
export const MAX_VALUE = 256;
export const REDACTED = '[redacted]';

/** Headers whose value is a credential by definition (RFC 9110, RFC 6265, and devmesh's own). */
const SECRET = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-devmesh-peer']);
/** Names the pattern below would catch that carry no credential: a challenge, and devmesh's authz verdict. */
const NOT_SECRET = new Set(['www-authenticate', 'proxy-authenticate', 'x-devmesh-authz']);
/** Conventional names of custom credential headers: x-api-key, x-auth-token, x-csrf-token, x-amz-security-token… */
const SECRET_NAME = /(auth|token|secret|passw|api-?key|session|cookie|credential|signature|csrf|xsrf)/;

/** Whether a (lower-cased) header name carries a credential; decided once per name, see headerName. */
function isSecret(name: string): boolean {
  return SECRET.has(name) || (!NOT_SECRET.has(name) && SECRET_NAME.test(name));
}

/**
 * Query parameters that carry a credential by name: OAuth's access/refresh/id tokens, API keys, passwords,
 * client secrets, signed-URL signatures (X-Amz-Signature, sig), session ids. Matched on the decoded,
 * lower-cased name; `author` or `keyword` are not caught, `key` and `sig` alone are.
 */
const SECRET_PARAM = /(token|secret|passw|api[-_]?key|credential|signature|session|jwt|csrf|xsrf)/;
const SECRET_PARAM_NAMES = new Set(['key', 'sig', 'pwd', 'pass', 'auth', 'authorization', 'code_verifier']);
/** Headers whose value is a URL or a request target, so may carry such a query. */
const URL_HEADERS = new Set(['referer', 'location', 'content-location', 'origin', ':path']);

function isSecretParam(raw: string): boolean {
  let name = raw;
  try {
    name = decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    /* a malformed escape: judge the name as written */
  }
  name = name.toLowerCase();
  return SECRET_PARAM_NAMES.has(name) || SECRET_PARAM.test(name);
}

/**
 * The target (or URL) with the value of every credential-named query parameter replaced by REDACTED, the
 * names and every other parameter kept (`/x?token=abc&page=2` → `/x?token=[redacted]&page=2`). A span is
 * stored, shown and exported; the request itself is relayed as sent.
 */
export function redactQuery(target: string): string {
  const q = target.indexOf('?');
  if (q === -1) return target;
  const hash = target.indexOf('#', q);
  const end = hash === -1 ? target.length : hash;
  let out = target.slice(0, q + 1);
  let changed = false;
  let start = q + 1;
  while (start <= end) {
    let amp = target.indexOf('&', start);
    if (amp === -1 || amp > end) amp = end;
    const pair = target.slice(start, amp);
    const eq = pair.indexOf('=');
    if (eq > 0 && isSecretParam(pair.slice(0, eq))) {
      out += `${pair.slice(0, eq + 1)}${REDACTED}`;
      changed = true;
    } else out += pair;
    if (amp < end) out += '&';
    start = amp + 1;
  }
  return changed ? out + target.slice(end) : target;
}

/** Header lines (see the top of this file) of one span: request lines first. */
export type HeaderLines = string;
const REQUEST_MARK = '> ';
const RESPONSE_MARK = '< ';

/** What is decided once per header name as received: its attribute key, and how its value is stored. */
interface HeaderName {
  /** Lower-cased: a repeated header's values are joined under it. */
  name: string;
  key: string;
  /** The start of its header line: "> name: ". */
  line: string;
  secret: boolean;
  url: boolean;
}
// Names repeat from request to request: the lower-casing, the key string (which V8 would otherwise build and
// look up in its string table for every span) and the redaction verdict are made once per name and
// direction. Bounded, so hostile names cannot grow it; past the bound, a name is decided each time.
const MAX_NAMES = 1024;
const headerNames = { request: new Map<string, HeaderName>(), response: new Map<string, HeaderName>() };
function headerName(direction: 'request' | 'response', raw: string): HeaderName {
  const known = headerNames[direction];
  let h = known.get(raw);
  if (h === undefined) {
    // `raw` may be a slice of a whole span batch (span-wire.ts): what is cached must not hold the batch.
    const spelling = detached(raw);
    const name = spelling.toLowerCase();
    h = known.get(name) ?? {
      name, key: `http.${direction}.header.${name}`, line: `${direction === 'request' ? REQUEST_MARK : RESPONSE_MARK}${name}: `, secret: isSecret(name), url: URL_HEADERS.has(name),
    };
    if (known.size < MAX_NAMES - 1) known.set(name, h).set(spelling, h);
  }
  return h;
}

/** A copy of `s` that shares no memory with it (V8 makes a slice of a long string a view into it). */
function detached(s: string): string {
  return Buffer.from(s, 'utf16le').toString('utf16le');
}

/**
 * A flat [name, value, ...] header list as header lines for `direction`: names lower-cased, a repeated
 * header's values joined with ", ", credentials redacted, values and count bounded (the headers past the
 * bound are counted in `attributes['http.<direction>.header_dropped']`).
 */
export function headerLines(attributes: SpanRecord['attributes'], direction: 'request' | 'response', flat: readonly string[]): HeaderLines {
  const values = new Map<string, { h: HeaderName; value: string }>(); // by key: "Accept" and "accept" are one header
  let dropped = 0;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const raw = flat[i]!;
    // HTTP/2 pseudo-headers (:path, :authority…) are already the span's method, path and status.
    if (raw.charCodeAt(0) === 58 /* : */) continue;
    const h = headerName(direction, raw);
    const prev = values.get(h.key);
    if (prev !== undefined) prev.value = `${prev.value}, ${flat[i + 1]!}`;
    else if (values.size === MAX_HEADERS) dropped++;
    else values.set(h.key, { h, value: flat[i + 1]! });
  }
  const parts: string[] = [];
  for (const { h, value: raw } of values.values()) {
    const value = h.url ? redactQuery(raw) : raw;
    const bounded = h.secret ? REDACTED : value.length > MAX_VALUE ? `${value.slice(0, MAX_VALUE)}…` : value;
    // A line ends at \n: HTTP/1 and HTTP/2 both refuse CR and LF in a value, but a line must never be split.
    parts.push(h.line, bounded.includes('\n') || bounded.includes('\r') ? bounded.replace(/[\r\n]/g, ' ') : bounded, '\n');
  }
  if (dropped > 0) attributes[`http.${direction}.header_dropped`] = dropped;
  // join() makes one flat string: the values are copied out of the batch they were sliced from (which can
  // then go at once), and SQLite binds it without walking a chain of concatenations.
  return parts.join('');
}

/** Adds header lines to `attributes` as `http.request.header.<name>` and `http.response.header.<name>`. */
export function expandHeaderLines(attributes: SpanRecord['attributes'], lines: HeaderLines): void {
  let at = 0;
  while (at < lines.length) {
    let end = lines.indexOf('\n', at);
    if (end === -1) end = lines.length;
    const colon = lines.indexOf(': ', at + 2);
    if (colon !== -1 && colon < end) {
      const prefix = lines.startsWith(REQUEST_MARK, at) ? 'http.request.header.' : lines.startsWith(RESPONSE_MARK, at) ? 'http.response.header.' : null;
      if (prefix !== null) attributes[prefix + lines.slice(at + 2, colon)] = lines.slice(colon + 2, end);
    }
    at = end + 1;
  }
}

/** The attribute search `http.<direction>.header.<name>[=value]` as the text its line starts with (after a \n), or null for any other key. */
export function headerLineNeedle(key: string, value: string | null): string | null {
  const direction = key.startsWith('http.request.header.') ? REQUEST_MARK : key.startsWith('http.response.header.') ? RESPONSE_MARK : null;
  if (direction === null) return null;
  const name = key.slice(key.indexOf('.header.') + '.header.'.length);
  return `${direction}${name}: ${value === null ? '' : `${value}\n`}`;
}

/** The header lines of a response head as Node wrote it ("HTTP/1.1 200 OK\r\nname: value\r\n…"), flat. */
export function responseHeadLines(head: string): string[] {
  const out: string[] = [];
  const lines = head.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon > 0) out.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return out;
}

/**
 * The response headers as sent, for the span, at no cost on the request path: HTTP/1 answers with
 * `writeHead(status, headers)`, which takes Node's fast path and leaves `getHeaders()` empty, so the head
 * it wrote (`_header`, with what Node added itself: date, content-length, connection) is the truth then.
 * HTTP/2's compatibility response keeps its headers in `getHeaders()`.
 */
export function sentResponseHeaders(res: ServerResponse | Http2ServerResponse): string | string[] {
  const block = (res as { _header?: unknown })._header;
  if (typeof block === 'string' && block !== '') return block;
  const flat: string[] = [];
  const headers = res.getHeaders();
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) flat.push(name, String(one));
    else flat.push(name, String(v));
  }
  return flat;
}
