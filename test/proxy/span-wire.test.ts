// Spans cross the IPC channel as length-prefixed text in UTF-8 bytes: whatever a request carries (colons,
// digits, non-ASCII, even a lone surrogate) must come back as it went, and a damaged batch must be refused,
// not misread. The exporter's byte buffer is what the sidecar really sends.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isAscii } from 'node:buffer';
import { decodeSpanBatch, encodeSpan, type SpanSource } from '../../proxy/protocol/span-wire.js';
import { MAX_UNWRITTEN_BYTES, SpanExporter } from '../../proxy/tracing/span-exporter.js';
import type { SidecarMessage } from '../../proxy/protocol/index.js';
import { expandHeaderLines, REDACTED } from '../../proxy/protocol/span-headers.js';

const base: SpanSource = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: null,
  kind: 'client',
  service: 'web',
  instanceId: 'web-0',
  peerService: 'shop',
  method: 'GET',
  path: '/a:b/12:34?q=ü&x=\ud800',
  status: 200,
  startMs: 1_795_000_000_123,
  durationMs: 0.123456789,
  attempts: 2,
  error: null,
  attributes: { listener: 'shop', 'route.index': 0, mtls: true, 'error.detail': '3:abc: "quoted" 🚀', empty: '' },
};

describe('span wire format', () => {
  it('round-trips every field through the exporter’s bytes, turning raw headers into redacted attributes', () => {
    const sent: SidecarMessage[] = [];
    const exporter = new SpanExporter((m) => void sent.push(m));
    exporter.record({ ...base, requestHeaders: ['Host', 'shop', 'Authorization', 'Bearer t0ken', 'X-Dup', '1', 'x-dup', '2', ':path', '/h2'], responseHeaders: 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nSet-Cookie: s=1\r\n\r\n' });
    exporter.record({ ...base, parentSpanId: 'aaaaaaaaaaaaaaaa', kind: 'server', peerService: null, error: 'timeout', attributes: {}, responseHeaders: ['x-a', 'b'] });
    exporter.flush();
    assert.equal(sent.length, 1);
    const msg = sent[0]!;
    assert.equal(msg.type, 'spans');
    const [a, b] = decodeSpanBatch((msg as Extract<SidecarMessage, { type: 'spans' }>).batch);
    const { requestHeaders: _r, responseHeaders: _s, ...plain } = { ...base, requestHeaders: undefined, responseHeaders: undefined };
    assert.deepEqual({ ...a!, attributes: {}, headers: '' }, { ...plain, path: '/a:b/12:34?q=ü&x=\ufffd', attributes: {}, headers: '' }, 'a lone surrogate becomes U+FFFD, nothing else changes');
    assert.equal(a!.headers, '> host: shop\n> authorization: [redacted]\n> x-dup: 1, 2\n< content-length: 5\n< set-cookie: [redacted]\n', 'curl -v style lines');
    expandHeaderLines(a!.attributes, a!.headers!);
    expandHeaderLines(b!.attributes, b!.headers!);
    assert.deepEqual(a!.attributes, {
      listener: 'shop',
      'route.index': 0,
      mtls: true,
      'error.detail': '3:abc: "quoted" 🚀',
      empty: '',
      'http.request.header.host': 'shop',
      'http.request.header.authorization': REDACTED,
      'http.request.header.x-dup': '1, 2',
      'http.response.header.content-length': '5',
      'http.response.header.set-cookie': REDACTED,
    });
    assert.equal(b!.parentSpanId, 'aaaaaaaaaaaaaaaa');
    assert.equal(b!.peerService, null);
    assert.equal(b!.error, 'timeout');
    assert.equal(b!.kind, 'server');
    assert.deepEqual(b!.attributes, { 'http.response.header.x-a': 'b' });
  });

  it('refuses a damaged batch instead of misreading it', () => {
    const good = encodeSpan(base);
    assert.equal(decodeSpanBatch(good).length, 1);
    assert.throws(() => decodeSpanBatch(good.slice(0, good.length - 3)), /span batch/);
    assert.throws(() => decodeSpanBatch('99999:x'), /span batch/);
    assert.throws(() => decodeSpanBatch(good.replace('6:client', '6:cliXnt')), /bad kind/);
    // The control plane logs these errors: they must not carry what the batch holds (credentials).
    const secret = encodeSpan({ ...base, requestHeaders: ['authorization', 'Bearer s3cret-token'] });
    for (let cut = 1; cut < secret.length; cut += 7) {
      try {
        decodeSpanBatch(secret.slice(cut));
      } catch (err) {
        assert.doesNotMatch((err as Error).message, /s3cret/);
      }
    }
    // Cut anywhere: a whole span or an error, never a hang or a half-read span.
    const two = good + encodeSpan({ ...base, requestHeaders: ['a', 'b'], responseHeaders: 'HTTP/1.1 200 OK\r\nx: y\r\n\r\n' });
    for (let cut = 0; cut < two.length; cut++) {
      let spans: unknown[] | null = null;
      try {
        spans = decodeSpanBatch(two.slice(0, cut));
      } catch (err) {
        assert.match((err as Error).message, /span batch/);
      }
      if (spans !== null) assert.ok((cut === 0 && spans.length === 0) || (cut === good.length && spans.length === 1), `cut at ${cut} decoded ${spans.length}`);
    }
  });

  it('reads an all-ASCII batch from its bytes exactly as from its text, damaged or not', () => {
    const ascii: SpanSource = { ...base, path: '/a:b/12:34?q=1&token=x', attributes: { listener: 'shop', 'route.index': 0, mtls: true, 'error.detail': '3:abc' } };
    const two = encodeSpan({ ...ascii, requestHeaders: ['Host', 'shop', 'Cookie', 'c=1'] }) + encodeSpan({ ...ascii, kind: 'server', responseHeaders: 'HTTP/1.1 200 OK\r\nx: y\r\n\r\n' });
    const outcome = (batch: string | Uint8Array): unknown => {
      try {
        return decodeSpanBatch(batch);
      } catch (err) {
        return (err as Error).message.replace(/ at \d+$/, '');
      }
    };
    assert.equal((decodeSpanBatch(Buffer.from(two)) as unknown[]).length, 2);
    for (let cut = 0; cut <= two.length; cut++) assert.deepEqual(outcome(Buffer.from(two.slice(0, cut))), outcome(two.slice(0, cut)), `cut at ${cut}`);
    for (const bad of ['-1:x', ':x', '1x:a', '99999:x']) assert.throws(() => decodeSpanBatch(Buffer.from(bad)), /span batch/);
  });

  it('reads a batch of many spans from its bytes as from its text, fields across its 64 KB reading chunks included', () => {
    // 400 spans of varied sizes (~230 KB), so fields start, end and straddle the byte reader's chunk edges;
    // one response head is larger than a chunk.
    const spans = Array.from({ length: 400 }, (_, i): SpanSource => ({
      ...base,
      attributes: { listener: 'shop', 'route.index': i, mtls: true },
      path: `/items/${'x'.repeat(i % 97)}?page=${i}`,
      spanId: i.toString(16).padStart(16, '0'),
      requestHeaders: ['User-Agent', `agent ${'y'.repeat((i * 37) % 301)}`],
      responseHeaders: `HTTP/1.1 200 OK\r\nx-big: ${i === 200 ? 'z'.repeat(70_000) : 'small'}\r\ncontent-length: ${i}\r\n\r\n`,
    }));
    const text = spans.map(encodeSpan).join('');
    const fromBytes = decodeSpanBatch(Buffer.from(text));
    assert.ok(isAscii(Buffer.from(text)) && text.length > 3 * 64 * 1024);
    assert.deepEqual(fromBytes, decodeSpanBatch(text));
    assert.equal(fromBytes.length, 400);
    for (const s of fromBytes) expandHeaderLines(s.attributes, s.headers!);
    assert.equal(fromBytes[200]!.attributes['http.response.header.x-big'], `${'z'.repeat(256)}…`, 'bounded as ever');
    assert.equal(fromBytes[200]!.attributes['http.response.header.content-length'], '200');
    assert.equal(fromBytes[399]!.attributes['http.response.header.content-length'], '399');
  });

  it('flushes at the batch size, and a span larger than the buffer still goes out whole', () => {
    const sent: SidecarMessage[] = [];
    const exporter = new SpanExporter((m) => void sent.push(m));
    const huge = 'x'.repeat(300_000);
    exporter.record({ ...base, attributes: { big: huge } });
    exporter.record({ ...base, attributes: { big: huge } });
    exporter.flush();
    const spans = sent.flatMap((m) => (m.type === 'spans' ? decodeSpanBatch(m.batch) : []));
    assert.equal(spans.length, 2);
    assert.ok(spans.every((s) => s.attributes.big === huge));
  });

  it('drops whole batches while MAX_UNWRITTEN_BYTES wait unwritten, tells the episode once, and resumes when the channel drains', () => {
    const pending: Array<() => void> = [];
    let sentSpans = 0;
    const events: string[] = [];
    let dropped = 0;
    const exporter = new SpanExporter(
      (m, written) => {
        if (m.type === 'spans') sentSpans += decodeSpanBatch(m.batch).length;
        pending.push(written);
      },
      { dropped: (n) => (dropped += n), episode: (e) => events.push(e.start ? 'start' : `end ${e.total}`) },
    );
    const span = { ...base, attributes: { pad: 'p'.repeat(100_000) } };
    const batches = Math.ceil(MAX_UNWRITTEN_BYTES / 100_000) + 5;
    for (let i = 0; i < batches; i++) {
      exporter.record(span);
      exporter.flush();
    }
    assert.ok(exporter.backlogBytes <= MAX_UNWRITTEN_BYTES, `backlog ${exporter.backlogBytes}`);
    assert.ok(dropped >= 5, `${dropped} dropped`);
    assert.equal(sentSpans + dropped, batches);
    assert.deepEqual(events, ['start']);
    for (const done of pending.splice(0)) done();
    assert.equal(exporter.backlogBytes, 0);
    exporter.record(span);
    exporter.flush();
    assert.deepEqual(events, ['start', `end ${dropped}`]);
    assert.equal(sentSpans + dropped, batches + 1);
  });
});
