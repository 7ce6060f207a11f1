// HTTP/1.1 response parsing, pure: bytes in, a head, body pieces and trailers out, no sockets, so it can be
// fed byte for byte by a test or a fuzzer. As strict as llhttp (Node's own parser, non-lenient): whatever
// llhttp refuses is refused here too, state by state after llhttp's src/llhttp/http.ts, because a
// response the sidecar relays is read again by the caller's parser, and two parsers that frame one
// message differently are a desync (response splitting, smuggling). Where this parser is stricter than
// llhttp it says why, next to the rule.
//
// Shaped for the hot path: a head is found with one indexOf and parsed as one latin1 string; body pieces
// are subarrays of the chunk that carried them, handed to the sink (the connection) with no closure and
// no copy; the parser stops at the end of a message and says how many bytes it used, so the caller knows
// whether anything followed (with no pipelining, bytes after a response mean the connection is out of step).
import { H1Error } from './h1-error.js';
import type { Headers } from './h1-response.js';

/** Where the parser hands what it read; called synchronously from execute(). */
export interface ResponseSink {
  /** The head of a final response (status 200-999). Interim 1xx answers are skipped; 101 stops the parser. */
  onHead(status: number, headers: Headers): void;
  /** A piece of the (de-chunked) body: a view of the caller's buffer, valid until it is reused. */
  onBody(piece: Buffer): void;
  /** The trailers of a chunked body, once, just before the message completes. */
  onTrailers(trailers: Headers): void;
}

/** A head (or a chunk line, or a trailer section) longer than this is refused. */
export const MAX_HEAD = 64 * 1024;

const enum State {
  /** Before a head: llhttp skips CR and LF here (test/response/sample.md "Response starting with CRLF"). */
  Start,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
  Upgraded,
  Failed,
}

const CRLF2 = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Controls other than HTAB, and DEL: llhttp's "Invalid header value char" (RFC 9110 §5.5). CR and LF are here too. */
// eslint-disable-next-line no-control-regex -- matching control bytes is this regex's job
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
/** Version, status, then a space and any reason without CR or LF, or nothing (llhttp res_* states). */
const STATUS_LINE = /^HTTP\/([0-9])\.([0-9]) ([0-9]{3})(?: [^\r\n]*)?$/;
/**
 * Digits, then spaces only: Node 20's llhttp (9.3) refuses a tab after the digits (9.4 takes it); the
 * stricter reading is the safe one. (Leading spaces and tabs are gone already.)
 */
const CONTENT_LENGTH = /^([0-9]+) *$/;
/** Around a Connection token: spaces and tabs before, only spaces after (llhttp 9.3, see field()). */
const TOKEN_EDGES = /^[ \t]+| +$/g;
/**
 * `chunked` is the final coding (llhttp header_value_te_chunked*): only tokens ending in a comma before it,
 * only spaces after it. `chunkedchunked` or `chunked, gzip` are not chunked.
 */
const CHUNKED_LAST = /^(?:[\t\x20-\x2b\x2d-\x7e\x80-\xff]*,[\t ]*)*chunked *$/i;
/** Chunk extensions (llhttp chunk_extension* states): `;name`, `;name=token`, `;name="quoted"`. */
const CHUNK_EXTENSIONS = /^(?:;[!#$%&'*+.^_`|~0-9A-Za-z-]*(?:=[!#$%&'*+.^_`|~0-9A-Za-z-]*(?:"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*")?)?)+$/;

/** The first CR not followed by LF, or LF not preceded by CR, from `at` (a CR ending the data may yet be); -1 if none. */
function bareLineBreak(data: Buffer, at: number): number {
  for (let i = at; i < data.length; i++) {
    const c = data[i];
    if (c === 13 && i + 1 < data.length && data[i + 1] !== 10) return i;
    if (c === 10 && (i === at || data[i - 1] !== 13)) return i;
  }
  return -1;
}

export class ResponseParser {
  /** Set when execute() returned -1. */
  error: H1Error | null = null;
  /** The headers of a 101, once the parser stopped there (the rest of the bytes are another protocol). */
  upgradeHeaders: Headers | null = null;
  private state = State.Done;
  private headRequest = false;
  private pending: Buffer | null = null;
  private remaining = 0;
  private trailers: Headers | null = null;
  /** An interim answer was read: a final one is still owed. */
  private interim = false;
  // The framing flags of the message being read (llhttp's F_* flags), reset by each head.
  private http11 = true;
  private noBody = false;
  private hasLength = false;
  private hasCoding = false;
  private chunked = false;
  private close = false;
  private keepAliveToken = false;

  constructor(private readonly sink: ResponseSink) {}

  /** Ready for the response to one request (`HEAD` answers have no body, whatever they say). */
  reset(headRequest: boolean): void {
    this.state = State.Start;
    this.headRequest = headRequest;
    this.pending = null;
    this.error = null;
    this.upgradeHeaders = null;
    this.trailers = null;
    this.interim = false;
  }

  /** The message is complete; anything after it was not read. */
  get done(): boolean {
    return this.state === State.Done;
  }

  get upgraded(): boolean {
    return this.state === State.Upgraded;
  }

  /** Nothing of the response read yet (CR and LF before it aside), and no interim answer owing a final one. */
  get idle(): boolean {
    return this.state === State.Start && this.pending === null && !this.interim;
  }

  /** Whether the connection may carry another exchange after this message (llhttp_should_keep_alive). */
  get keepAlive(): boolean {
    if (this.http11 ? this.close : !this.keepAliveToken) return false;
    if (this.noBody) return true;
    return this.chunked || (this.hasLength && !this.hasCoding);
  }

  /**
   * Reads `chunk`. Returns how many of its bytes belong to this response (all of them unless it completed,
   * upgraded, or stopped early), or -1 when the response is malformed (then `error` says why).
   */
  execute(chunk: Buffer): number {
    let data = chunk;
    let carried = 0;
    if (this.pending !== null) {
      // A head or line began in an earlier read.
      carried = this.pending.length;
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case State.Start: {
          const c = data[at]!;
          if (c === 13 || c === 10) {
            at++;
            break;
          }
          this.state = State.Head;
          break;
        }
        case State.Head: {
          const end = data.indexOf(CRLF2, at);
          if (end === -1 || end - at > MAX_HEAD) {
            if (data.length - at > MAX_HEAD) return this.fail(`response head over ${MAX_HEAD} bytes`, 'HPE_HEADER_OVERFLOW');
            // No end of head yet: refuse now what llhttp refuses at that byte (a bare CR or LF), rather
            // than wait for bytes that may never come.
            const bare = bareLineBreak(data, at);
            if (bare !== -1) {
              const lineEnd = data.indexOf('\r\n', at, 'latin1');
              const inStatusLine = lineEnd === -1 || bare < lineEnd;
              const text = JSON.stringify(data.toString('latin1', at, Math.min(bare + 1, at + 80)));
              return this.fail(inStatusLine ? `invalid status line ${text}` : 'bare CR or LF in the head', inStatusLine ? 'HPE_INVALID_STATUS' : 'HPE_CR_EXPECTED');
            }
            this.pending = data.subarray(at);
            return chunk.length;
          }
          this.head(data.toString('latin1', at, end));
          at = end + 4;
          if (this.failed()) return -1;
          break;
        }
        case State.Length: {
          const n = Math.min(this.remaining, data.length - at);
          this.sink.onBody(at === 0 && n === data.length ? data : data.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.Done;
          break;
        }
        case State.UntilClose:
          this.sink.onBody(at === 0 ? data : data.subarray(at));
          at = data.length;
          break;
        case State.ChunkData: {
          const n = Math.min(this.remaining, data.length - at);
          this.sink.onBody(data.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case State.ChunkDataEnd:
          // The CRLF after a chunk's data, possibly split across reads (llhttp chunk_data_almost_done).
          if (data[at] !== (this.remaining === 2 ? 13 : 10)) return this.fail('chunk data not followed by CRLF', 'HPE_STRICT');
          at++;
          if (--this.remaining === 0) this.state = State.ChunkSize;
          break;
        case State.ChunkSize:
        case State.Trailers: {
          const end = data.indexOf('\r\n', at, 'latin1');
          if (end === -1) {
            if (data.length - at > MAX_HEAD) return this.fail('chunk line or trailers too long', 'HPE_HEADER_OVERFLOW');
            this.pending = data.subarray(at);
            return chunk.length;
          }
          const line = data.toString('latin1', at, end);
          at = end + 2;
          if (this.state === State.ChunkSize) this.chunkLine(line);
          else this.trailerLine(line);
          if (this.failed()) return -1;
          break;
        }
        case State.Failed:
          return -1;
        default:
          // Done or Upgraded: the rest is not this response's.
          return at - carried;
      }
    }
    return at - carried;
  }

  /** (A method, so the compiler does not narrow the state across calls that change it.) */
  private failed(): boolean {
    return this.state === State.Failed;
  }

  /** The connection ended: true when that completed the message (a body read until the close). */
  finish(): boolean {
    if (this.state !== State.UntilClose) return false;
    this.state = State.Done;
    return true;
  }

  private fail(why: string, code: string): -1 {
    this.state = State.Failed;
    this.pending = null;
    this.error = new H1Error(`malformed response from upstream: ${why}`, code, 'exchange');
    return -1;
  }

  private head(text: string): void {
    const lines = text.split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (m === null) return void this.fail(`invalid status line ${JSON.stringify(lines[0]!.slice(0, 80))}`, 'HPE_INVALID_STATUS');
    const major = m[1]!.charCodeAt(0) - 48;
    const minor = m[2]!.charCodeAt(0) - 48;
    // The versions llhttp takes (0.9, 1.0, 1.1, 2.0); all but 1.1 close unless they say keep-alive.
    if (!(major === 1 ? minor <= 1 : major === 0 ? minor === 9 : major === 2 && minor === 0)) return void this.fail(`invalid HTTP version ${major}.${minor}`, 'HPE_INVALID_VERSION');
    const status = Number(m[3]);
    // Stricter than llhttp, which takes 000-099: RFC 9110 §15 calls them invalid, and Node's server could not relay one.
    if (status < 100) return void this.fail(`invalid status ${m[3]}`, 'HPE_INVALID_STATUS');
    this.http11 = major === 1 && minor === 1;
    this.hasLength = false;
    this.hasCoding = false;
    this.chunked = false;
    this.close = false;
    this.keepAliveToken = false;
    this.remaining = 0;
    const headers: Headers = {};
    for (let i = 1; i < lines.length; i++) if (!this.field(lines[i]!, headers)) return;
    if (status < 200) {
      this.noBody = true;
      if (status === 101) {
        this.upgradeHeaders = headers;
        this.state = State.Upgraded;
        return;
      }
      // An interim answer (100, 103): the real one follows, on this connection, so it must not close it
      // (llhttp refuses any byte after a message that closes the connection).
      if (!this.keepAlive) return void this.fail('interim response closes the connection', 'HPE_CLOSED_CONNECTION');
      this.state = State.Start;
      this.interim = true;
      return;
    }
    this.noBody = this.headRequest || status === 204 || status === 304;
    if (this.noBody) this.state = State.Done;
    else if (this.chunked) this.state = State.ChunkSize;
    else if (this.hasCoding) {
      // Stricter than llhttp, which reads such a body until the close: we never offer TE, so chunked is the
      // only coding an upstream may use (RFC 9110 §10.1.4, RFC 9112 §6.1), and a body in a coding we do not
      // decode, relayed with the hop-by-hop Transfer-Encoding stripped, would reach the caller mislabelled.
      return void this.fail('transfer coding other than chunked', 'HPE_INVALID_TRANSFER_ENCODING');
    } else if (this.hasLength) this.state = this.remaining === 0 ? State.Done : State.Length;
    else this.state = State.UntilClose;
    this.sink.onHead(status, headers);
  }

  /**
   * One header or trailer line into `into`, the framing ones checked as llhttp does. False after failing.
   * Transfer-Encoding is consumed here, never handed on (the body comes out decoded).
   */
  private field(line: string, into: Headers): boolean {
    const colon = line.indexOf(':');
    // A leading space or tab (obs-fold, RFC 9112 §5.2), a space before the colon, or no name at all.
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return !this.fail(`invalid header line ${JSON.stringify(line.slice(0, 80))}`, 'HPE_INVALID_HEADER_TOKEN');
    let start = colon + 1;
    let end = line.length;
    for (let c = line.charCodeAt(start); c === 32 || c === 9; c = line.charCodeAt(++start));
    const raw = line.slice(start);
    if (BAD_VALUE.test(raw)) return !this.fail(`invalid header value ${JSON.stringify(line.slice(0, 80))}`, 'HPE_INVALID_HEADER_TOKEN');
    for (let c = line.charCodeAt(end - 1); end > start && (c === 32 || c === 9); c = line.charCodeAt(--end - 1));
    const value = end === line.length ? raw : line.slice(start, end);
    const name = line.slice(0, colon).toLowerCase();
    switch (name) {
      case 'content-length': {
        // RFC 9112 §6.3: with Transfer-Encoding, or twice (llhttp refuses even two equal ones), it is refused.
        if (this.hasCoding) return !this.fail('content-length with transfer-encoding', 'HPE_INVALID_CONTENT_LENGTH');
        if (this.hasLength) return !this.fail('more than one content-length', 'HPE_INVALID_CONTENT_LENGTH');
        const m = CONTENT_LENGTH.exec(raw);
        const n = m === null ? NaN : Number(m[1]);
        // Stricter than llhttp (which overflows at 2^64): past 2^53 a Number is no longer exact.
        if (!(n <= Number.MAX_SAFE_INTEGER)) return !this.fail(`invalid content-length ${JSON.stringify(raw.slice(0, 40))}`, 'HPE_INVALID_CONTENT_LENGTH');
        this.hasLength = true;
        this.remaining = n;
        break;
      }
      case 'transfer-encoding':
        if (this.hasLength) return !this.fail('transfer-encoding with content-length', 'HPE_INVALID_TRANSFER_ENCODING');
        // An empty value is no coding at all for llhttp (its flag is set by the value's first byte).
        if (raw !== '') {
          this.hasCoding = true;
          this.chunked = CHUNKED_LAST.test(raw);
        }
        return true;
      case 'connection':
      case 'proxy-connection':
        // Tokens as Node 20's llhttp (9.3) reads them: a tab after `close` makes it another token (9.4 fixed
        // that, llhttp #866), and an NBSP is part of a token, unlike for String.trim.
        if (raw === 'keep-alive') this.keepAliveToken = true;
        else if (raw === 'close') this.close = true;
        else
          for (const token of raw.toLowerCase().split(',')) {
            const t = token.replace(TOKEN_EDGES, '');
            if (t === 'close') this.close = true;
            else if (t === 'keep-alive') this.keepAliveToken = true;
          }
        break;
    }
    const prev = into[name];
    into[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    return true;
  }

  /** A chunk-size line: hex size, then nothing or extensions (llhttp chunk_size*, chunk_extension*). */
  private chunkLine(line: string): void {
    let size = 0;
    let i = 0;
    for (; i < line.length; i++) {
      const c = line.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d === -1) break;
      size = size * 16 + d;
      // Stricter than llhttp (which overflows at 2^64): past 2^53 a Number is no longer exact.
      if (size > Number.MAX_SAFE_INTEGER) return void this.fail('chunk size too large', 'HPE_INVALID_CHUNK_SIZE');
    }
    if (i === 0 || (i < line.length && (line.endsWith(';') || !CHUNK_EXTENSIONS.test(line.slice(i))))) {
      return void this.fail(`invalid chunk line ${JSON.stringify(line.slice(0, 40))}`, 'HPE_INVALID_CHUNK_SIZE');
    }
    if (size === 0) this.state = State.Trailers;
    else {
      this.state = State.ChunkData;
      this.remaining = size;
    }
  }

  /** A trailer line, held to the header rules (llhttp parses trailers with the same states). */
  private trailerLine(line: string): void {
    if (line === '') {
      if (this.trailers !== null) this.sink.onTrailers(this.trailers);
      this.state = State.Done;
      return;
    }
    // Framing and connection trailers still count, as in llhttp: a non-chunked coding or a close here
    // means the connection is not reused.
    this.field(line, (this.trailers ??= {}));
  }
}
