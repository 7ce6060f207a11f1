// A broken upstream behind a real mesh: evil.js is a raw-TCP "HTTP server" that answers each path with a
// chosen kind of malformed response; the test calls it through front's outbound listener, so the answer
// crosses evil's inbound sidecar and front's sidecar (mTLS between). The caller must get either a sidecar
// error (x-devmesh-error) or a response whose body agrees with its own framing, never a hang past the
// route timeout, and neither sidecar may crash.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EVIL_TIMEOUT_MS,
  header,
  headersNamed,
  normalRequest,
  rawExchange,
  sidecarsSurvive,
  startAdversarialMesh,
  type AdversarialMesh,
  type RawResult,
} from './adversarial-mesh.js';

let adv: AdversarialMesh;
before(async () => {
  adv = await startAdversarialMesh();
});
after(() => adv?.mesh.stop());

/** Generous beyond the route timeout: a caller still waiting after it is hanging. */
const HANG_MS = EVIL_TIMEOUT_MS + 3000;

function call(path: string): Promise<RawResult> {
  return sidecarsSurvive(adv, () => rawExchange(adv.evilOutbound, `GET ${path} HTTP/1.1\r\nHost: evil\r\n\r\n`, { timeoutMs: HANG_MS }));
}

function show(r: RawResult): string {
  return `${r.raw.toString('latin1').slice(0, 400)}${r.error ? ` (${r.error})` : ''}${r.timedOut ? ` (no end after ${r.ms} ms)` : ''}`;
}

/** Either a sidecar error with one of `codes`, or a complete response whose body agrees with its framing. */
function assertFramedOrProxyError(r: RawResult, codes: string[], body?: string): void {
  const first = r.responses[0];
  assert.ok(first, `an answer within ${HANG_MS} ms: ${show(r)}`);
  const code = header(first, 'x-devmesh-error');
  if (code !== undefined) {
    assert.ok(codes.includes(code), `x-devmesh-error: ${code}, expected one of ${codes.join(', ')}`);
    assert.ok(first.status >= 500, show(r));
    return;
  }
  assert.ok(
    !(headersNamed(first, 'content-length').length > 0 && headersNamed(first, 'transfer-encoding').length > 0),
    `relayed with both Content-Length and Transfer-Encoding: ${show(r)}`,
  );
  assert.ok(first.complete, `the body ends as its framing says (no truncation, no hang): ${show(r)}`);
  if (body !== undefined) assert.equal(first.body.toString('latin1'), body);
}

test('upstream answers with Content-Length: 100 and chunked: 502 upstream-protocol-error or the chunked body, never a hang', async () => {
  const r = await call('/clte-long');
  assertFramedOrProxyError(r, ['upstream-protocol-error'], 'hello');
});

test('upstream answers with Content-Length: 2 and chunked: 502 upstream-protocol-error or the chunked body, never truncated', async () => {
  const r = await call('/clte-short');
  assertFramedOrProxyError(r, ['upstream-protocol-error'], 'hello');
});

test('a CR inside an upstream header value: no header injected downstream', async () => {
  const r = await call('/crlf');
  const first = r.responses[0];
  assert.ok(first, show(r));
  assert.equal(header(first, 'injected'), undefined, `a header was injected: ${show(r)}`);
  assert.ok(first.headers.every(([n, v]) => !/[\r\n\0]/.test(n + v)), show(r));
  if (first.status >= 500) assert.ok(header(first, 'x-devmesh-error'), show(r));
});

test('an invalid chunk size from the upstream: 502, or the response visibly cut off, never a clean 200 and never a hang', async () => {
  const r = await call('/bad-chunk');
  assert.ok(!r.timedOut, show(r));
  const first = r.responses[0];
  if (first && first.status >= 500) {
    assert.deepEqual([first.status, header(first, 'x-devmesh-error')], [502, 'upstream-protocol-error'], show(r));
  } else {
    assert.ok(!first?.complete, `a malformed body relayed as a complete message: ${show(r)}`);
  }
});

test('the upstream closes mid-body: 503 upstream-reset, or the response visibly cut off, never a clean 200 and never a hang', async () => {
  const r = await call('/close-mid-body');
  assert.ok(!r.timedOut, show(r));
  const first = r.responses[0];
  if (first && first.status >= 500) {
    assert.deepEqual([first.status, header(first, 'x-devmesh-error')], [503, 'upstream-reset'], show(r));
  } else {
    assert.ok(!first?.complete, `50 of 100 bytes relayed as a complete message: ${show(r)}`);
  }
});

test('1 MB of upstream response headers: 502 with x-devmesh-error', async () => {
  const r = await call('/big-headers');
  const first = r.responses[0];
  assert.equal(first?.status, 502, show(r));
  assert.ok(header(first, 'x-devmesh-error'), show(r));
});

test('an upstream that never answers: 504 timeout at the route timeout', async () => {
  const r = await call('/silence');
  const first = r.responses[0];
  assert.equal(first?.status, 504, show(r));
  assert.equal(header(first, 'x-devmesh-error'), 'timeout');
  assert.ok(r.ms >= EVIL_TIMEOUT_MS - 50 && r.ms < EVIL_TIMEOUT_MS + 1500, `answered after ${r.ms} ms, route timeout ${EVIL_TIMEOUT_MS} ms`);
});

test('after all of that, evil and back still answer through the same sidecars', async () => {
  const ok = await normalRequest(adv.evilOutbound, '/ok');
  assert.equal(ok.responses[0]?.status, 200, show(ok));
  assert.equal(ok.responses[0]?.body.toString(), 'ok');
  const back = await normalRequest(adv.outbound, '/fine');
  assert.equal(back.responses[0]?.status, 200, show(back));
});
