// Known smuggling and desync patterns, transcribed as data (facts), each with where it comes from:
// - llhttp: github.com/nodejs/llhttp test/{request,response}/<file>.md, the case title in quotes;
// - Kettle 2019: James Kettle, "HTTP Desync Attacks: Request Smuggling Reborn", PortSwigger Research
//   (the CL.TE, TE.CL and TE.TE obfuscations of Transfer-Encoding);
// - Kettle 2021: James Kettle, "HTTP/2: The Sequel is Always Worse" (the HTTP/1 downgrade cases that
//   end up as these same bytes);
// - RFC 9112 with the section.
// The fuzzers run every entry first, then their generated cases. Strings are latin1 bytes.

export interface SeedResponse {
  source: string;
  bytes: string;
  /** The request was a HEAD. */
  head?: boolean;
}

export interface SeedRequest {
  source: string;
  bytes: string;
}

const OK = 'HTTP/1.1 200 OK\r\n';
const CHUNKED = 'transfer-encoding: chunked\r\n';

export const RESPONSES: readonly SeedResponse[] = [
  { source: 'llhttp response/sample.md "Simple response"', bytes: `${OK}Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello` },
  { source: 'llhttp response/sample.md "No headers and no body"', bytes: 'HTTP/1.1 404 Not Found\r\n\r\n' },
  { source: 'llhttp response/sample.md "No reason phrase"', bytes: 'HTTP/1.1 200\r\ncontent-length: 0\r\n\r\n' },
  { source: 'llhttp response/sample.md "Empty reason phrase after space"', bytes: 'HTTP/1.1 200 \r\n\r\n' },
  { source: 'llhttp response/sample.md "No carriage ret"', bytes: 'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 0\n\n' },
  { source: 'llhttp response/sample.md "Underscore in header key"', bytes: `${OK}x_forwarded: 1\r\ncontent-length: 0\r\n\r\n` },
  { source: 'llhttp response/sample.md "Spaces in header name"', bytes: `${OK}foo bar: baz\r\ncontent-length: 0\r\n\r\n` },
  { source: 'llhttp response/sample.md "Non ASCII in status line"', bytes: 'HTTP/1.1 500 Oriëntatieprobleem\r\nContent-Length: 0\r\n\r\n' },
  { source: 'llhttp response/sample.md "HTTP version 0.9"', bytes: 'HTTP/0.9 200 OK\r\n\r\n' },
  { source: 'llhttp response/sample.md "No Content-Length, no Transfer-Encoding"', bytes: 'HTTP/1.1 200 OK\r\n\r\nclose-delimited' },
  { source: 'llhttp response/sample.md "Response starting with CRLF"', bytes: `\r\n${OK}Content-Length: 0\r\n\r\n` },
  { source: 'llhttp response/sample.md "RTSP response"', bytes: 'RTSP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n' },
  { source: 'llhttp response/sample.md "ICE response"', bytes: 'ICE/1.0 200 OK\r\nContent-Length: 0\r\n\r\n' },
  { source: 'llhttp response/sample.md "Error on invalid response start"', bytes: 'HTTPER/1.1 200 OK\r\n\r\n' },
  { source: 'llhttp response/invalid.md "Invalid space after start line"', bytes: `${OK} Content-Length: 0\r\n\r\n` },
  { source: 'llhttp response/invalid.md (invalid HTTP version)', bytes: 'HTTP/5.6 200 OK\r\n\r\n' },
  { source: 'llhttp response/invalid.md (invalid status code)', bytes: 'HTTP/1.1 2 OK\r\n\r\n' },
  { source: 'llhttp response/invalid.md (CR without LF after the status line)', bytes: 'HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n' },
  { source: 'llhttp response/content-length.md "Content-Length-X"', bytes: `${OK}Content-Length-X: 0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n` },
  { source: 'llhttp response/content-length.md "Content-Length reset when no body is received"', head: true, bytes: `${OK}Content-Length: 123\r\n\r\n${OK}Content-Length: 123\r\n\r\n` },
  { source: 'llhttp response/content-length.md "Tabs in `Content-Length` (surrounding)"', bytes: `${OK}Content-Length:\t 5 \t\r\n\r\nhello` },
  { source: 'llhttp response/transfer-encoding.md "Trailing space on chunked body"', bytes: `${OK}${CHUNKED}\r\n25  \r\nThis is the data in the first chunk\r\n\r\n0\r\n\r\n` },
  { source: 'llhttp response/transfer-encoding.md "`chunked` before other transfer-encoding"', bytes: `${OK}Transfer-Encoding: chunked, deflate\r\n\r\nWorld` },
  { source: 'llhttp response/transfer-encoding.md "multiple transfer-encoding where chunked is not the last one"', bytes: `${OK}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\nWorld` },
  { source: 'llhttp response/transfer-encoding.md "`chunkedchunked` transfer-encoding does not enable chunked enconding"', bytes: `${OK}Transfer-Encoding: chunkedchunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n` },
  { source: 'llhttp response/transfer-encoding.md "Chunk extensions"', bytes: `${OK}${CHUNKED}\r\n5;ilovew3;somuchlove=aretheseparametersfor\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n` },
  { source: 'llhttp response/transfer-encoding.md "No semicolon before chunk extensions"', bytes: `${OK}${CHUNKED}\r\n2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n` },
  { source: 'llhttp response/transfer-encoding.md "No extension after semicolon"', bytes: `${OK}${CHUNKED}\r\n2;\r\naa\r\n0\r\n\r\n` },
  { source: 'llhttp response/transfer-encoding.md "Chunk extensions quoting"', bytes: `${OK}${CHUNKED}\r\n5;ilovew3="I love; extensions";somuchlove="aretheseparametersfor";blah;foo=bar\r\nhello\r\n0\r\n\r\n` },
  { source: 'llhttp response/transfer-encoding.md "Unbalanced chunk extensions quoting"', bytes: `${OK}${CHUNKED}\r\n5;ilovew3="abc";somuchlove="def; ghi\r\nhello\r\n0\r\n\r\n` },
  { source: 'llhttp response/transfer-encoding.md "Invalid OBS fold after chunked value"', bytes: `${OK}Transfer-Encoding: chunked\r\n  abc\r\n\r\n5\r\nWorld\r\n0\r\n\r\n` },
  { source: 'llhttp response/connection.md "Proxy-Connection"', bytes: `${OK}Content-Type: text/html\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n${OK}Content-Length: 0\r\n\r\n` },
  { source: 'llhttp response/connection.md "HTTP/1.0 with keep-alive and EOF-terminated 200 status"', bytes: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nHTTP/1.0 200 OK' },
  { source: 'llhttp response/connection.md "HTTP/1.0 with keep-alive and 204 status"', bytes: 'HTTP/1.0 204 No content\r\nConnection: keep-alive\r\n\r\nHTTP/1.0 200 OK\r\n\r\n' },
  { source: 'llhttp response/connection.md "HTTP/1.1 with keep-alive disabled, content-length"', bytes: `${OK}Connection: close\r\nContent-Length: 5\r\n\r\n09876x` },
  { source: 'llhttp response/connection.md "HTTP 101 response with Upgrade and Content-Length header"', bytes: 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 4\r\n\r\nbody\r\nproto' },
  { source: 'llhttp response/connection.md "HTTP 200 response with Upgrade header and Transfer-Encoding"', bytes: `${OK}Connection: upgrade\r\nUpgrade: h2c\r\n${CHUNKED}\r\n2\r\nbo\r\n2\r\ndy\r\n0\r\n\r\n` },
  { source: 'llhttp response/connection.md "HTTP 304 with Content-Length"', bytes: `HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n\r\n${OK}Content-Length: 5\r\n\r\nhello` },
  { source: 'llhttp response/connection.md "HTTP 304 with Transfer-Encoding"', bytes: `HTTP/1.1 304 Not Modified\r\n${CHUNKED}\r\n${OK}${CHUNKED}\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'llhttp response/connection.md "HTTP 100 first, then 400"', bytes: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno' },
  { source: 'llhttp response/connection.md "HTTP 103 first, then 200"', bytes: `HTTP/1.1 103 Early Hints\r\nLink: </styles.css>; rel=preload; as=style\r\n\r\n${OK}Content-Length: 0\r\n\r\n` },
  { source: 'llhttp response/pipelining.md "Should parse multiple events"', bytes: `${OK}Content-Length: 3\r\n\r\nAAA${OK}Content-Length: 4\r\n\r\nBBBB` },
  // RFC 9112 §6.3 ¶3 and Kettle 2019: CL.TE and TE.CL, the bug this fuzzer was written for.
  { source: 'RFC 9112 §6.3; Kettle 2019 CL.TE', bytes: `${OK}Content-Length: 3\r\n${CHUNKED}\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'RFC 9112 §6.3; Kettle 2019 TE.CL', bytes: `${OK}${CHUNKED}Content-Length: 40\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'RFC 9112 §6.3 ¶5: differing Content-Lengths', bytes: `${OK}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!` },
  { source: 'RFC 9112 §6.3 ¶5: a Content-Length list', bytes: `${OK}Content-Length: 5, 5\r\n\r\nhello` },
  // Kettle 2019, "TE.TE": Transfer-Encoding obfuscations one parser honours and another ignores.
  { source: 'Kettle 2019 TE.TE: xchunked', bytes: `${OK}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'Kettle 2019 TE.TE: space before the colon', bytes: `${OK}Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'Kettle 2019 TE.TE: a second, bogus Transfer-Encoding', bytes: `${OK}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'Kettle 2019 TE.TE: tab before the value', bytes: `${OK}Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'Kettle 2019 TE.TE: leading space on the line', bytes: `${OK}X: y\r\n Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'Kettle 2019 TE.TE: bare LF inside a value', bytes: `${OK}X: X\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'Kettle 2019 TE.TE: LF before the colon', bytes: `${OK}Transfer-Encoding\n: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'Kettle 2019 TE.TE: upper case and quotes', bytes: `${OK}Transfer-Encoding: "chunked"\r\n\r\n5\r\nhello\r\n0\r\n\r\n` },
  { source: 'RFC 9112 §7.1: chunk size overflow', bytes: `${OK}${CHUNKED}\r\n10000000000000000\r\nhello\r\n0\r\n\r\n` },
  { source: 'RFC 9112 §7.1: 0x prefix', bytes: `${OK}${CHUNKED}\r\n0x5\r\nhello\r\n0\r\n\r\n` },
  { source: 'RFC 9112 §7.1: chunk data longer than its size', bytes: `${OK}${CHUNKED}\r\n3\r\nhello\r\n0\r\n\r\n` },
  { source: 'RFC 9112 §7.1.2: trailer section', bytes: `${OK}${CHUNKED}\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\nx-b: 1\r\n\r\n` },
  { source: 'RFC 9112 §7.1.2: Connection: close as a trailer', bytes: `${OK}${CHUNKED}\r\n5\r\nhello\r\n0\r\nConnection: close\r\n\r\n${OK}Content-Length: 0\r\n\r\n` },
  { source: 'RFC 9112 §5.2: obs-fold', bytes: `${OK}X-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n` },
  { source: 'RFC 9110 §5.5: NUL in a value', bytes: `${OK}X-A: 1\0\r\nContent-Length: 0\r\n\r\n` },
  { source: 'RFC 9110 §15: status 000', bytes: 'HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n' },
  { source: 'RFC 9110 §6.4.1: 204 with a body', bytes: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello' },
  { source: 'RFC 9110 §9.3.2: HEAD answered with a length', head: true, bytes: `${OK}Content-Length: 5\r\n\r\n` },
  // Found by this fuzzer (first 10-minute run): CR CR after the status line, which Node 20's llhttp 9.3 takes.
  { source: 'fuzz finding: CR CR after the status line, head never ends', bytes: 'HTTP/1.1 304 Not Found\r\r\r\nl\ne\r\rHo' },
  { source: 'fuzz finding: CR CR after a 101 status line', bytes: 'HTTP/1.0 101 ;"\r\r\r\nContent-Length: 7\r\nx-a: 1\r\n\r\nho\nh0l\r' },
];

export const REQUESTS: readonly SeedRequest[] = [
  { source: 'llhttp request/transfer-encoding.md "`chunked`"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n' },
  { source: 'llhttp request/transfer-encoding.md "POST with `Transfer-Encoding` and `Content-Length`"', bytes: 'POST /post_identity_body_world?q=search#hey HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nWorld' },
  { source: 'llhttp request/transfer-encoding.md "POST with `chunked` before other transfer coding names"', bytes: 'POST /post_identity_body_world HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, deflate\r\n\r\nWorld' },
  { source: 'llhttp request/transfer-encoding.md "POST with `chunked` as last transfer-encoding (multiple headers)"', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nWorld\r\n0\r\n\r\n' },
  { source: 'llhttp request/transfer-encoding.md "POST with `chunkedchunked` as transfer-encoding"', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedchunked\r\n\r\n5\r\nWorld\r\n0\r\n\r\n' },
  { source: 'llhttp request/transfer-encoding.md "Missing last-chunk"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo\r\n\r\n' },
  { source: 'llhttp request/transfer-encoding.md "Space after chunk header"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na \r\n0123456789\r\n0\r\n\r\n' },
  { source: 'llhttp request/content-length.md "`Content-Length` with zeroes"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc' },
  { source: 'llhttp request/content-length.md "Error on `Content-Length` overflow"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000000\r\n\r\n' },
  { source: 'llhttp request/content-length.md "Error on duplicate `Content-Length`"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\na' },
  { source: 'llhttp request/content-length.md "Error on simultaneous `Content-Length` and `Transfer-Encoding: identity`"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: identity\r\n\r\n' },
  { source: 'llhttp request/content-length.md "Invalid whitespace token with `Content-Length` header field"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nContent-Length : 4\r\n\r\nbody' },
  { source: 'llhttp request/content-length.md "Funky `Content-Length` with body"', bytes: 'GET /get_funky_content_length_body_hello HTTP/1.0\r\nHost: a\r\nconTENT-Length: 5\r\n\r\nHELLO' },
  { source: 'llhttp request/content-length.md "Spaces in `Content-Length` (surrounding)"', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  2 \r\n\r\nok' },
  { source: 'llhttp request/content-length.md "`Content-Length` with CR instead of dash"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nContent\rLength: 003\r\n\r\nabc' },
  { source: 'llhttp request/content-length.md "Missing CRLF-CRLF before body"', bytes: 'PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\rabc' },
  { source: 'llhttp request/invalid.md "Invalid space after start line"', bytes: 'GET / HTTP/1.1\r\n Host: foo\r\n\r\n' },
  { source: 'Kettle 2019 CL.TE', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG' },
  { source: 'Kettle 2019 TE.CL', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n' },
  { source: 'Kettle 2019 TE.TE: xchunked', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  { source: 'Kettle 2019 TE.TE: space before the colon', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  { source: 'Kettle 2019 TE.TE: tab before the value', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  { source: 'Kettle 2019 TE.TE: bare LF inside a value', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nX: X\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  { source: 'RFC 9112 §3.2: two Host lines', bytes: 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' },
  { source: 'RFC 9112 §9.3: pipelined requests', bytes: 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nokGET /3 HTTP/1.1\r\nHost: a\r\n\r\n' },
  { source: 'RFC 9112 §7.1.2: request trailers', bytes: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n' },
  // Found by this fuzzer (first 10-minute run): pipelined requests reach the app in another order through the sidecar.
  { source: 'fuzz finding: pipelined, the first with a chunked body', bytes: 'POST /a?b=c HTTP/1.1\r\nhost: app\r\ntransfer-encoding: chunked\r\n\r\n5\r\nb\xffGaG\r\n0\r\n\r\nGET / HTTP/1.1\r\nhost: app\r\ncontent-length: 10\r\n\r\n\na\nb\n\rGa\xff\xff' },
  { source: 'fuzz finding: pipelined, the second malformed', bytes: 'DELETE /a/b HTTP/1.1\r\nhost: app\r\ntransfer-encoding: chunked\r\n\r\n3\r\n\naG\r\n0\r\n\r\nPUT /%20x HTTP/1.1\r\nhost: app\r\n\r\n\xffb\rb\nGaa0\n' },
];
