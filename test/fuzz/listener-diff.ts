// The listener-level differential: the sidecar's listeners parse requests with Node's http.Server, then
// its own client writes them again upstream. The same request bytes go (a) straight to a recording
// node:http app and (b) through a real sidecar's outbound listener to another such app; both apps must
// see the same requests (method, target, headers, body, in order), or neither any.
//
// The apps are Node apps, so "what the app sees" is what Node's IncomingMessage gives them: headers as
// req.headers presents them (names lower case, repeated lines joined with ", " as RFC 9110 §5.3 allows,
// repeats of single-value headers such as host or content-type dropped after the first).
// What the proxy legitimately changes, and the comparison therefore leaves out:
// - headers it owns or adds: trace context (traceparent, b3, x-b3-*), x-request-id when absent, x-devmesh-*;
// - hop-by-hop headers (RFC 9110 §7.6.1: connection, keep-alive, proxy-connection, transfer-encoding, te,
//   trailer, upgrade, proxy-authenticate, proxy-authorization, http2-settings, expect) and any header the
//   Connection header names;
// - content-length: the proxy frames the body it sends itself (the body bytes are compared instead);
// - an absolute-form target is sent on in origin form (path and query), as proxy/http-headers.ts does;
// - request trailers: the sidecar's client sends a streamed body chunked but without trailers;
// - pipelined requests: the sidecar forwards safe ones side by side over its pool (answers still go back in
//   order; an unsafe one waits its turn, RFC 9112 §9.3.2, tested in test/proxy/listener-hardening), so the
//   app may see safe ones in another order; they are compared as a set;
// - when a later pipelined request is malformed, Node's server answers 400 and closes the connection; the
//   sidecar then cancels what it was still forwarding (the caller is gone), so through it the app may see
//   only some of what it sees directly.
import fc from 'fast-check';
import net from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SidecarProcess, TestMesh, clientConfig, cluster, endpoint, route, startApp, tempHome } from '../proxy/helpers.js';

interface Recorded {
  method: string;
  target: string;
  headers: Record<string, string>;
  body: string;
  /** Host lines in the request as sent; not compared (see expectedThroughSidecar). */
  hostLines?: number;
}

/**
 * Where the sidecar is stricter than Node 20 on purpose: more than one Host line is a 400 (RFC 9112 §3.2,
 * which Node does not enforce), and the connection then closes, so nothing pipelined after that request
 * reaches the app either. What the app sees directly, cut there, is what it must see through the sidecar.
 */
function expectedThroughSidecar(direct: readonly Recorded[]): readonly Recorded[] {
  const cut = direct.findIndex((r) => (r.hostLines ?? 0) > 1);
  return cut === -1 ? direct : direct.slice(0, cut);
}

/**
 * A request without Host (HTTP/1.0) reaches the app through the sidecar with the upstream's authority as
 * Host: the sidecar speaks HTTP/1.1 upstream, where a client must send one (RFC 9112 §3.2). Not compared.
 */
function withoutAddedHost(r: Recorded, appPort: number): Recorded {
  if (r.headers.host !== `127.0.0.1:${appPort}`) return r;
  const { host: _added, ...headers } = r.headers;
  return { ...r, headers };
}

function key(r: Recorded): string {
  return JSON.stringify({ ...r, hostLines: undefined });
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'http2-settings', 'expect', 'content-length']);
/** Trace context the sidecar writes on every hop (W3C and B3) and the request id it makes when there is none. */
const TRACE_CONTEXT = new Set(['traceparent', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'x-request-id']);
const LIMIT_MS = 3_000;

function normalised(req: IncomingMessage, body: string): Recorded {
  const listed = new Set<string>();
  for (const t of String(req.headers.connection ?? '').split(',')) listed.add(t.trim().toLowerCase());
  const headers: Record<string, string> = {};
  for (const name of Object.keys(req.headers).sort()) {
    if (HOP_BY_HOP.has(name) || TRACE_CONTEXT.has(name) || listed.has(name) || name.startsWith('x-devmesh-')) continue;
    const v = req.headers[name]!;
    headers[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  let target = req.url ?? '';
  if (!target.startsWith('/')) {
    try {
      const u = new URL(target);
      target = u.pathname + u.search;
    } catch {
      // left as it is: the proxy sends it on as it is too
    }
  }
  let hostLines = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hostLines++;
  return { method: req.method ?? '', target, headers, body, hostLines };
}

/** What an app saw, and how many requests it is still reading. */
interface Recording {
  seen: Recorded[];
  inFlight: number;
}

/** An app that records every complete request (after its body) and answers 200. */
function recorder(into: Recording): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    into.inFlight++;
    let open = true;
    const done = (): void => {
      if (open) into.inFlight--;
      open = false;
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      into.seen.push(normalised(req, Buffer.concat(chunks).toString('latin1')));
      done();
      res.end('ok');
    });
    req.on('close', done);
    req.on('error', () => {});
  };
}

/** An Expect line whose value is not 100-continue (Node and the sidecar both answer 417). */
const UNMET_EXPECTATION = /\nexpect:[ \t]*(?!100-continue[ \t]*\r?\n)/i;

/** How long nothing must happen before a case counts as over (no answer, nothing in flight). */
const QUIET_MS = 80;
const STUCK_MS = 400;

/**
 * Writes `bytes` and waits until the server closes, or all is quiet (no bytes back for a while and no
 * request in flight at the app), or the time limit. Not a half-close: a plain Node app aborts a request
 * whose client half-closes before it answers (the sidecar's listener does not; test/proxy/listener-hardening).
 * Returns what came back.
 */
async function send(port: number, bytes: string, app: Recording): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  let back = '';
  let last = performance.now();
  let closed = false;
  socket.on('error', () => {});
  socket.on('data', (d: Buffer) => {
    back += d.toString('latin1');
    last = performance.now();
  });
  socket.on('close', () => (closed = true));
  socket.write(Buffer.from(bytes, 'latin1'));
  const start = performance.now();
  while (!closed && performance.now() - start < LIMIT_MS) {
    await new Promise((r) => setTimeout(r, 10));
    const quiet = performance.now() - last;
    // A request still in flight may be one waiting for body bytes that never come: it gets longer.
    if (quiet >= (app.inFlight === 0 && app.seen.length > 0 === back.length > 0 ? QUIET_MS : STUCK_MS)) break;
  }
  socket.destroy();
  return back;
}

/** One pair of recording apps: one called directly, one behind the sidecar listener at `proxyPort`. */
interface Lane {
  directPort: number;
  proxyPort: number;
  /** The app behind the sidecar: the Host the sidecar's client writes when the request had none. */
  appPort: number;
  direct: Recording;
  proxied: Recording;
}

/** Lanes run cases side by side (each case waits for quiet on its own connections). */
export const LANES = 4;

export class ListenerDiff {
  private constructor(
    private readonly cleanups: Array<() => unknown>,
    private readonly lanes: Lane[],
  ) {}

  static async start(): Promise<ListenerDiff> {
    const cleanups: Array<() => unknown> = [];
    const t = { after: (fn: () => unknown) => void cleanups.push(fn) };
    const home = tempHome(t);
    const mesh = new TestMesh(home);
    const lanes: Array<Omit<Lane, 'proxyPort'> & { appPort: number }> = [];
    for (let i = 0; i < LANES; i++) {
      const direct: Recording = { seen: [], inFlight: 0 };
      const proxied: Recording = { seen: [], inFlight: 0 };
      const directApp = await startApp(t, recorder(direct));
      const app = await startApp(t, recorder(proxied));
      lanes.push({ directPort: directApp.port, appPort: app.port, direct, proxied });
    }
    const sidecar = SidecarProcess.start(t, home);
    const ports = await sidecar.apply(
      clientConfig({
        tls: mesh.tls('fuzz'),
        service: 'fuzz',
        outbound: lanes.map((_, i) => ({ service: `app${i}`, port: 0, routes: [route({ destinations: [{ service: `app${i}`, weight: 100 }] })] })),
        clusters: lanes.map((l, i) => cluster(`app${i}`, [endpoint(`app${i}`, 'v1', l.appPort)], false)),
      }),
    );
    return new ListenerDiff(
      cleanups,
      lanes.map((l, i) => ({ directPort: l.directPort, proxyPort: ports.outbound[`app${i}`]!, appPort: l.appPort, direct: l.direct, proxied: l.proxied })),
    );
  }

  /** For each case (at most LANES), null when both apps saw the same requests; else what differs. */
  compare(cases: readonly string[]): Promise<Array<string | null>> {
    return Promise.all(cases.map((bytes, i) => this.compareOn(this.lanes[i]!, bytes)));
  }

  private async compareOn(lane: Lane, bytes: string): Promise<string | null> {
    // What the previous case left in flight lands before this one starts.
    for (let i = 0; i < 50 && (lane.direct.inFlight > 0 || lane.proxied.inFlight > 0); i++) await new Promise((r) => setTimeout(r, 10));
    lane.direct.seen = [];
    lane.proxied.seen = [];
    const [directBack] = await Promise.all([send(lane.directPort, bytes, lane.direct), send(lane.proxyPort, bytes, lane.proxied)]);
    const direct = expectedThroughSidecar(lane.direct.seen).map(key).sort();
    const proxied = lane.proxied.seen.map((r) => key(withoutAddedHost(r, lane.appPort))).sort();
    if (direct.join() === proxied.join()) return null;
    // Cancelled when a later pipelined request was refused (see the top of this file): some will do.
    // So when the sidecar refuses an expectation it cannot meet: Node answers 417 and reads on, the sidecar
    // closes after its 417 (the body the client may still send would otherwise be read as a request).
    const refusedLater = directBack.includes('HTTP/1.1 400 Bad Request') || UNMET_EXPECTATION.test(bytes);
    if (refusedLater && proxied.length < direct.length && proxied.every((r) => direct.includes(r))) return null;
    return `the app saw [${direct.join(', ')}] directly, [${proxied.join(', ')}] through the sidecar`;
  }

  async close(): Promise<void> {
    for (const fn of this.cleanups.reverse()) await fn();
  }
}

// Generated requests: as for responses, structure with nasty pieces in it.
const pick = <T>(...xs: T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
const some = (weight: number, arb: fc.Arbitrary<string>, otherwise: string): fc.Arbitrary<string> =>
  fc.oneof({ weight: 100 - weight, arbitrary: fc.constant(otherwise) }, { weight, arbitrary: arb });
const eol = some(4, pick('\n', '\r', '\r\r\n'), '\r\n');
const body = fc.string({ unit: pick('a', 'b', '0', '\r', '\n', '\xff', 'G'), maxLength: 10 });

const headerLine = (bodyLength: number): fc.Arbitrary<string> =>
  fc
    .record({
      name: fc.oneof({ weight: 6, arbitrary: pick('content-length', 'Content-Length', 'transfer-encoding', 'Transfer-Encoding', 'x-a', 'host', 'connection', 'expect') }, { weight: 1, arbitrary: pick('content-length ', 'x a', ' x-a', 'x-\0', 'traceparent', 'x-devmesh-peer', 'te', 'cookie') }),
      value: fc.oneof(
        { weight: 4, arbitrary: pick(String(bodyLength), 'chunked', 'a', 'x-a', 'close', 'keep-alive') },
        { weight: 2, arbitrary: pick(`+${bodyLength}`, `${bodyLength} ${bodyLength}`, 'chunked, gzip', 'gzip', 'xchunked', ' chunked', 'chunked\t', 'identity', '', 'a\0b', 'a\x7fb', 'a\xffb', '100-continue', 'trailers', `${bodyLength + 2}`) },
      ),
      sep: some(6, pick(':', ' : ', ':\t'), ': '),
      end: eol,
      fold: some(2, pick(' folded\r\n'), ''),
    })
    .map((h) => `${h.name}${h.sep}${h.value}${h.end}${h.fold}`);

const oneRequest = fc
  .record({
    method: fc.oneof({ weight: 8, arbitrary: pick('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH') }, { weight: 1, arbitrary: pick('get', 'G ET', 'FOO', 'PRI', 'GET\t') }),
    target: fc.oneof({ weight: 8, arbitrary: pick('/', '/a?b=c', '/a/b', '/%20x') }, { weight: 1, arbitrary: pick('*', 'http://app/x?y', '/a b', '/a\0', '/\xff', '') }),
    version: some(5, pick('HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 '), 'HTTP/1.1'),
    host: some(8, pick('', 'host: a\r\nhost: b\r\n', 'host: \r\n', 'host: a b\r\n'), 'host: app\r\n'),
    body,
    chunked: fc.boolean(),
  })
  .chain((r) =>
    fc.record({ headers: fc.array(headerLine(r.body.length), { maxLength: 3 }), framing: pick('', `content-length: ${r.body.length}\r\n`, 'transfer-encoding: chunked\r\n'), end: eol }).map((h) => {
      const head = `${r.method} ${r.target} ${r.version}\r\n${r.host}${h.framing}${h.headers.join('')}${h.end}`;
      const chunked = /transfer-encoding:\s*chunked/i.test(head);
      const payload = chunked ? `${r.body.length.toString(16)}\r\n${r.body}\r\n0\r\n\r\n`.replace(/^0\r\n\r\n0\r\n\r\n$/, '0\r\n\r\n') : r.body;
      return head + payload;
    }),
  );

/** One or two requests back to back (pipelined: where the first ends decides what the second is). */
export const requests: fc.Arbitrary<string> = fc.array(oneRequest, { minLength: 1, maxLength: 2 }).map((rs) => rs.join(''));
