// Issue 11: a client that breaks its own request (an upload cut short, a malformed chunked body) while
// that request waits for an upstream connection must cost that request only, never the sidecar and the
// other requests on it. Real sidecars, real apps, and a raw `net` client that misbehaves on purpose.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { ServerResponse } from 'node:http';
import type { Cluster, RouteRule, SidecarMessage } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, endpoint, httpClient, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, type TestContext } from './helpers.js';

/** Sends `raw` on a fresh connection and closes it at once (a client that gives up mid-upload). */
function sendAndClose(port: number, raw: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.end(raw);
      socket.destroySoon();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
  });
}

const PARTIAL_UPLOAD = 'POST /upload HTTP/1.1\r\nhost: up\r\ncontent-length: 100\r\n\r\nhello';
const BAD_CHUNKED = 'POST /upload HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n';

/** A route whose requests keep a copy of their body (retries on), as Istio's default retries do. */
function retrying(routes: Partial<RouteRule> = {}): RouteRule {
  return route({ destinations: [{ service: 'up', weight: 100 }], retries: { attempts: 2, retryOn: ['5xx', 'reset'] }, ...routes });
}

async function scrape(sidecar: SidecarProcess, id: number): Promise<string> {
  sidecar.send({ type: 'scrape', id });
  const reply = await sidecar.waitFor(
    () => sidecar.messages.find((m): m is Extract<SidecarMessage, { type: 'metrics' }> => m.type === 'metrics' && m.id === id),
    5_000,
    'metrics',
  );
  return reply.text;
}

describe('hostile clients', () => {
  const mesh = new TestMesh(tempHome({ after }));

  async function outbound(t: TestContext, routes: RouteRule[], clusters: Cluster[]): Promise<{ port: number; sidecar: SidecarProcess }> {
    const sidecar = SidecarProcess.start(t, mesh.home);
    // No app port: an ingress gateway's config, the sidecar the report saw die first.
    const ports = await sidecar.apply(clientConfig({ tls: mesh.tls('ingress'), service: 'ingress', outbound: [{ service: 'up', port: 0, routes }], clusters }));
    return { port: ports.outbound.up!, sidecar };
  }

  it('a cut-short upload or a malformed chunked body, while the pool is busy, ends that request only', async (t) => {
    const held: ServerResponse[] = [];
    const app = await startApp(t, (req, res) => {
      req.resume();
      if (req.url === '/slow') held.push(res);
      else req.on('end', () => res.writeHead(200).end('ok'));
    });
    const c = cluster('up', [endpoint('up', 'v1', app.port)], false);
    // Two connections, both held by slow requests: every new request waits for one.
    c.policy = { connectionPool: { maxConnections: 2 } };
    const mirrored = retrying({ name: 'mirror', match: [{ uri: { prefix: '/mirror' } }], mirror: { service: 'up', percent: 100 } });
    const { port, sidecar } = await outbound(t, [mirrored, retrying()], [c]);
    const get = httpClient(t);
    const slow = Array.from({ length: 6 }, () => get(`http://127.0.0.1:${port}/slow`));
    while (held.length < 2) await new Promise((r) => setTimeout(r, 10));

    await sendAndClose(port, PARTIAL_UPLOAD);
    await sendAndClose(port, BAD_CHUNKED);
    await sendAndClose(port, PARTIAL_UPLOAD.replace('/upload', '/mirror'));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sidecar.child.exitCode, null, `the sidecar died:\n${sidecar.stderr}`);

    // Release the slow requests one by one as they reach the app: every one of them completes.
    let answered = 0;
    const releaser = setInterval(() => {
      while (held.length > 0) {
        held.shift()!.writeHead(200).end('slow');
        answered++;
      }
    }, 10);
    t.after(() => clearInterval(releaser));
    const replies = await Promise.all(slow);
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200, 200, 200, 200],
    );
    assert.ok(answered >= 6);
    assert.equal((await get(`http://127.0.0.1:${port}/after`)).status, 200, 'the sidecar still answers');
    assert.equal(sidecar.child.exitCode, null, `the sidecar died:\n${sidecar.stderr}`);

    // The broken requests are accounted for: a span saying the client went away, and the DC flag.
    const spans = await sidecar.waitForSpans((s) => s.method === 'POST' && s.error === 'downstream-closed', 2);
    assert.ok(spans.length >= 2);
    const metrics = await scrape(sidecar, 11);
    assert.match(metrics, /istio_requests_total\{[^}]*response_flags="DC"[^}]*\} [1-9]/);
  });

  it('a cut-short upload to a cold pool (mTLS handshake still under way) ends that request only', async (t) => {
    const app = await startApp(t, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('ok'));
    });
    const server = SidecarProcess.start(t, mesh.home);
    const serverPorts = await server.apply(serverConfig({ tls: mesh.tls('up'), service: 'up', appPort: app.port }));
    const c = cluster('up', [endpoint('up', 'v1', serverPorts.inbound!)]);
    for (const raw of [PARTIAL_UPLOAD, BAD_CHUNKED]) {
      // A fresh sidecar each time, so its pool to the destination is cold.
      const { port, sidecar } = await outbound(t, [retrying()], [c]);
      await sendAndClose(port, raw);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(sidecar.child.exitCode, null, `the sidecar died:\n${sidecar.stderr}`);
      const get = httpClient(t);
      assert.equal((await get(`http://127.0.0.1:${port}/after`)).status, 200, 'the sidecar still answers');
      assert.equal((await get(`http://127.0.0.1:${port}/after`, { method: 'POST', body: 'x'.repeat(100) })).status, 200);
      await sidecar.waitForSpans((s) => s.method === 'POST' && s.error === 'downstream-closed');
    }
    assert.equal(server.child.exitCode, null);
  });
});
