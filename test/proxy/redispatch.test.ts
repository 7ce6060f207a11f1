// A try that could not even connect sent nothing, so another endpoint may take the request without a retry
// policy (linkerd2-proxy's balancer only dispatches to endpoints it reached). This is what keeps a killed
// sidecar from failing more than the requests in flight on it while the control plane's push is on its way.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PROXY_ERROR_HEADER } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, deadPort, echoApp, endpoint, httpClient, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh } from './helpers.js';

describe('re-dispatch of requests that were never sent', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('with attempts: 0, a refused connection goes to the other endpoint once; one dead endpoint alone still answers connect-failure', async (t) => {
    const app = await startApp(t, echoApp('details'));
    const server = SidecarProcess.start(t, mesh.home);
    const live = (await server.apply(serverConfig({ tls: mesh.tls('details'), service: 'details', version: 'v1', appPort: app.port }))).inbound!;
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
});
