// The sidecar's HTTP/1.1 client, used for every upstream hop: keep-alive pools per origin over TCP or TLS,
// plus Upgrade (WebSocket) that also hands back a refusal. Laid out the way undici keeps llhttp apart from
// its client and pool:
// - response-parser.ts: response bytes to head, body and trailers; pure (no sockets), as strict as llhttp,
//   fuzzed against it (test/fuzz/);
// - h1-connection.ts: one socket, one exchange at a time: writes the request, feeds the parser;
// - h1-pool.ts: connections per origin, limits, idle timeout, the queue of waiting requests.
//
// Written for this one job instead of undici because the sidecar sits on every request: in the benchmark
// (npm run bench) undici's per-request machinery (request objects, handler chains, its wasm parser, a
// stream per body) cost about 10 µs of CPU per request in each sidecar. Here a request is one write (head
// and a buffered body together), a response is parsed from its first chunk in one pass, and a body that
// arrived with its head is handed over as one Buffer without any stream, which is what small API
// responses on loopback nearly always do. Larger or slower bodies stream with backpressure.
//
// Semantics a proxy needs, each deliberate:
// - framing: content-length, chunked (with trailers), read-until-close; no body for HEAD, 1xx, 204, 304;
//   interim 1xx answers (100, 103) are skipped; a request body stream without a length goes chunked;
//   a response llhttp would refuse is refused (a reset: the proxy answers 502), and the headers handed on
//   carry no framing the parser did not use;
// - keep-alive: a connection is reused only after a complete exchange; `connection: close`, a
//   close-delimited body, a request body left unsent, or maxRequestsPerConnection retire it; idle
//   connections close before the server's Keep-Alive hint runs out (the hint minus a margin), so a reused
//   connection is not one the server is closing at that very moment;
// - errors carry what the retry policy needs: a failure before the connection was established (refused,
//   TLS handshake, connect timeout) has `phase: 'connect'` (nothing was sent: a connect-failure);
//   anything later is a reset;
// - no pipelining: one request per connection at a time, so one slow response never delays another.
export { DEFAULT_POOL_OPTIONS, H1Pool, type H1Origin, type H1PoolOptions } from './h1-pool.js';
export { H1Body, H1Response, type Headers } from './h1-response.js';
export { H1Error } from './h1-error.js';
export type { H1Request, UpgradeOutcome } from './exchange.js';
export { ResponseParser, type ResponseSink } from './response-parser.js';
