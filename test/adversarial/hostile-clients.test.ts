// Hostile clients against every listener a client can reach in a real `devmesh up` mesh: the ingress
// gateway, an app's outbound listener and an mTLS inbound (with a client certificate from the mesh CA).
// Each probe is a hand-written byte string; each test asserts the answer, the x-devmesh-error code when the
// sidecar answers itself, that no smuggled request reached an app, and that no sidecar was replaced.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  header,
  headersNamed,
  normalRequest,
  probeId,
  rawExchange,
  sidecarsSurvive,
  startAdversarialMesh,
  type AdversarialMesh,
  type RawResponse,
  type RawResult,
  type Target,
} from './adversarial-mesh.js';

let adv: AdversarialMesh;
before(async () => {
  adv = await startAdversarialMesh();
});
after(() => adv?.mesh.stop());

/** The sidecar answered itself: x-devmesh-error is there, and one of `codes` when the name is settled. */
function assertSidecarError(r: RawResponse | undefined, codes: string[]): void {
  assert.ok(r, 'a response');
  const code = header(r, 'x-devmesh-error');
  assert.ok(code !== undefined && code !== '', `the sidecar's own ${r.status} carries x-devmesh-error (headers: ${JSON.stringify(r.headers)})`);
  assert.ok(codes.includes(code), `x-devmesh-error: ${code}, expected one of ${codes.join(', ')}`);
}

function assertNoSmuggling(id: string): void {
  const seen = adv.allRequests().filter((l) => l.includes(`smuggled-${id}`));
  assert.deepEqual(seen, [], 'the smuggled request reached an app');
}

function seenBy(target: Target, id: string): string[] {
  return adv.requests(target.app).filter((l) => l.includes(id));
}

/** The listener still serves a well-formed request afterwards. */
async function assertStillServes(target: Target): Promise<void> {
  const r = await normalRequest(target, `/after-${probeId('ok')}`);
  assert.equal(r.responses[0]?.status, 200, `a normal request after the probe: ${r.raw.toString('latin1').slice(0, 200)} ${r.error ?? ''}`);
}

function describeResult(r: RawResult): string {
  return `${r.raw.toString('latin1').slice(0, 300)}${r.error ? ` (${r.error})` : ''}${r.timedOut ? ' (timed out)' : ''}`;
}

/**
 * A request whose framing two parsers could read differently: it must be refused (400 from the sidecar, the
 * app never sees it), or framed one way with the connection closed after the answer (RFC 9112 §6.1), so the
 * bytes after it are never taken for a second request.
 */
async function ambiguous(target: Target, id: string, bytes: string, allowProcessed: boolean): Promise<void> {
  const r = await sidecarsSurvive(adv, () => rawExchange(target, bytes, { timeoutMs: 5000, responses: 2 }));
  const first = r.responses[0];
  assert.ok(first, `an answer: ${describeResult(r)}`);
  assert.ok(!r.timedOut, `the connection is closed after an ambiguous request: ${describeResult(r)}`);
  assertNoSmuggling(id);
  if (first.status === 400) {
    assert.deepEqual(seenBy(target, `probe-${id}`), [], 'a refused request does not reach the app');
    assertSidecarError(first, ['bad-request']);
  } else {
    assert.ok(allowProcessed, `expected 400, got ${first.status}`);
    assert.ok(first.status < 300, describeResult(r));
    assert.equal(r.responses.filter((x) => x.status >= 200).length, 1, 'one answer, then the connection closes');
  }
}

const TARGETS = ['ingress', 'outbound', 'inbound'] as const;
const target = (name: (typeof TARGETS)[number]): Target => adv[name];

for (const name of TARGETS) {
  describe(`hostile clients at the ${name === 'inbound' ? 'mTLS inbound' : name === 'outbound' ? "app's outbound listener" : 'ingress'}`, () => {
    test(`${name}: CL + TE: refused, or framed by the transfer coding and closed; the tail never reaches the app`, async () => {
      const t = target(name);
      const id = probeId('clte');
      await ambiguous(t, id, `POST /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled-${id} HTTP/1.1\r\nHost: ${t.host}\r\n\r\n`, true);
      await assertStillServes(t);
    });

    test(`${name}: two different Content-Lengths: 400 bad-request`, async () => {
      const t = target(name);
      const id = probeId('twocl');
      await ambiguous(t, id, `POST /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nContent-Length: 5\r\nContent-Length: 44\r\n\r\nhelloGET /smuggled-${id} HTTP/1.1\r\nHost: ${t.host}\r\n\r\n`, false);
      await assertStillServes(t);
    });

    test(`${name}: obs-fold in Transfer-Encoding: refused or unfolded, never smuggled`, async () => {
      const t = target(name);
      const id = probeId('fold');
      const tail = `GET /smuggled-${id} HTTP/1.1\r\nHost: ${t.host}\r\n\r\n`;
      await ambiguous(t, id, `POST /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: ${5 + tail.length}\r\n\r\n0\r\n\r\n${tail}`, true);
      await assertStillServes(t);
    });

    test(`${name}: obs-fold in an ordinary header: 400, or the value unfolded`, async () => {
      const t = target(name);
      const id = probeId('fold2');
      const r = await sidecarsSurvive(adv, () => rawExchange(t, `GET /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nX-Folded: a\r\n b\r\nConnection: close\r\n\r\n`));
      const first = r.responses[0];
      assert.ok(first, describeResult(r));
      if (first.status === 400) assertSidecarError(first, ['bad-request']);
      else assert.equal(first.status, 200, describeResult(r));
      await assertStillServes(t);
    });

    for (const [label, size] of [
      ['not hex', 'zz'],
      ['overflowing', 'fffffffffffffffffff1'],
      ['negative', '-5'],
    ] as const) {
      test(`${name}: bad chunk size (${label}): 400 or the connection closed, never a 2xx, never smuggled`, async () => {
        const t = target(name);
        const id = probeId('chunk');
        const r = await sidecarsSurvive(adv, () =>
          rawExchange(t, `POST /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\nhello\r\n0\r\n\r\nGET /smuggled-${id} HTTP/1.1\r\nHost: ${t.host}\r\n\r\n`, {
            timeoutMs: 5000,
            responses: 2,
          }),
        );
        assert.ok(!r.timedOut, `answered or closed within 5 s: ${describeResult(r)}`);
        assertNoSmuggling(id);
        assert.ok(r.responses.every((x) => x.status >= 400), `no success for a malformed body: ${describeResult(r)}`);
        if (r.responses[0]?.status === 400) assertSidecarError(r.responses[0], ['bad-request']);
        await assertStillServes(t);
      });
    }

    test(`${name}: bare LF inside the head: refused, or read one way with the tail as body, never smuggled`, async () => {
      const t = target(name);
      const id = probeId('lf');
      const tail = `GET /smuggled-${id} HTTP/1.1\r\nHost: ${t.host}\r\n\r\n`;
      const r = await sidecarsSurvive(adv, () =>
        rawExchange(t, `POST /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nX-Pad: a\nContent-Length: ${tail.length}\r\n\r\n${tail}`, { timeoutMs: 3000, responses: 2 }),
      );
      assertNoSmuggling(id);
      const first = r.responses[0];
      assert.ok(first, describeResult(r));
      if (first.status === 400) assertSidecarError(first, ['bad-request']);
      else assert.equal(first.status, 200, describeResult(r));
      await assertStillServes(t);
    });

    test(`${name}: NUL in a header value: 400 bad-request, the app never sees it`, async () => {
      const t = target(name);
      const id = probeId('nul');
      const r = await sidecarsSurvive(adv, () => rawExchange(t, `GET /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nX-Nul: a\0b\r\nConnection: close\r\n\r\n`));
      assert.equal(r.responses[0]?.status, 400, describeResult(r));
      assert.deepEqual(seenBy(t, id), []);
      assertSidecarError(r.responses[0], ['bad-request']);
      await assertStillServes(t);
    });

    test(`${name}: a 1 MB header: 431 with x-devmesh-error`, async () => {
      const t = target(name);
      const id = probeId('big');
      // One write, as a hand-written client sends it (the kernel buffers it; the answer comes back before the close).
      const head = `GET /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nX-Big: ${'a'.repeat(1024 * 1024)}\r\nConnection: close\r\n\r\n`;
      const r = await sidecarsSurvive(adv, () => rawExchange(t, head, { timeoutMs: 5000 }));
      assert.equal(r.responses[0]?.status, 431, describeResult(r));
      assert.deepEqual(seenBy(t, id), []);
      assertSidecarError(r.responses[0], ['headers-too-large']);
      await assertStillServes(t);
    });

    test(`${name}: 10,000 header lines: 431 with x-devmesh-error`, async () => {
      const t = target(name);
      const id = probeId('many');
      const lines = Array.from({ length: 10_000 }, (_, i) => `X-H${i}: v\r\n`).join('');
      const head = `GET /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\n${lines}Connection: close\r\n\r\n`;
      const r = await sidecarsSurvive(adv, () => rawExchange(t, head, { timeoutMs: 5000 }));
      assert.equal(r.responses[0]?.status, 431, describeResult(r));
      assert.deepEqual(seenBy(t, id), []);
      assertSidecarError(r.responses[0], ['headers-too-large']);
      await assertStillServes(t);
    });

    test(`${name}: two Host lines: 400 bad-request, the app never sees it`, async () => {
      const t = target(name);
      const id = probeId('host');
      const r = await sidecarsSurvive(adv, () => rawExchange(t, `GET /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`));
      assert.equal(r.responses[0]?.status, 400, describeResult(r));
      assert.deepEqual(seenBy(t, id), []);
      assertSidecarError(r.responses[0], ['bad-request']);
      await assertStillServes(t);
    });

    test(`${name}: Expect: 100-continue: the body is sent after the head and reaches the app once`, async () => {
      const t = target(name);
      const id = probeId('expect');
      const r = await sidecarsSurvive(adv, () =>
        rawExchange(t, [`POST /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n`, 'hello'], { gapMs: 300, timeoutMs: 5000 }),
      );
      const final = r.responses.find((x) => x.status >= 200);
      assert.equal(final?.status, 200, describeResult(r));
      assert.equal((JSON.parse(final.body.toString()) as { bodyBytes: number }).bodyBytes, 5);
      assert.ok(r.responses.every((x, i) => x.status >= 200 || i === 0), 'a 100 Continue, if any, comes first');
      assert.equal(seenBy(t, id).length, 1);
    });

    test(`${name}: an unknown expectation: 417 with x-devmesh-error, the app never sees it`, async () => {
      const t = target(name);
      const id = probeId('expect417');
      const r = await sidecarsSurvive(adv, () =>
        rawExchange(t, `POST /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nExpect: teapot-mode\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`),
      );
      assert.equal(r.responses[0]?.status, 417, describeResult(r));
      assert.deepEqual(seenBy(t, id), []);
      assertSidecarError(r.responses[0], ['expectation-failed']);
      await assertStillServes(t);
    });

    test(`${name}: an upgrade to an unknown protocol is never switched; answered (by the app or refused) and the sidecar stays`, async () => {
      const t = target(name);
      const id = probeId('upgrade');
      const r = await sidecarsSurvive(adv, () =>
        rawExchange(t, `GET /probe-${id} HTTP/1.1\r\nHost: ${t.host}\r\nConnection: Upgrade\r\nUpgrade: evilproto/1\r\n\r\n`, { timeoutMs: 5000 }),
      );
      const first = r.responses[0];
      assert.ok(first, `an answer, not a hang: ${describeResult(r)}`);
      assert.notEqual(first.status, 101, 'nobody speaks evilproto');
      // Refused by the sidecar (any code: the name is the sidecar's to choose) or answered by the app.
      if (first.status >= 400 && header(first, 'x-app-instance') === undefined) assert.ok(header(first, 'x-devmesh-error'), `the sidecar's own ${first.status} carries x-devmesh-error`);
      assert.ok(seenBy(t, id).length <= 1);
      await assertStillServes(t);
    });

    test(`${name}: pipelining: two requests in one write are answered in order, each reaching the app once`, async () => {
      const t = target(name);
      const a = probeId('pipe-a');
      const b = probeId('pipe-b');
      const r = await sidecarsSurvive(adv, () =>
        rawExchange(t, `GET /probe-${a} HTTP/1.1\r\nHost: ${t.host}\r\n\r\nGET /probe-${b} HTTP/1.1\r\nHost: ${t.host}\r\nConnection: close\r\n\r\n`, { responses: 2 }),
      );
      assert.deepEqual(
        r.responses.map((x) => x.status),
        [200, 200],
        describeResult(r),
      );
      assert.deepEqual(
        r.responses.map((x) => (JSON.parse(x.body.toString()) as { path: string }).path),
        [`/probe-${a}`, `/probe-${b}`],
      );
      assert.equal(seenBy(t, a).length, 1);
      assert.equal(seenBy(t, b).length, 1);
      assert.equal(headersNamed(r.responses[0]!, 'content-length').length <= 1, true);
    });
  });
}
