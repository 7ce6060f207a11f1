// A try that could not even connect sent nothing, so another endpoint may take the request without a retry
// policy (linkerd2-proxy's balancer only dispatches to endpoints it reached). This is what keeps a killed
// sidecar from failing more than the requests in flight on it while the control plane's push is on its way.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { PROXY_ERROR_HEADER } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, deadPort, echoApp, endpoint, httpClient, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, type TestContext } from './helpers.js';

describe('re-dispatch of requests that were never sent', () => {
  const mesh = new TestMesh(tempHome({ after }));

  /** A server sidecar for `service` in front of the app at `appPort`; its inbound port. */
  async function serverSidecar(t: TestContext, service: string, appPort: number): Promise<number> {
    const sidecar = SidecarProcess.start(t, mesh.home);
    return (await sidecar.apply(serverConfig({ tls: mesh.tls(service), service, version: 'v1', appPort }))).inbound!;
  }

  it('with attempts: 0, a refused connection goes to the other endpoint once; one dead endpoint alone still answers connect-failure', async (t) => {
    const app = await startApp(t, echoApp('details'));
    const live = await serverSidecar(t, 'details', app.port);
    const dead = await deadPort();
    const client = SidecarProcess.start(t, mesh.home);
    const ports = await client.apply(
      clientConfig({
        tls: mesh.tls('reviews'),
        service: 'reviews',
        outbound: [
          { service: 'details', port: 0, routes: [route({ destinations: [{ service: 'details', weight: 100 }] })] },
          { service: 'ratings', port: 0, routes: [route({ destinations: [{ service: 'ratings', weight: 100 }] })] },
        ],
        clusters: [
          cluster('details', [endpoint('details', 'v1', dead, 0), endpoint('details', 'v1', live, 1)]),
          cluster('ratings', [endpoint('ratings', 'v1', dead, 0)]),
        ],
      }),
    );
    const get = httpClient(t);
    for (let i = 0; i < 8; i++) {
      const reply = await get(`http://127.0.0.1:${ports.outbound.details}/d/${i}`, { method: i % 2 === 0 ? 'GET' : 'POST', body: i % 2 === 0 ? undefined : 'x'.repeat(100) });
      assert.equal(reply.status, 200, `request ${i}: ${reply.body}`);
      assert.equal((JSON.parse(reply.body) as { bodyLength: number }).bodyLength, i % 2 === 0 ? 0 : 100, `request ${i}: the body arrives whole`);
    }
    assert.equal(app.seen.length, 8, 'every request reached the app exactly once');
    const spans = await client.waitForSpans((s) => s.path.startsWith('/d/'), 8);
    const moved = spans.filter((s) => s.attempts === 2);
    assert.ok(moved.length >= 3, `round robin sends about half the first tries to the dead endpoint (got ${moved.length})`);
    for (const s of moved) {
      assert.match(String(s.attributes.events), /re-dispatched: no connection to details-v1-0, nothing was sent/);
      assert.equal(s.attributes['retry.reasons'], undefined, 'a re-dispatch is not a retry');
      assert.equal(s.attributes.endpoint, 'details-v1-1');
    }

    const alone = await get(`http://127.0.0.1:${ports.outbound.ratings}/r`);
    assert.equal(alone.status, 503);
    assert.equal(alone.headers[PROXY_ERROR_HEADER], 'connect-failure');
  });
  it("a peer sidecar whose app is down answers connect-failure: the request goes to the other endpoint once; an app cannot forge that answer", async (t) => {
    const live = await startApp(t, echoApp('details'));
    const livePort = await serverSidecar(t, 'details', live.port);
    // A sidecar in front of an app that is not running (killed, or not started yet).
    const applessPort = await serverSidecar(t, 'details', await deadPort());
    // An app that answers 503 with the sidecar's header itself: its word must not make anyone re-send.
    let forgedSeen = 0;
    const forger = await startApp(t, (req, res) => {
      forgedSeen++;
      req.resume();
      res.writeHead(503, { 'x-devmesh-error': 'connect-failure' }).end('app says so');
    });
    const forgerPort = await serverSidecar(t, 'ratings', forger.port);
    const ratingsApp = await startApp(t, echoApp('ratings'));
    const ratingsPort = await serverSidecar(t, 'ratings', ratingsApp.port);

    const client = SidecarProcess.start(t, mesh.home);
    const ports = await client.apply(
      clientConfig({
        tls: mesh.tls('reviews'),
        service: 'reviews',
        outbound: [
          { service: 'details', port: 0, routes: [route({ destinations: [{ service: 'details', weight: 100 }] })] },
          { service: 'ratings', port: 0, routes: [route({ destinations: [{ service: 'ratings', weight: 100 }] })] },
        ],
        clusters: [
          cluster('details', [endpoint('details', 'v1', applessPort, 0), endpoint('details', 'v1', livePort, 1)]),
          cluster('ratings', [endpoint('ratings', 'v1', forgerPort, 0), endpoint('ratings', 'v1', ratingsPort, 1)]),
        ],
      }),
    );
    const get = httpClient(t);
    for (let i = 0; i < 6; i++) {
      const reply = await get(`http://127.0.0.1:${ports.outbound.details}/p/${i}`);
      assert.equal(reply.status, 200, `request ${i}: ${reply.body}`);
    }
    const spans = await client.waitForSpans((s) => s.path.startsWith('/p/'), 6);
    const moved = spans.filter((s) => s.attempts === 2);
    assert.ok(moved.length >= 2, `about half the first tries reach the appless sidecar (got ${moved.length})`);
    for (const s of moved) assert.match(String(s.attributes.events), /re-dispatched: details-v1-0's sidecar could not reach its app/);

    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const reply = await get(`http://127.0.0.1:${ports.outbound.ratings}/f/${i}`);
      statuses.push(reply.status);
      if (reply.status === 503) {
        assert.equal(reply.headers[PROXY_ERROR_HEADER], undefined, "the app's x-devmesh-error is stripped by its sidecar");
        assert.equal(reply.body, 'app says so');
      }
    }
    assert.equal(statuses.filter((s) => s === 503).length, forgedSeen, 'every request the forging app answered reached the caller as its 503, none re-sent');
    assert.ok(forgedSeen >= 1);
  });
  it('an idempotent request whose reused connection is reset before any answer is sent again once; a POST is not', async (t) => {
    // A server that answers the first request on each connection, then resets the connection (RST) when the
    // next one arrives, as a killed peer's kernel does with a request still unread in its buffer. (A server
    // that reads a request and closes cleanly is not replayed: test/proxy/resilience.test.ts, /reset-no.)
    const seen: string[] = [];
    const server = net.createServer((socket) => {
      let served = 0;
      socket.on('data', (d: Buffer) => {
        const line = d.toString('latin1').split('\r\n')[0]!;
        if (served++ === 0) {
          seen.push(line);
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
        } else socket.resetAndDestroy();
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const client = SidecarProcess.start(t, mesh.home);
    const ports = await client.apply(
      clientConfig({
        tls: mesh.tls('reviews'),
        service: 'reviews',
        outbound: [{ service: 'closer', port: 0, routes: [route({ destinations: [{ service: 'closer', weight: 100 }] })] }],
        clusters: [cluster('closer', [endpoint('closer', 'v1', port)], false)],
      }),
    );
    const get = httpClient(t);
    const base = `http://127.0.0.1:${ports.outbound.closer}`;
    assert.equal((await get(`${base}/one`)).status, 200);
    const again = await get(`${base}/two`, { method: 'DELETE' });
    assert.equal(again.status, 200, `the DELETE is sent again on a fresh connection: ${again.body}`);
    const post = await get(`${base}/three`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 503, 'a POST may have been acted on: never sent twice');
    assert.equal(post.headers[PROXY_ERROR_HEADER], 'upstream-reset');
    assert.deepEqual(seen, ['GET /one HTTP/1.1', 'DELETE /two HTTP/1.1']);
    const [span] = await client.waitForSpans((s) => s.path === '/two');
    assert.match(String(span!.attributes.events), /re-sent: closer-v1-0 reset a reused connection before answering/);
  });
});
