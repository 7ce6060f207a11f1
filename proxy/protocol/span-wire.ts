// Spans on the wire between a sidecar and the control plane: length-prefixed fields ("5:hello"), so nothing
// needs escaping, written as UTF-8 into the exporter's reused buffer (./span-exporter.ts) the moment a
// request ends. The headers go as they already are (the parser's raw list, the response head Node wrote):
// the request path neither builds header attributes nor keeps anything alive until the next flush.
// decodeSpanBatch, on the control plane's side, makes the SpanRecords, with the headers as redacted,
// bounded `http.<direction>.header.<name>` attributes (./span-headers.ts).
import { isAscii } from 'node:buffer';
import type { SpanRecord } from './index.js';
import { headerAttributes, redactQuery, responseHeadLines } from './span-headers.js';

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
  /** Errors name positions only: a misaligned batch would show pieces of header values (credentials). */
  protected checked(n: number): number {
    if (!Number.isInteger(n) || n < 0 || this.at + n > this.size) throw new Error(`span batch: bad field length at ${this.at}`);
    return n;
  }
  nullable(): string | null {
    const n = this.length();
    if (n === -1) return null;
    const v = this.cut(this.at, this.at + n);
    this.at += n;
    return v;
  }
  str(): string {
    const v = this.nullable();
    if (v === null) throw new Error(`span batch: unexpected null at ${this.at}`);
    return v;
  }
  list(): string[] {
    const n = this.length();
    if (n === -1) throw new Error(`span batch: unexpected null list at ${this.at}`);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.str());
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
 * The same fields read straight from the bytes of an all-ASCII batch (the common case: ids, numbers, paths
 * and headers are ASCII), where a byte offset is a character offset: no string of the whole batch (~500 KB,
 * a large-object allocation) is made, and each field is a string of its own, where slices of one big string
 * would keep the whole batch alive for as long as any field is kept (the tap's ring keeps some).
 */
class ByteReader extends FieldReader {
  constructor(private readonly b: Buffer) {
    super(b.length);
  }
  protected length(): number {
    const b = this.b;
    const colon = b.indexOf(58 /* : */, this.at);
    if (colon === -1) throw new Error(`span batch: no field at ${this.at}`);
    const start = this.at;
    this.at = colon + 1;
    if (colon === start + 1 && b[start] === 45 /* - */) return -1;
    if (colon === start) throw new Error(`span batch: empty field length at ${this.at}`);
    let n = 0;
    for (let i = start; i < colon; i++) {
      const d = b[i]! - 48;
      n = d < 0 || d > 9 || colon - start > 15 ? NaN : n * 10 + d;
    }
    return this.checked(n);
  }
  protected cut(from: number, to: number): string {
    return this.b.toString('latin1', from, to);
  }
  protected charAt(at: number): string {
    return String.fromCharCode(this.b[at]!);
  }
}

/** The spans of a batch (UTF-8 bytes, or text), with their headers as redacted, bounded attributes. Throws on a malformed batch. */
export function decodeSpanBatch(batch: Uint8Array | string): SpanRecord[] {
  // Field lengths count UTF-16 code units; UTF-8 round-trips them (a lone surrogate becomes U+FFFD, also one unit).
  const bytes = typeof batch === 'string' ? null : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
  const r: FieldReader = bytes === null ? new TextReader(batch as string) : isAscii(bytes) ? new ByteReader(bytes) : new TextReader(bytes.toString('utf8'));
  const spans: SpanRecord[] = [];
  while (!r.done) {
    const traceId = r.str();
    const spanId = r.str();
    const parentSpanId = r.nullable();
    const kind = r.str();
    if (kind !== 'client' && kind !== 'server') throw new Error(`span batch: bad kind at ${r.at}`);
    const service = r.str();
    const instanceId = r.str();
    const peerService = r.nullable();
    const method = r.str();
    // The target as the client sent it may carry credentials (?access_token=…): never stored as sent.
    const path = redactQuery(r.str());
    const status = Number(r.str());
    const startMs = Number(r.str());
    const durationMs = Number(r.str());
    const attempts = Number(r.str());
    const error = r.nullable();
    const attributes: SpanRecord['attributes'] = {};
    const pairs = r.list();
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const typed = pairs[i]!;
      const value = pairs[i + 1]!;
      const key = typed.slice(1);
      attributes[key] = typed[0] === 'n' ? Number(value) : typed[0] === 'b' ? value === '1' : key === 'upstream.path' ? redactQuery(value) : value;
    }
    headerAttributes(attributes, 'request', r.list());
    const how = r.char();
    if (how !== 'h' && how !== 'l') throw new Error(`span batch: bad response headers tag at ${r.at}`);
    headerAttributes(attributes, 'response', how === 'h' ? responseHeadLines(r.str()) : r.list());
    spans.push({ traceId, spanId, parentSpanId, kind, service, instanceId, peerService, method, path, status, startMs, durationMs, attempts, error, attributes });
  }
  return spans;
}
