// Upstream answers that Node's own parser (llhttp, strict mode) refuses, each written byte for byte by a
// raw TCP upstream on loopback and read through the sidecar's real HTTP/1.1 client. A refused answer must
// fail the exchange as a reset (the proxy answers 502 upstream-protocol-error, see proxy/errors.ts); an answer the
// RFC lets a recipient normalise must come out with framing that cannot be relayed wrong.
// Sources: llhttp test/response/*.md (file and case title in each comment), RFC 9112, and James Kettle,
// "HTTP Desync Attacks: Request Smuggling Reborn" (PortSwigger Research, 2019).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { H1Pool, type H1Response } from '../../../proxy/http1/index.js';
import { classifyTransportError, resetErrorCode } from '../../../proxy/errors.js';

const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
});

/** An upstream that answers every request head with `bytes`, then ends the connection when `end` says so. */
async function upstream(bytes: string, end = true): Promise<{ pool: H1Pool; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    let buffered = '';
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      if (!buffered.includes('\r\n\r\n')) return;
      buffered = '';
      const out = Buffer.from(bytes, 'latin1');
      if (end) socket.end(out);
      else socket.write(out);
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const pool = new H1Pool({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, tls: null }, { connections: 4, idleTimeoutMs: 30_000, connectTimeoutMs: 2_000 });
  closers.push(() => {
    pool.destroy();
    server.close();
  });
  return { pool, connections: () => connections };
}

async function bodyOf(r: H1Response): Promise<string> {
  if (r.complete !== null) return r.complete.toString('latin1');
  let s = '';
  for await (const c of r.body) s += (c as Buffer).toString('latin1');
  return s;
}

/** The whole exchange, body included: the answer, or the error that ended it. */
async function exchange(bytes: string, method = 'GET'): Promise<{ response: H1Response; body: string } | { error: unknown }> {
  const { pool } = await upstream(bytes);
  try {
    const response = await pool.request({ method, path: '/', headers: [], body: null });
    return { response, body: await bodyOf(response) };
  } catch (error) {
    return { error };
  }
}

const OK = 'HTTP/1.1 200 OK\r\n';

/** [citation, bytes]: answers llhttp rejects; the sidecar must refuse each as a reset. */
const REFUSED: Array<[string, string]> = [
  // RFC 9112 §6.3 ¶3; llhttp test/request/transfer-encoding.md "Content-Length and Transfer-Encoding"; Kettle 2019 (CL.TE / TE.CL).
  ['CL then TE: chunked', `${OK}content-length: 3\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
  ['TE: chunked then CL', `${OK}transfer-encoding: chunked\r\ncontent-length: 30\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
  ['CL then TE: gzip', `${OK}content-length: 5\r\ntransfer-encoding: gzip\r\n\r\nhello`],
  // RFC 9112 §6.3 ¶5; llhttp "Duplicate Content-Length" (src/llhttp/http.ts header_value_content_length_once).
  ['two different Content-Lengths', `${OK}content-length: 5\r\ncontent-length: 6\r\n\r\nhello!`],
  ['two equal Content-Lengths', `${OK}content-length: 5\r\ncontent-length: 5\r\n\r\nhello`],
  // llhttp "Invalid character in Content-Length"; RFC 9110 §8.6 (1*DIGIT).
  ['Content-Length with a letter', `${OK}content-length: 5a\r\n\r\nhello`],
  ['Content-Length with a plus sign', `${OK}content-length: +5\r\n\r\nhello`],
  ['Content-Length negative', `${OK}content-length: -5\r\n\r\nhello`],
  ['Content-Length with a space inside', `${OK}content-length: 1 2\r\n\r\nhello`],
  ['Content-Length in hex', `${OK}content-length: 0x5\r\n\r\nhello`],
  ['Content-Length empty', `${OK}content-length: \r\n\r\nhello`],
  // Node 20's llhttp (9.3, header_value_content_length_ws) refuses a tab after the digits; 9.4 takes it.
  ['Content-Length with a tab after it', `${OK}content-length: 5\t\r\n\r\nhello`],
  ['Content-Length as a list', `${OK}content-length: 5, 5\r\n\r\nhello`],
  // RFC 9110 §10.1.4 and RFC 9112 §6.1: we never offer TE, so chunked is the only transfer coding an upstream
  // may use; llhttp reads such a body until close, we refuse it (a coding we cannot decode, see response-parser.ts).
  ['Transfer-Encoding: gzip alone', `${OK}transfer-encoding: gzip\r\n\r\nhello`],
  ['Transfer-Encoding: chunked, gzip', `${OK}transfer-encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
  // llhttp test/response/transfer-encoding.md "`chunkedchunked` transfer-encoding does not enable chunked enconding".
  ['Transfer-Encoding: chunkedchunked', `${OK}transfer-encoding: chunkedchunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n`],
  // llhttp test/response/transfer-encoding.md "Invalid OBS fold after chunked value"; RFC 9112 §5.2.
  ['obs-fold after Transfer-Encoding', `${OK}transfer-encoding: chunked\r\n  abc\r\n\r\n5\r\nWorld\r\n0\r\n\r\n`],
  ['obs-fold in an ordinary header', `${OK}x-a: 1\r\n\tcontinued\r\ncontent-length: 0\r\n\r\n`],
  // llhttp test/response/invalid.md "Invalid space after start line".
  ['space before the first header', `${OK} content-length: 0\r\n\r\n`],
  // llhttp test/response/sample.md "No carriage ret"; RFC 9112 §2.2.
  ['bare LF after the status line', 'HTTP/1.1 200 OK\ncontent-length: 0\r\n\r\n'],
  ['bare LF between headers', `${OK}x-a: 1\nx-b: 2\r\ncontent-length: 0\r\n\r\n`],
  ['bare CR in the reason phrase', 'HTTP/1.1 200 OK\rx-smuggled: 1\r\ncontent-length: 0\r\n\r\n'],
  ['bare CR in a header value', `${OK}x-a: 1\rx-b: 2\r\ncontent-length: 0\r\n\r\n`],
  ['only bare LFs', 'HTTP/1.1 200 OK\ncontent-length: 0\n\n'],
  // llhttp "Invalid header value char" / "Invalid header token": NUL and other controls (RFC 9110 §5.5).
  ['NUL in a header value', `${OK}x-a: a\0b\r\ncontent-length: 0\r\n\r\n`],
  ['NUL in a header name', `${OK}x-\0a: 1\r\ncontent-length: 0\r\n\r\n`],
  ['control character in a header value', `${OK}x-a: a\x01b\r\ncontent-length: 0\r\n\r\n`],
  ['DEL in a header value', `${OK}x-a: a\x7fb\r\ncontent-length: 0\r\n\r\n`],
  // llhttp test/response/sample.md "Spaces in header name"; RFC 9112 §5.1 (no whitespace before the colon).
  ['space before the colon', `${OK}content-length : 5\r\n\r\nhello`],
  ['space inside a header name', `${OK}x a: 1\r\ncontent-length: 0\r\n\r\n`],
  ['empty header name', `${OK}: x\r\ncontent-length: 0\r\n\r\n`],
  // llhttp "Invalid character in chunk size", "Chunk size overflow", test/response/transfer-encoding.md
  // "Trailing space on chunked body", "No semicolon before chunk extensions", "No extension after semicolon".
  ['chunk size overflow', `${OK}transfer-encoding: chunked\r\n\r\n1ffffffffffffffff\r\nhello\r\n0\r\n\r\n`],
  ['chunk size 0x5', `${OK}transfer-encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`],
  ['chunk size negative', `${OK}transfer-encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n`],
  ['chunk size with a trailing space', `${OK}transfer-encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`],
  ['chunk size with a leading space', `${OK}transfer-encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n`],
  ['chunk extension without a semicolon', `${OK}transfer-encoding: chunked\r\n\r\n5 ext\r\nhello\r\n0\r\n\r\n`],
  ['empty chunk extension', `${OK}transfer-encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n`],
  ['chunk extension with a space', `${OK}transfer-encoding: chunked\r\n\r\n5;a b\r\nhello\r\n0\r\n\r\n`],
  ['chunk extension with an unbalanced quote', `${OK}transfer-encoding: chunked\r\n\r\n5;a="b\r\nhello\r\n0\r\n\r\n`],
  ['chunk size line ended by a bare LF', `${OK}transfer-encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`],
  // llhttp "Expected LF after chunk data": the length said 5, the data ran on (Kettle 2019, chunk-size desync).
  ['no CRLF after chunk data', `${OK}transfer-encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n`],
  ['bare LF after chunk data', `${OK}transfer-encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`],
  // Trailers follow the header rules (llhttp parses them with the same states).
  ['malformed trailer', `${OK}transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx bad: 1\r\n\r\n`],
  ['Content-Length as a trailer', `${OK}transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\ncontent-length: 5\r\n\r\n`],
  // llhttp test/response/invalid.md and src/llhttp/http.ts status line states; RFC 9112 §4.
  ['HTTP/1.2', 'HTTP/1.2 200 OK\r\ncontent-length: 0\r\n\r\n'],
  ['HTTP/11', 'HTTP/11 200 OK\r\ncontent-length: 0\r\n\r\n'],
  ['lower-case http/1.1', 'http/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'],
  ['two-digit status', 'HTTP/1.1 20 OK\r\ncontent-length: 0\r\n\r\n'],
  ['four-digit status', 'HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n'],
  ['tab after the status code', 'HTTP/1.1 200\tOK\r\ncontent-length: 0\r\n\r\n'],
  ['two spaces before the status', 'HTTP/1.1  200 OK\r\ncontent-length: 0\r\n\r\n'],
  // Stricter than llhttp (which takes 000-099): RFC 9110 §15 says such a status is invalid, and Node's server could not relay it.
  ['status 099', 'HTTP/1.1 099 Odd\r\ncontent-length: 0\r\n\r\n'],
];

describe('HTTP/1.1 client: answers llhttp refuses are refused', () => {
  for (const [name, bytes] of REFUSED) {
    it(`${name}: ${JSON.stringify(bytes.slice(0, 60))}`, async () => {
      const out = await exchange(bytes);
      assert.ok('error' in out, `accepted: status ${'response' in out ? out.response.statusCode : ''}, body ${'body' in out ? JSON.stringify(out.body) : ''}`);
      assert.equal(classifyTransportError(out.error), 'reset', 'a reset to the retry policy');
      assert.equal(resetErrorCode(out.error), 'upstream-protocol-error', 'the proxy answers 502 upstream-protocol-error (Envoy: UPE), not 503 upstream-reset');
    });
  }
});

describe('HTTP/1.1 client: answers llhttp accepts come out unambiguous', () => {
  it('a de-chunked body carries no framing header to relay (llhttp test/response/transfer-encoding.md "Chunk extensions")', async () => {
    const out = await exchange(`${OK}Transfer-Encoding: CHUNKED\r\n\r\n5;ilovew3;somuchlove=aretheseparametersfor\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n`);
    assert.ok('response' in out);
    assert.equal(out.body, 'hello world');
    assert.equal(out.response.headers['transfer-encoding'], undefined);
    assert.equal(out.response.headers['content-length'], undefined);
  });

  it('quoted chunk extensions (llhttp "Chunk extensions quoting")', async () => {
    const out = await exchange(`${OK}transfer-encoding: chunked\r\n\r\n5;ilovew3="I love; extensions";somuchlove="aretheseparametersfor";blah;foo=bar\r\nhello\r\n0\r\n\r\n`);
    assert.ok('response' in out);
    assert.equal(out.body, 'hello');
  });

  it('Content-Length with tabs and spaces before it, spaces after it (llhttp test/response/content-length.md "Tabs in `Content-Length` (surrounding)")', async () => {
    const out = await exchange(`${OK}content-length: \t 5  \r\n\r\nhello`);
    assert.ok('response' in out);
    assert.equal(out.body, 'hello');
  });

  it('a status line without a reason phrase (llhttp test/response/sample.md "No reason phrase")', async () => {
    for (const line of ['HTTP/1.1 200', 'HTTP/1.1 200 ']) {
      const out = await exchange(`${line}\r\ncontent-length: 2\r\n\r\nok`);
      assert.ok('response' in out, line);
      assert.equal(out.response.statusCode, 200);
      assert.equal(out.body, 'ok');
    }
  });

  it('an answer that starts with CRLF (llhttp test/response/sample.md "Response starting with CRLF")', async () => {
    const out = await exchange(`\r\n${OK}content-length: 2\r\n\r\nok`);
    assert.ok('response' in out);
    assert.equal(out.body, 'ok');
  });

  it('204 and 304 have no body whatever their framing headers say (llhttp test/response/connection.md "HTTP 304 with Content-Length")', async () => {
    for (const bytes of ['HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n']) {
      const out = await exchange(bytes);
      assert.ok('response' in out, bytes);
      assert.equal(out.body, '');
    }
  });

  it('a HEAD answer has no body, and its Content-Length stays (it is the length of the GET body)', async () => {
    const out = await exchange(`${OK}content-length: 5\r\n\r\n`, 'HEAD');
    assert.ok('response' in out);
    assert.equal(out.body, '');
    assert.equal(out.response.headers['content-length'], '5');
  });

  it('1xx answers are skipped, whatever framing headers they carry (llhttp "HTTP 100 first, then 400")', async () => {
    const out = await exchange('HTTP/1.1 100 Continue\r\ncontent-length: 5\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\nno');
    assert.ok('response' in out);
    assert.equal(out.response.statusCode, 400);
    assert.equal(out.body, 'no');
  });

  it('a close-delimited body, and HTTP/1.0 without keep-alive, retire the connection', async () => {
    for (const bytes of [`${OK}\r\nuntil close`, 'HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok']) {
      const { pool, connections } = await upstream(bytes, false);
      const a = await pool.request({ method: 'GET', path: '/', headers: [], body: null });
      if (bytes.includes('until')) await new Promise((r) => setTimeout(r, 20)); // the body ends only at the close, which never comes here
      else assert.equal(await bodyOf(a), 'ok');
      a.dump();
      await pool.request({ method: 'GET', path: '/', headers: [], body: null }).catch(() => {});
      assert.equal(connections(), 2, JSON.stringify(bytes));
    }
  });

  it('Proxy-Connection: close counts as Connection: close (llhttp test/response/connection.md "Proxy-Connection")', async () => {
    const { pool, connections } = await upstream(`${OK}proxy-connection: close\r\ncontent-length: 2\r\n\r\nok`, false);
    for (let i = 0; i < 2; i++) assert.equal(await bodyOf(await pool.request({ method: 'GET', path: '/', headers: [], body: null })), 'ok');
    assert.equal(connections(), 2);
  });
});
