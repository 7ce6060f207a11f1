// Hop-by-hop headers describe one connection, not the message (RFC 9110 §7.6.1): a proxy must not forward
// them; the upstream clients set their own framing and connection headers.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  // Node's server already answered "100 Continue" to the client; the body follows without waiting.
  'expect',
]);

/** Headers named in `Connection:` are hop-by-hop for this message too. Rare, so only parsed when present. */
function connectionListed(connection: string | string[] | undefined): Set<string> | null {
  // Fast path: most clients send "keep-alive" (or nothing) on every request.
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return null;
  const value = Array.isArray(connection) ? connection.join(',') : connection;
  const names = new Set<string>();
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive') names.add(name);
  }
  return names.size ? names : null;
}

/**
 * Flat [name, value, ...] list of the request headers to send upstream, without hop-by-hop headers and
 * without `drop` (headers the proxy owns and sets itself, like traceparent).
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, drop: ReadonlySet<string>, rawHeaders?: readonly string[]): string[] {
  const listed = connectionListed(headers.connection);
  const repeated = rawHeaders !== undefined ? repeatedHeaders(headers, rawHeaders) : null;
  const out: string[] = [];
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || drop.has(name) || (listed !== null && listed.has(name))) continue;
    // A header sent on several lines goes on as several lines (as Envoy relays it), not joined by Node's ", ".
    const value = repeated?.get(name) ?? headers[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === 58 /* : */) {
      // HTTP/2 pseudo-headers: only the authority survives, as Host (what HTTP/1.1 calls it).
      if (name === ':authority' && headers.host === undefined) out.push('host', value as string);
      continue;
    }
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  // gRPC needs "te: trailers" end to end; every other TE value stays hop-by-hop.
  if (headers.te === 'trailers') out.push('te', 'trailers');
  return out;
}

/** Headers that came on more than one line, with each line's value; null when none did (the usual case). */
function repeatedHeaders(headers: IncomingHttpHeaders, raw: readonly string[]): Map<string, string[]> | null {
  let count = 0;
  for (const _ in headers) count++;
  if (raw.length / 2 <= count) return null;
  const seen = new Map<string, string[]>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const list = seen.get(name);
    if (list === undefined) seen.set(name, [raw[i + 1]!]);
    else list.push(raw[i + 1]!);
  }
  // Only where Node joined the lines with ", ": a header Node keeps once (content-length, host, user-agent…)
  // or joins otherwise (cookie) goes on as Node read it.
  for (const [name, list] of seen) if (list.length < 2 || headers[name] !== list.join(', ')) seen.delete(name);
  return seen;
}

/** Response headers to send downstream, without hop-by-hop headers. */
export function downstreamResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): OutgoingHttpHeaders {
  const listed = connectionListed(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || (listed !== null && listed.has(name))) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * True when the request carries a body. HTTP/1: only with framing headers (GET/HEAD without them cannot,
 * so we skip reading). HTTP/2 has no such headers (gRPC sends none): a body follows unless the headers
 * frame ended the stream.
 */
export function requestHasBody(req: IncomingMessage): boolean {
  if (req.httpVersionMajor === 2) return (req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders !== true;
  return hasRequestBody(req.headers);
}

/** True when the request can carry a body; GET/HEAD without framing headers cannot, so we skip reading. */
export function hasRequestBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/** Path and query of a request target; absolute-form targets (an app using us as an HTTP proxy) are reduced. */
export function originFormTarget(url: string | undefined): string {
  if (!url) return '/';
  if (url.charCodeAt(0) === 47 /* / */) return url;
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}

/** The path without its query string: what route uri matches look at (as Envoy does). */
export function pathOnly(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** An upstream response as both clients give it: HTTP/1.1 may hand over a body that arrived whole. */
export interface UpstreamAnswer {
  readonly body: Readable;
  readonly trailers: Record<string, string | string[] | undefined>;
  /** The whole body, already here (HTTP/1.1 client); absent or null when it streams. */
  readonly complete?: Buffer | null;
}

/**
 * Relays the upstream body (and trailers) to the downstream response, after writeHead. A body that
 * arrived whole goes out in one end() with no stream at all; anything else streams. `onEnd` runs once
 * the upstream body has ended (its trailers are in then).
 */
export function relayResponseBody(answer: UpstreamAnswer, res: ServerResponse, onError: (err: Error) => void, onEnd?: () => void): void {
  const complete = answer.complete;
  if (complete != null) {
    addTrailers(res, answer.trailers);
    res.end(complete);
    onEnd?.();
    return;
  }
  const body = answer.body;
  relayBody(body, res, onError, answer.trailers);
  if (onEnd !== undefined) body.once('end', onEnd);
}

/** What relayResponse reports, through methods of a long-lived object instead of callbacks made per request. */
export interface ResponseObserver {
  /** The upstream body failed part-way; the downstream response is cut. */
  responseFailed(err: Error): void;
  /**
   * The upstream body and its trailers are in, and the last of it is about to be written downstream: told
   * before that write, so a span's end timed here is never after the moment the caller could have it.
   */
  responseEnded(): void;
}

/** relayResponseBody for a caller that observes with an object: a complete body (the fast path) makes no closure. */
export function relayResponse(answer: UpstreamAnswer, res: ServerResponse, observer: ResponseObserver): void {
  const complete = answer.complete;
  if (complete != null) {
    addTrailers(res, answer.trailers);
    observer.responseEnded();
    res.end(complete);
    return;
  }
  const body = answer.body;
  // Registered before the relay's own 'end' listeners (the trailers, then pipe ending the response).
  body.once('end', () => observer.responseEnded());
  relayBody(body, res, (err) => observer.responseFailed(err), answer.trailers);
}

function addTrailers(res: ServerResponse, trailers: Record<string, string | string[] | undefined>): void {
  let out: Record<string, string | string[]> | null = null;
  for (const name in trailers) {
    const v = trailers[name];
    if (v !== undefined) (out ??= {})[name] = v;
  }
  if (out === null) return;
  try {
    res.addTrailers(out);
  } catch {
    // Node refuses a trailer it cannot send (a name or value it finds invalid): the body still ends.
  }
}

/**
 * Streams an upstream body to the downstream response. Deliberately not stream.pipeline: on every
 * completion pipeline aborts an internal AbortController, building a DOMException per request, which
 * showed up as a few percent of sidecar CPU in the latency benchmark.
 */
function relayBody(body: Readable, res: ServerResponse, onError: (err: Error) => void, trailers: Record<string, string | string[] | undefined>): void {
  body.once('error', (err) => {
    onError(err);
    res.destroy(err);
  });
  res.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  // Registered before pipe's own 'end' listener, so the trailers go out before pipe ends the response.
  body.once('end', () => addTrailers(res, trailers));
  body.pipe(res);
}

/**
 * A gRPC "trailers-only" response (an error status, typically) is one HEADERS frame that also ends the
 * stream. It must reach the client in that form: relayed as headers followed by an empty end, a gRPC
 * client sees no status, and the next sidecar could not retry on it. Setting the headers and ending without
 * writeHead makes Node's HTTP/2 compatibility layer send exactly one HEADERS frame with END_STREAM.
 * Returns false (and does nothing) when the upstream response was not trailers-only.
 * (ClientHttp2Stream.endAfterHeaders is not yet set when 'response' fires, so the header tells.)
 */
export function relayTrailersOnly(res: ServerResponse, answer: UpstreamAnswer, status: number, headers: OutgoingHttpHeaders): boolean {
  // gRPC puts grpc-status in the leading headers only in a trailers-only response.
  if (headers['grpc-status'] === undefined) return false;
  if (answer.complete == null) answer.body.resume();
  res.statusCode = status;
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined) res.setHeader(name, v);
  }
  res.end();
  return true;
}
