// Spans on the wire between a sidecar and the control plane: length-prefixed fields ("5:hello"), so nothing
// needs escaping, written as UTF-8 into the exporter's reused buffer (./span-exporter.ts) the moment a
// request ends. The headers go as they already are (the parser's raw list, the response head Node wrote):
// the request path neither builds header attributes nor keeps anything alive until the next flush.
// decodeSpanBatch, on the control plane's side, makes the SpanRecords, with the headers as redacted,
// bounded header lines (./span-headers.ts).
import { isAscii } from 'node:buffer';
import type { SpanRecord } from './index.js';
import { headerLines, redactQuery, responseHeadLines } from './span-headers.js';

/** A span as the sidecar reports it, with its headers still raw. */
export interface SpanSource extends SpanRecord {
  /** Flat [name, value, ...] as received (IncomingMessage.rawHeaders). */
  requestHeaders?: readonly string[];
  /** The response head as written ("HTTP/1.1 200 OK\r\nname: value\r\n..."), or flat [name, value, ...]. */
  responseHeaders?: string | readonly string[];
}

const f = (s: string): string => `${s.length}:${s}`;
const nullable = (s: string | null): string => (s === null ? '-:' : `${s.length}:${s}`);

function encodeList(list: readonly string[] | undefined): string {
  if (list === undefined) return '0:';
  let out = `${list.length}:`;
  for (let i = 0; i < list.length; i++) out += f(list[i]!);
  return out;
}

/** One span, ready to append to a batch. */
export function encodeSpan(span: SpanSource): string {
  let attrs = '';
  let count = 0;
  const a = span.attributes;
  for (const key in a) {
    const v = a[key]!;
    // The type rides on the key's first character: s(tring), n(umber), b(oolean).
    attrs += typeof v === 'string' ? f(`s${key}`) + f(v) : typeof v === 'number' ? f(`n${key}`) + f(String(v)) : f(`b${key}`) + (v ? '1:1' : '1:0');
    count++;
  }
  const response = span.responseHeaders;
  return (
    f(span.traceId) +
    f(span.spanId) +
    nullable(span.parentSpanId) +
    f(span.kind) +
    f(span.service) +
    f(span.instanceId) +
    nullable(span.peerService) +
    f(span.method) +
    f(span.path) +
    f(String(span.status)) +
    f(String(span.startMs)) +
    f(String(span.durationMs)) +
    f(String(span.attempts)) +
    nullable(span.error) +
    `${count * 2}:${attrs}` +
    encodeList(span.requestHeaders) +
    (typeof response === 'string' ? `h${f(response)}` : `l${encodeList(response)}`)
  );
}

/** Reads the fields of a batch in order; a subclass says how lengths are read and text is cut. */
abstract class FieldReader {
  at = 0;
  constructor(private readonly size: number) {}
  get done(): boolean {
    return this.at >= this.size;
  }
  /** A "<n>:" prefix: a field's length, or a list's count (each field takes at least 2 characters, so n
   * within what is left bounds both); -1 for "-:", a null. */
  protected abstract length(): number;
  protected abstract cut(from: number, to: number): string;
  protected abstract charAt(at: number): string;
  /** Like cut, for a field kept after the batch is written: a string that does not hold the batch. */
  protected ownedCut(from: number, to: number): string {
    return this.cut(from, to);
  }
  /** Errors name positions only: a misaligned batch would show pieces of header values (credentials). */
  protected checked(n: number): number {
    if (!Number.isInteger(n) || n < 0 || this.at + n > this.size) throw new Error(`span batch: bad field length at ${this.at}`);
    return n;
  }
  nullable(owned = false): string | null {
    const n = this.length();
    if (n === -1) return null;
    const v = owned ? this.ownedCut(this.at, this.at + n) : this.cut(this.at, this.at + n);
    this.at += n;
    return v;
  }
  str(owned = false): string {
    const v = this.nullable(owned);
    if (v === null) throw new Error(`span batch: unexpected null at ${this.at}`);
    return v;
  }
  list(owned = false): string[] {
    const n = this.length();
    if (n === -1) throw new Error(`span batch: unexpected null list at ${this.at}`);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.str(owned));
    return out;
  }
  char(): string {
    if (this.at >= this.size) throw new Error('span batch: truncated');
    return this.charAt(this.at++);
  }
}

class TextReader extends FieldReader {
  constructor(private readonly s: string) {
    super(s.length);
  }
  protected length(): number {
    const colon = this.s.indexOf(':', this.at);
    if (colon === -1) throw new Error(`span batch: no field at ${this.at}`);
    const text = this.s.slice(this.at, colon);
    this.at = colon + 1;
    if (text === '-') return -1;
    if (text === '') throw new Error(`span batch: empty field length at ${this.at}`);
    return this.checked(Number(text));
  }
  protected cut(from: number, to: number): string {
    return this.s.slice(from, to);
  }
  protected charAt(at: number): string {
    return this.s[at]!;
  }
}

/**
 * The same fields read from an all-ASCII batch (the common case: ids, numbers, paths and headers are
 * ASCII), where a byte offset is a character offset. Most fields are slices of a string made of the next
 * CHUNK bytes at a time: a slice costs a tenth of a string made from the bytes, and decoding is most of
 * what storing a span costs. (Not one string of the whole batch: V8 takes ~20 times longer per byte to make
 * a 500 KB string than a 64 KB one.) A slice keeps its chunk alive for as long as it is kept, so the fields
 * kept past the batch's write (ids, names, path: the tap's ring and the store's recent traces hold them)
 * are read owned (`str(true)`, `nullable(true)`, `list(true)`), as strings of their own.
 */
class ByteReader extends FieldReader {
  private static readonly CHUNK = 64 * 1024;
  private chunk = '';
  private chunkAt = 0;
  constructor(private readonly b: Buffer) {
    super(b.length);
  }
  protected length(): number {
    const b = this.b;
    const start = this.at;
    if (b[start] === 45 /* - */ && b[start + 1] === 58 /* : */) {
      this.at = start + 2;
      return -1;
    }
    let n = 0;
    let i = start;
    for (; i < b.length && i - start <= 15; i++) {
      const d = b[i]! - 48;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (b[i] !== 58 /* : */) throw new Error(`span batch: no field at ${start}`);
    this.at = i + 1;
    if (i === start) throw new Error(`span batch: empty field length at ${this.at}`);
    return this.checked(n);
  }
  protected cut(from: number, to: number): string {
    if (from < this.chunkAt || to > this.chunkAt + this.chunk.length) {
      this.chunkAt = from;
      this.chunk = this.b.toString('latin1', from, Math.min(this.b.length, from + Math.max(ByteReader.CHUNK, to - from)));
    }
    return this.chunk.slice(from - this.chunkAt, to - this.chunkAt);
  }
  protected override ownedCut(from: number, to: number): string {
    return this.b.toString('latin1', from, to);
  }
  protected charAt(at: number): string {
    return String.fromCharCode(this.b[at]!);
  }
}

// The same few attribute names come in every span: each typed name ("sroute") is cut to its key once, so
// the key is a string V8 has already hashed and interned. Bounded, as hostile input could vary them.
const attributeKeys = new Map<string, string>();
function attributeKey(typed: string): string {
  let key = attributeKeys.get(typed);
  if (key === undefined) {
    key = typed.slice(1);
    // Both are owned strings (the pairs are read owned), so the cache holds no batch.
    if (attributeKeys.size < 256) attributeKeys.set(typed, key);
  }
  return key;
}

/** The spans of a batch (UTF-8 bytes, or text), with their headers as redacted, bounded header lines. Throws on a malformed batch. */
export function decodeSpanBatch(batch: Uint8Array | string): SpanRecord[] {
  // Field lengths count UTF-16 code units; UTF-8 round-trips them (a lone surrogate becomes U+FFFD, also one unit).
  const bytes = typeof batch === 'string' ? null : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
  const r: FieldReader = bytes === null ? new TextReader(batch as string) : isAscii(bytes) ? new ByteReader(bytes) : new TextReader(bytes.toString('utf8'));
  const spans: SpanRecord[] = [];
  while (!r.done) {
    // What outlives the batch's write is read owned (see ByteReader); the headers are not.
    const traceId = r.str(true);
    const spanId = r.str(true);
    const parentSpanId = r.nullable(true);
    const kind = r.str();
    if (kind !== 'client' && kind !== 'server') throw new Error(`span batch: bad kind at ${r.at}`);
    const service = r.str(true);
    const instanceId = r.str(true);
    const peerService = r.nullable(true);
    const method = r.str(true);
    // The target as the client sent it may carry credentials (?access_token=…): never stored as sent.
    const path = redactQuery(r.str(true));
    const status = Number(r.str());
    const startMs = Number(r.str());
    const durationMs = Number(r.str());
    const attempts = Number(r.str());
    const error = r.nullable(true);
    const attributes: SpanRecord['attributes'] = {};
    const pairs = r.list(true);
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const typed = pairs[i]!;
      const value = pairs[i + 1]!;
      const key = attributeKey(typed);
      attributes[key] = typed[0] === 'n' ? Number(value) : typed[0] === 'b' ? value === '1' : key === 'upstream.path' ? redactQuery(value) : value;
    }
    const request = headerLines(attributes, 'request', r.list());
    const how = r.char();
    if (how !== 'h' && how !== 'l') throw new Error(`span batch: bad response headers tag at ${r.at}`);
    const response = headerLines(attributes, 'response', how === 'h' ? responseHeadLines(r.str()) : r.list());
    const headers = request === '' ? response : response === '' ? request : [request, response].join('');
    spans.push({ traceId, spanId, parentSpanId, kind, service, instanceId, peerService, method, path, status, startMs, durationMs, attempts, error, attributes, headers });
  }
  return spans;
}
