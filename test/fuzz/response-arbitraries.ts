// Generated upstream responses: mostly well-formed structure with nasty pieces mixed in where parsers
// disagree in practice (framing headers, chunk lines, line endings, control bytes, obs-fold, duplicates,
// trailers, a second pipelined response). Structured rather than random bytes, so most cases get past
// the status line and exercise framing.
import fc from 'fast-check';

/** A byte string (latin1) from pieces. */
const pick = <T>(...xs: T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
const some = (weight: number, arb: fc.Arbitrary<string>, otherwise: string): fc.Arbitrary<string> =>
  fc.oneof({ weight: 100 - weight, arbitrary: fc.constant(otherwise) }, { weight, arbitrary: arb });

/** Bytes that break parsers: controls, CR, LF, NUL, DEL, obs-text, separators. */
const NASTY = ['\0', '\x01', '\x0b', '\x0c', '\x1f', '\x7f', '\r', '\n', '\t', ' ', '\x80', '\xa0', '\xff', '"', ',', ';', ':', '=', '\\'];
const nastyText = fc.string({ unit: fc.oneof({ weight: 3, arbitrary: pick(...'abcXYZ019-_.'.split('')) }, { weight: 1, arbitrary: pick(...NASTY) }), maxLength: 8 });

const eol = fc.oneof({ weight: 30, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: pick('\n', '\r', '\r\r\n', '\n\r') });

const statusLine = fc
  .record({
    proto: fc.oneof({ weight: 30, arbitrary: fc.constant('HTTP/1.1') }, { weight: 4, arbitrary: fc.constant('HTTP/1.0') }, { weight: 2, arbitrary: pick('HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'HTTP/11', 'http/1.1', 'HTTP/1.1 ', 'RTSP/1.0', 'HTTP/1,1') }),
    sep: some(5, pick('  ', '\t', ''), ' '),
    status: fc.oneof(
      { weight: 20, arbitrary: pick('200', '201', '404', '500', '204', '304') },
      { weight: 3, arbitrary: pick('100', '103', '102', '199', '101') },
      { weight: 1, arbitrary: pick('099', '000', '2000', '20', '2x0', '999', '600') },
    ),
    reason: fc.oneof({ weight: 10, arbitrary: pick(' OK', ' Not Found', '') }, { weight: 2, arbitrary: pick(' ', '\tOK') }, { weight: 2, arbitrary: nastyText.map((t) => ` ${t}`) }),
    end: eol,
  })
  .map((s) => `${s.proto}${s.sep}${s.status}${s.reason}${s.end}`);

const headerName = fc.oneof(
  { weight: 10, arbitrary: pick('content-length', 'Content-Length', 'transfer-encoding', 'Transfer-Encoding', 'connection', 'x-a', 'content-type') },
  { weight: 3, arbitrary: pick('proxy-connection', 'keep-alive', 'upgrade', 'trailer', 'set-cookie', 'host', 'x_under') },
  { weight: 2, arbitrary: pick('content-length ', 'transfer-encoding ', ' x-a', 'x a', '', 'content\rlength', 'x-\0a', 'Content-Length-X', 'x\x80') },
  { weight: 1, arbitrary: nastyText },
);

const value = (name: string, bodyLength: number): fc.Arbitrary<string> => {
  const lower = name.toLowerCase();
  if (lower.startsWith('content-length')) {
    return fc.oneof(
      { weight: 10, arbitrary: fc.constant(String(bodyLength)) },
      { weight: 3, arbitrary: fc.integer({ min: 0, max: bodyLength + 5 }).map(String) },
      { weight: 3, arbitrary: pick(`+${bodyLength}`, `-${bodyLength}`, `${bodyLength} ${bodyLength}`, `${bodyLength}, ${bodyLength}`, `0${bodyLength}`, `${bodyLength}a`, '', ' ', `\t${bodyLength}\t`, `0x${bodyLength}`, '99999999999999999999', '18446744073709551616', `${bodyLength}\x0b`) },
    );
  }
  if (lower.startsWith('transfer-encoding')) {
    return fc.oneof(
      { weight: 10, arbitrary: fc.constant('chunked') },
      { weight: 6, arbitrary: pick('CHUNKED', 'chunked ', 'chunked\t', ' chunked', 'gzip, chunked', 'gzip,chunked', 'chunked, gzip', 'gzip', 'identity', 'chunkedchunked', 'xchunked', 'chunked;q=1', '"chunked"', '', 'chunked,', ',chunked', 'gzip, ,chunked', 'chunked\xa0', 'x\x80, chunked') },
    );
  }
  if (lower === 'connection' || lower === 'proxy-connection') return pick('close', 'keep-alive', 'Close', 'upgrade', 'close, x', 'x, keep-alive', 'keep-alive, close', 'closed', ' close ', 'close\xa0', '');
  return fc.oneof({ weight: 8, arbitrary: pick('1', 'text/plain', 'a b', 'timeout=5', '') }, { weight: 2, arbitrary: nastyText });
};

const header = (bodyLength: number): fc.Arbitrary<string> =>
  headerName.chain((name) =>
    fc.record({ sep: some(8, pick(':', ':\t', ': \t ', ' :', '::'), ': '), v: value(name, bodyLength), trail: some(5, pick(' ', '\t', ' \t'), ''), end: eol, fold: some(3, pick(' folded\r\n', '\tfolded\r\n', ' \r\n'), '') }).map((h) => `${name}${h.sep}${h.v}${h.trail}${h.end}${h.fold}`),
  );

/** One chunk: a size line (right or mangled), its data, its line end. */
const chunk = fc.record({ data: fc.string({ unit: pick('a', 'b', '0', '\r', '\n', '\xff'), minLength: 1, maxLength: 12 }), size: fc.integer({ min: 0, max: 9 }), ext: some(15, pick(';a', ';a=b', ';a="b;c"', ';a="\\"x"', ';', '; a', ';a=', ';=b', ';;a', ';a="open', ';a=b c', ';a\x80'), ''), end: some(5, pick('\n', '', 'XX', '\r'), '\r\n'), upper: fc.boolean() }).map((c) => {
  const hex = c.data.length.toString(16);
  const sizes = [hex, c.upper ? hex.toUpperCase() : hex, `0${hex}`, `${hex} `, ` ${hex}`, `0x${hex}`, `-${hex}`, (c.data.length + 1).toString(16), '10000000000000000', `${hex}\t`];
  const size = c.size < 6 ? hex : sizes[c.size]!;
  return `${size}${c.ext}\r\n${c.data}${c.end}`;
});

const chunkedBody = fc.record({ chunks: fc.array(chunk, { maxLength: 3 }), lastExt: some(10, pick(';a=b', ' ', ';'), ''), trailers: fc.array(header(0), { maxLength: 2 }), end: some(5, pick('\n', ''), '\r\n') }).map((b) => `${b.chunks.join('')}0${b.lastExt}\r\n${b.trailers.join('')}${b.end}`);

const plainBody = fc.string({ unit: pick('h', 'e', 'l', 'o', '\r', '\n', '0', 'H'), maxLength: 10 });

/** One response: status line, headers (framing ones likely), then a body shaped by what the headers say. */
export const response: fc.Arbitrary<string> = fc
  .record({ lead: some(3, pick('\r\n', '\n', '\r'), ''), line: statusLine, body: plainBody, chunked: fc.boolean() })
  .chain((r) =>
    fc
      .record({
        headers: fc.array(header(r.body.length), { maxLength: 4 }),
        forceFraming: pick('', `content-length: ${r.body.length}\r\n`, 'transfer-encoding: chunked\r\n'),
        headEnd: eol,
        chunkedBody,
      })
      .map((h) => {
        const head = `${r.lead}${r.line}${h.forceFraming}${h.headers.join('')}${h.headEnd}`;
        const chunkedHead = /transfer-encoding:\s*chunked/i.test(head);
        return head + (chunkedHead || (r.chunked && !/content-length/i.test(head)) ? h.chunkedBody : r.body);
      }),
  );

/** One to three responses back to back (a pipelined second one tests where the first ends), HEAD or not. */
export const responses: fc.Arbitrary<{ bytes: string; head: boolean; cuts: number[] }> = fc.record({
  bytes: fc.array(response, { minLength: 1, maxLength: 3 }).map((rs) => rs.join('')),
  head: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  cuts: fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 4 }),
});
