// Request/response headers on sidecar spans: both sidecars of a call record them under OpenTelemetry's
// names, credentials are masked (never stored), values and header counts are bounded.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { httpClient, productpageToReviews, startApp, tempHome, TestMesh } from './helpers.js';
import { MAX_HEADERS, MAX_VALUE, REDACTED } from '../../proxy/protocol/span-headers.js';

const SECRET = 's3cr3t-value-never-stored';

describe('span headers', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('records request and response headers on client and server spans, secrets redacted, bounded', async (t) => {
    const app = await startApp(t, (req, res) => {
      res.setHeader('set-cookie', [`sid=${SECRET}; HttpOnly`, `other=${SECRET}`]);
      res.setHeader('x-app', 'reviews');
      res.setHeader('x-long', 'y'.repeat(MAX_VALUE + 100));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ peer: req.headers['x-devmesh-peer'] ?? null }));
    });
    const { client, server, base } = await productpageToReviews(t, mesh, app.port);
    const get = httpClient(t);
    const headers: Record<string, string> = {
      authorization: `Bearer ${SECRET}`,
      cookie: `sid=${SECRET}`,
      'x-api-key': SECRET,
      'x-user': 'jason',
      'x-devmesh-peer': `spiffe://forged/${SECRET}`,
    };
    const reply = await get(`${base}/headers`, { headers });
    assert.equal(reply.status, 200);
    assert.ok(JSON.parse(reply.body).peer, 'the app still gets the verified peer');

    const [clientSpan] = await client.waitForSpans((s) => s.kind === 'client' && s.path === '/headers');
    const [serverSpan] = await server.waitForSpans((s) => s.kind === 'server' && s.path === '/headers');
    for (const span of [clientSpan!, serverSpan!]) {
      const a = span.attributes;
      const where = `${span.kind} span: ${JSON.stringify(a)}`;
      assert.equal(a['http.request.header.x-user'], 'jason', where);
      assert.equal(a['http.request.header.authorization'], REDACTED, where);
      assert.equal(a['http.request.header.cookie'], REDACTED, where);
      assert.equal(a['http.request.header.x-api-key'], REDACTED, where);
      assert.equal(a['http.response.header.x-app'], 'reviews', where);
      assert.equal(a['http.response.header.set-cookie'], REDACTED, where);
      assert.equal(a['http.response.header.content-type'], 'application/json', where);
      assert.equal(String(a['http.response.header.x-long']).length, MAX_VALUE + 1, 'a long value is cut');
      assert.ok(!JSON.stringify(a).includes(SECRET), `no secret in the ${where}`);
    }
    assert.equal(clientSpan!.attributes['http.request.header.x-devmesh-peer'], REDACTED, 'a forged peer header is masked too');
    assert.match(String(serverSpan!.attributes['http.request.header.traceparent']), /^00-[0-9a-f]{32}-/);

    // Too many headers: at most MAX_HEADERS kept per direction, the rest counted.
    const many: Record<string, string> = {};
    for (let i = 0; i < MAX_HEADERS + 10; i++) many[`x-h${i}`] = String(i);
    await get(`${base}/many`, { headers: many });
    const [manySpan] = await client.waitForSpans((s) => s.kind === 'client' && s.path === '/many');
    const kept = Object.keys(manySpan!.attributes).filter((k) => k.startsWith('http.request.header.'));
    assert.equal(kept.length, MAX_HEADERS);
    assert.ok(Number(manySpan!.attributes['http.request.header_dropped']) >= 10);
  });
});

describe('query-string credentials', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('are masked in the span path, upstream.path and URL-carrying headers; other parameters stay', async (t) => {
    const app = await startApp(t, (req, res) => {
      res.setHeader('location', `/next?access_token=${SECRET}&page=2`);
      res.end(req.url);
    });
    const { client, server, base } = await productpageToReviews(t, mesh, app.port);
    const get = httpClient(t);
    const target = `/search?q=mesh&token=${SECRET}&api_key=${SECRET}&Access_Token=${SECRET}&password=${SECRET}&client_secret=${SECRET}&X-Amz-Signature=${SECRET}&author=ann&flag`;
    const reply = await get(`${base}${target}`, { headers: { referer: `http://127.0.0.1/login?password=${SECRET}#top` } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, target, 'the app gets the request as sent: only the stored span is masked');

    const [clientSpan] = await client.waitForSpans((s) => s.kind === 'client' && s.path.startsWith('/search'));
    const [serverSpan] = await server.waitForSpans((s) => s.kind === 'server' && s.path.startsWith('/search'));
    for (const span of [clientSpan!, serverSpan!]) {
      const stored = JSON.stringify(span);
      assert.ok(!stored.includes(SECRET), `${span.kind} span keeps a credential: ${stored}`);
      assert.equal(
        span.path,
        `/search?q=mesh&token=${REDACTED}&api_key=${REDACTED}&Access_Token=${REDACTED}&password=${REDACTED}&client_secret=${REDACTED}&X-Amz-Signature=${REDACTED}&author=ann&flag`,
      );
      assert.equal(span.attributes['http.request.header.referer'], `http://127.0.0.1/login?password=${REDACTED}#top`);
      assert.equal(span.attributes['http.response.header.location'], `/next?access_token=${REDACTED}&page=2`);
    }
  });
});
