// One byte string of upstream responses, read twice: by Node's own parser (llhttp, configured as Node's
// http client configures it, with the client's choices on top: HEAD and 1xx skip the body, 101 stops) and
// by the sidecar's ResponseParser (fed in pieces, split where the fuzzer says). Both come out as the same
// plain shape, so a difference is a difference in framing, not in representation.
import { createRequire } from 'node:module';
import { ResponseParser, type Headers } from '../../proxy/http1/index.js';

export interface Message {
  status: number;
  /** Lower-case names, duplicates as arrays (the shape H1Response has); no transfer-encoding (see normalise). */
  headers: Headers;
  /** latin1 */
  body: string;
  trailers: Headers;
  keepAlive: boolean;
}

export interface Outcome {
  /** Final responses (and a 101) read completely, in order. */
  messages: Message[];
  /** ok: the bytes ended cleanly (or where a closing message or a 101 left off); reject: malformed or cut short. */
  verdict: 'ok' | 'reject';
  /** Why, for the report. */
  detail: string;
}

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | (Error & { code?: string; bytesParsed?: number });
  finish(): undefined | (Error & { code?: string });
  close(): void;
  [key: number]: unknown;
}
interface LlhttpParserClass {
  new (): LlhttpParser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

// Node's own binding of llhttp, the one its http client runs (the public legacy module _http_common exports it).
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: LlhttpParserClass };

function record(flat: readonly string[]): Headers {
  const out: Headers = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    // The sidecar's parser consumes Transfer-Encoding (the body comes out decoded): not part of what it hands on.
    if (name === 'transfer-encoding') continue;
    const value = flat[i + 1]!;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

interface LlhttpRun {
  messages: Array<Message & { interim: boolean; teValue: boolean; closeDelimited: boolean }>;
  end: 'complete' | 'closed' | 'upgrade' | 'error' | 'incomplete';
  code: string;
}

function runLlhttp(bytes: Buffer, head: boolean): LlhttpRun {
  const parser = new HTTPParser();
  // maxHeaderSize 0: Node's default (16 KiB); lenient 0: none, as http.request without insecureHTTPParser.
  parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
  const messages: LlhttpRun['messages'] = [];
  let pending: string[] = [];
  let current: (LlhttpRun['messages'][number] & { chunks: Buffer[] }) | null = null;
  let upgraded = false;
  let finishing = false;
  parser[HTTPParser.kOnHeaders] = (h: string[]): void => {
    pending.push(...h);
  };
  parser[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[] | undefined, _m: unknown, _u: unknown, status: number, _msg: string, upgrade: boolean, keepAlive: boolean): number => {
    const flat = headers ?? pending;
    pending = [];
    let teValue = false;
    for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === 'transfer-encoding' && flat[i + 1] !== '') teValue = true;
    const interim = status >= 100 && status < 200 && status !== 101;
    current = { status, headers: record(flat), body: '', trailers: {}, keepAlive, interim, teValue, closeDelimited: false, chunks: [] };
    // _http_client.js parserOnIncomingClient: upgrade → 2, informational → 1, HEAD → 1.
    if (upgrade) return 2;
    if (interim) return 1;
    return head ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (b: Buffer): void => {
    current?.chunks.push(Buffer.from(b));
  };
  parser[HTTPParser.kOnMessageComplete] = (): void => {
    if (current === null) return;
    const { chunks, ...m } = current;
    m.body = Buffer.concat(chunks).toString('latin1');
    m.trailers = record(pending);
    m.closeDelimited = finishing;
    pending = [];
    messages.push(m);
    if (m.status === 101) upgraded = true;
    current = null;
  };
  try {
    const r = parser.execute(bytes);
    if (upgraded) return { messages, end: 'upgrade', code: '' };
    if (typeof r !== 'number') return { messages, end: r.code === 'HPE_CLOSED_CONNECTION' ? 'closed' : 'error', code: r.code ?? String(r) };
    finishing = true;
    const f = parser.finish();
    if (f !== undefined) return { messages, end: 'incomplete', code: f.code ?? String(f) };
    return { messages, end: 'complete', code: '' };
  } finally {
    parser.close();
  }
}

/** A response llhttp takes after the bytes: read as a message only if the connection was left open. */
const PROBE = Buffer.from('HTTP/1.1 299 Probe\r\ncontent-length: 0\r\n\r\n');

/** llhttp's reading, as Node's http client sees it. */
export function llhttpOutcome(bytes: Buffer, head: boolean): Outcome & { run: LlhttpRun } {
  const run = runLlhttp(bytes, head);
  const finals = run.messages.filter((m) => !m.interim);
  const last = run.messages[run.messages.length - 1];
  // A 1xx is owed a final answer: ending after one (or after bytes refused once it closed) is a failed exchange.
  const owed = last !== undefined && last.interim;
  const verdict = (run.end === 'complete' || run.end === 'closed' || run.end === 'upgrade') && !owed && finals.length > 0 ? 'ok' : 'reject';
  const messages = finals.map(({ interim: _i, teValue: _t, closeDelimited: _c, ...m }) => m);
  // The keep-alive llhttp reports with the head comes before Node's client says "HEAD: no body" (which makes
  // a response without framing reusable), so it is read from what llhttp did next instead: every message
  // it read past was kept alive; the last one was not if llhttp then refused bytes as after a close, if
  // its body ran to the close, if it switched protocols, or if a response appended after it is refused.
  for (const m of messages) m.keepAlive = true;
  const tail = finals[finals.length - 1];
  if (tail !== undefined) {
    const last = messages[messages.length - 1]!;
    const closedAfterTail = run.end === 'closed' && run.messages[run.messages.length - 1] === tail;
    if (closedAfterTail || run.end === 'upgrade' || tail.closeDelimited || tail.status === 101) last.keepAlive = false;
    else if (run.end === 'complete' && run.messages[run.messages.length - 1] === tail) last.keepAlive = runLlhttp(Buffer.concat([bytes, PROBE]), head).end !== 'closed';
  }
  return { messages, verdict, detail: `${run.end}${run.code ? ` ${run.code}` : ''}`, run };
}

/** The sidecar parser's reading of the same bytes, fed in pieces cut at `cuts`. */
export function ourOutcome(bytes: Buffer, head: boolean, cuts: readonly number[]): Outcome {
  const messages: Message[] = [];
  let current: Message | null = null;
  const parts: Buffer[] = [];
  const parser = new ResponseParser({
    onHead(status, headers) {
      current = { status, headers, body: '', trailers: {}, keepAlive: false };
    },
    onBody(piece) {
      parts.push(Buffer.from(piece));
    },
    onTrailers(trailers) {
      if (current !== null) current.trailers = trailers;
    },
  });
  const complete = (): void => {
    const m = current!;
    m.body = Buffer.concat(parts).toString('latin1');
    m.keepAlive = parser.keepAlive;
    parts.length = 0;
    messages.push(m);
    current = null;
  };
  parser.reset(head);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b)) {
    pieces.push(bytes.subarray(from, cut));
    from = cut;
  }
  pieces.push(bytes.subarray(from));
  for (let piece of pieces) {
    for (;;) {
      const used = parser.execute(piece);
      if (used < 0) return { messages, verdict: 'reject', detail: `${parser.error!.code} ${parser.error!.message}` };
      if (parser.upgraded) {
        messages.push({ status: 101, headers: parser.upgradeHeaders!, body: '', trailers: {}, keepAlive: false });
        return { messages, verdict: 'ok', detail: 'upgrade' };
      }
      if (!parser.done) break;
      complete();
      if (!parser.keepAlive) return { messages, verdict: 'ok', detail: 'closed' };
      piece = piece.subarray(used);
      parser.reset(head);
      if (piece.length === 0) break;
    }
  }
  if (parser.finish()) {
    complete();
    return { messages, verdict: 'ok', detail: 'closed at the end' };
  }
  if (!parser.idle) return { messages, verdict: 'reject', detail: 'incomplete at the end' };
  return { messages, verdict: messages.length > 0 ? 'ok' : 'reject', detail: 'complete' };
}

/**
 * Where the sidecar is stricter than llhttp on purpose (each rule's reason is beside it in
 * proxy/http1/response-parser.ts), llhttp's reading is cut at the message the sidecar refused:
 * - a status below 100 (RFC 9110 §15: invalid; Node's server cannot relay one);
 * - a protocol other than HTTP in the status line (llhttp also takes RTSP/ and ICE/);
 * - a body framed by a transfer coding other than chunked (llhttp reads it until the close);
 * - a length or chunk size past 2^53 (llhttp would wait for that many bytes);
 * - a CR without LF ending the status line (Node 20's llhttp 9.3 takes it, llhttp 9.4 does not).
 * Returns llhttp's outcome unchanged when none applies.
 */
export function normalise(ours: Outcome, theirs: Outcome & { run: LlhttpRun }): Outcome {
  if (ours.verdict !== 'reject') return theirs;
  const k = ours.messages.length;
  const cut = (why: string): Outcome => ({ messages: theirs.messages.slice(0, k), verdict: 'reject', detail: `${theirs.detail} (normalised: ${why})` });
  const finals = theirs.run.messages.filter((m) => !m.interim);
  const next = finals[k];
  if (/invalid status 0\d\d/.test(ours.detail) && theirs.run.messages.some((m) => m.status < 100)) return cut('status below 100');
  if (/invalid status line "(RTSP|ICE)\//.test(ours.detail)) return cut('not HTTP');
  // Node 20's llhttp (9.3) takes a CR without LF after the status line; llhttp 9.4 refuses it (res_line_almost_done).
  if (/invalid status line ".*\\r/.test(ours.detail)) return cut('CR without LF after the status line');
  if (/transfer coding other than chunked/.test(ours.detail) && next !== undefined && next.teValue && next.closeDelimited) return cut('a transfer coding other than chunked');
  if (/too large|content-length "?\d{16,}/.test(ours.detail) && theirs.verdict === 'reject') return cut('past 2^53');
  return theirs;
}

/** Null when both readings agree; else what differs. */
export function difference(ours: Outcome, theirs: Outcome): string | null {
  if (ours.verdict !== theirs.verdict) return `verdict: ours ${ours.verdict} (${ours.detail}), llhttp ${theirs.verdict} (${theirs.detail})`;
  if (ours.messages.length !== theirs.messages.length) return `messages: ours ${ours.messages.length} (${ours.detail}), llhttp ${theirs.messages.length} (${theirs.detail})`;
  for (let i = 0; i < ours.messages.length; i++) {
    const a = JSON.stringify(ours.messages[i], sorted);
    const b = JSON.stringify(theirs.messages[i], sorted);
    if (a !== b) return `message ${i}: ours ${a}, llhttp ${b}`;
  }
  return null;
}

/** JSON with object keys sorted, so header order does not count (duplicates keep their order in arrays). */
function sorted(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = (value as Record<string, unknown>)[k];
  return out;
}
