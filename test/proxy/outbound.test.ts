// Outbound routing through two real sidecars over mTLS: matches, subsets, weights, retries and the
// proxy's own error responses.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PROXY_ERROR_HEADER, ROUTE_HEADER, spiffeId, type SidecarConfig } from '../../proxy/protocol/index.js';
import {
  clientConfig,
  cluster,
  deadPort,
  echoApp,
  endpoint,
  httpClient,
  MESH,
  route,
  serverConfig,
  SidecarProcess,
  startApp,
  tempHome,
  TestMesh,
  type TestContext,
} from './helpers.js';

/** Runs `total` requests, `concurrency` at a time. */
async function runConcurrently<T>(total: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(total);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        results[i] = await one(i);
      }
    }),
  );
  return results;
}

describe('outbound routing', () => {
  const mesh = new TestMesh(tempHome({ after }));

  /** A server sidecar (STRICT) in front of `app`, returning its inbound port. */
  async function serverSidecar(t: TestContext, service: string, version: string, appPort: number): Promise<number> {
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls(service), service, version, appPort }));
    return ports.inbound!;
  }

  it('sends x-user: tester to subset v2 and splits the rest 90/10 over mTLS', async (t) => {
    const v1 = await startApp(t, echoApp('reviews-v1'));
    const v2 = await startApp(t, echoApp('reviews-v2'));
    const v1Port = await serverSidecar(t, 'reviews', 'v1', v1.port);
    const v2Port = await serverSidecar(t, 'reviews', 'v2', v2.port);

    const client = SidecarProcess.start(t, mesh.home);
    const ports = await client.apply(
      clientConfig({
        tls: mesh.tls('productpage'),
        service: 'productpage',
        appPort: 1, // never called here
        outbound: [
          {
            service: 'reviews',
            port: 0,
            routes: [
              route({ name: 'testers', match: [{ headers: { 'X-User': { exact: 'tester' } } }], destinations: [{ service: 'reviews', subset: 'v2', weight: 100 }] }),
              route({
                match: [],
                destinations: [
                  { service: 'reviews', subset: 'v1', weight: 90 },
                  { service: 'reviews', subset: 'v2', weight: 10 },
                  { service: 'reviews', subset: 'v3', weight: 0 },
                ],
              }),
            ],
          },
        ],
        clusters: [cluster('reviews', [endpoint('reviews', 'v1', v1Port), endpoint('reviews', 'v2', v2Port)])],
      }),
    );
    const base = `http://127.0.0.1:${ports.outbound.reviews}`;
    const get = httpClient(t);

    for (let i = 0; i < 10; i++) {
      const reply = await get(`${base}/reviews/${i}`, { headers: { 'x-user': 'tester' } });
      assert.equal(reply.status, 200);
      const seen = JSON.parse(reply.body);
      assert.equal(seen.app, 'reviews-v2');
      assert.equal(seen.peer, spiffeId(MESH, 'productpage'), 'the upstream app sees the caller identity from mTLS');
      assert.equal(reply.headers[ROUTE_HEADER], 'testers');
    }

    const total = 400;
    const apps = await runConcurrently(total, 8, async (i) => {
      const reply = await get(`${base}/split/${i}`, { headers: { 'x-user': 'someone-else' } });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers[ROUTE_HEADER], '1');
      return JSON.parse(reply.body).app as string;
    });
    const v2Share = apps.filter((a) => a === 'reviews-v2').length / total;
    assert.ok(v2Share >= 0.04 && v2Share <= 0.18, `v2 share ${v2Share} outside [0.04, 0.18]`);

    const spans = await client.waitForSpans((s) => s.kind === 'client' && s.path.startsWith('/split/'), total);
    assert.ok(spans.every((s) => s.service === 'productpage' && s.peerService === 'reviews' && s.attributes.mtls === true));
    assert.ok(spans.every((s) => s.attributes.route === '1' && (s.attributes.subset === 'v1' || s.attributes.subset === 'v2')));
    assert.ok(spans.some((s) => s.attributes.endpoint === 'reviews-v2-0'));
  });

  it('masks a flaky upstream with retries, and a dead endpoint with connect-failure retries', async (t) => {
    let count = 0;
    const flaky = await startApp(t, (req, res) => {
      count++;
      req.resume();
      if (count % 2 === 1) {
        res.writeHead(503).end('flaky');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      }
    });
    const flakyPort = await serverSidecar(t, 'ratings', 'v1', flaky.port);
    const stable = await startApp(t, echoApp('details'));
    const stablePort = await serverSidecar(t, 'details', 'v1', stable.port);
    const dead = await deadPort();

    const client = SidecarProcess.start(t, mesh.home);
    const retries = { attempts: 3, retryOn: ['5xx,connect-failure'] };
    const ports = await client.apply(
      clientConfig({
        tls: mesh.tls('reviews'),
        service: 'reviews',
        outbound: [
          { service: 'ratings', port: 0, routes: [route({ destinations: [{ service: 'ratings', weight: 100 }], retries })] },
          { service: 'details', port: 0, routes: [route({ destinations: [{ service: 'details', weight: 100 }], retries })] },
          { service: 'ratings-no-retry', port: 0, routes: [route({ destinations: [{ service: 'ratings', weight: 100 }] })] },
        ],
        clusters: [
          cluster('ratings', [endpoint('ratings', 'v1', flakyPort)]),
          cluster('details', [endpoint('details', 'v1', dead, 0), endpoint('details', 'v1', stablePort, 1)]),
        ],
      }),
    );
    const get = httpClient(t);

    for (let i = 0; i < 20; i++) {
      // POST with a body: the buffered body must be replayed on the retry.
      const reply = await get(`http://127.0.0.1:${ports.outbound.ratings}/ratings/${i}`, { method: 'POST', body: 'x'.repeat(1000) });
      assert.equal(reply.status, 200, `request ${i}: ${reply.body}`);
      assert.equal(reply.body, 'ok');
    }
    const spans = await client.waitForSpans((s) => s.peerService === 'ratings' && s.path.startsWith('/ratings/'), 20);
    assert.ok(spans.some((s) => s.attempts > 1), 'some requests needed a retry');
    assert.ok(spans.filter((s) => s.attempts > 1).every((s) => s.attributes['retry.reasons'] === '503'));

    for (let i = 0; i < 10; i++) {
      const reply = await get(`http://127.0.0.1:${ports.outbound.details}/details/${i}`);
      assert.equal(reply.status, 200, `request ${i}: ${reply.body}`);
    }
    const detailSpans = await client.waitForSpans((s) => s.peerService === 'details', 10);
    const retried = detailSpans.filter((s) => s.attempts > 1);
    assert.ok(retried.length >= 4, `round robin puts about half the first tries on the dead endpoint (got ${retried.length})`);
    assert.ok(retried.every((s) => String(s.attributes['retry.reasons']).includes('connect-failure') && s.attributes.endpoint === 'details-v1-1'));

    // Without retries the app's own 503 comes through as the app's: no proxy error header.
    const statuses = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const reply = await get(`http://127.0.0.1:${ports.outbound['ratings-no-retry']}/once`);
      statuses.add(reply.status);
      if (reply.status === 503) assert.equal(reply.headers[PROXY_ERROR_HEADER], undefined);
    }
    assert.deepEqual([...statuses].sort(), [200, 503]);
  });

  it('answers timeout 504, no-route 404, no-endpoints 503, connect-failure 503 with the error header, as an ingress gateway', async (t) => {
    let slowCalls = 0;
    const slow = await startApp(t, (req, res) => {
      req.resume();
      if (req.url === '/first-try-hangs' && slowCalls++ === 0) {
        setTimeout(() => res.end('late'), 1_000);
        return;
      }
      setTimeout(() => res.end('late'), req.url === '/slow' ? 1_000 : 0);
    });
    const dead = await deadPort();
    const gateway = SidecarProcess.start(t, mesh.home);
    const config: SidecarConfig = clientConfig({
      tls: mesh.tls('ingress'),
      service: 'ingress',
      outbound: [
        {
          service: 'web',
          port: 0,
          routes: [
            route({ name: 'slow', match: [{ uri: { exact: '/slow' } }], destinations: [{ service: 'slow', weight: 1 }], timeoutMs: 150 }),
            route({
              name: 'per-try',
              match: [{ uri: { exact: '/first-try-hangs' } }],
              destinations: [{ service: 'slow', weight: 1 }],
              retries: { attempts: 2, perTryTimeoutMs: 150, retryOn: ['gateway-error'] },
            }),
            route({ name: 'ghost', match: [{ uri: { prefix: '/ghost' } }], destinations: [{ service: 'ghost', weight: 1 }] }),
            route({ name: 'dead', match: [{ uri: { prefix: '/dead' }, method: { exact: 'GET' } }], destinations: [{ service: 'dead', weight: 1 }], retries: { attempts: 2, retryOn: ['connect-failure'] } }),
          ],
        },
      ],
      clusters: [cluster('slow', [endpoint('slow', 'v1', slow.port)], false), cluster('ghost', []), cluster('dead', [endpoint('dead', 'v1', dead)])],
    });
    const ports = await gateway.apply(config);
    assert.equal(ports.inbound, null);
    const base = `http://127.0.0.1:${ports.outbound.web}`;
    const get = httpClient(t);

    const started = Date.now();
    const timeout = await get(`${base}/slow`);
    assert.equal(timeout.status, 504);
    assert.equal(timeout.headers[PROXY_ERROR_HEADER], 'timeout');
    assert.equal(timeout.headers[ROUTE_HEADER], 'slow');
    assert.ok(Date.now() - started < 900, 'the route timeout cut the wait short');

    const perTry = await get(`${base}/first-try-hangs`);
    assert.equal(perTry.status, 200);

    const noRoute = await get(`${base}/nowhere`);
    assert.equal(noRoute.status, 404);
    assert.equal(noRoute.headers[PROXY_ERROR_HEADER], 'no-route');

    const noEndpoints = await get(`${base}/ghost`);
    assert.equal(noEndpoints.status, 503);
    assert.equal(noEndpoints.headers[PROXY_ERROR_HEADER], 'no-endpoints');

    const refused = await get(`${base}/dead`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers[PROXY_ERROR_HEADER], 'connect-failure');
    const wrongMethod = await get(`${base}/dead`, { method: 'DELETE' });
    assert.equal(wrongMethod.status, 404);

    const spans = await gateway.waitForSpans((s) => s.kind === 'client', 6);
    const byPath = (p: string, status: number) => spans.find((s) => s.path === p && s.status === status);
    assert.equal(byPath('/slow', 504)?.error, 'timeout');
    assert.equal(byPath('/slow', 504)?.attributes.mtls, false);
    const perTrySpan = byPath('/first-try-hangs', 200)!;
    assert.equal(perTrySpan.attempts, 2);
    assert.equal(perTrySpan.attributes['retry.reasons'], 'per-try-timeout');
    assert.equal(byPath('/nowhere', 404)?.error, 'no-route');
    assert.equal(byPath('/ghost', 503)?.error, 'no-endpoints');
    const deadSpan = byPath('/dead', 503)!;
    assert.equal(deadSpan.error, 'connect-failure');
    assert.equal(deadSpan.attempts, 3);
    assert.equal(deadSpan.attributes['retry.reasons'], 'connect-failure,connect-failure');
    assert.ok(spans.every((s) => s.service === 'ingress' && s.instanceId === 'ingress-v1-0'));
  });

  it('holds a request to a service without endpoints until a config brings some; past 3 s it fails, then fails fast until the next config', async (t) => {
    const app = await startApp(t, (req, res) => {
      req.resume();
      res.end('up');
    });
    const gateway = SidecarProcess.start(t, mesh.home);
    const routes = [route({ name: 'later', destinations: [{ service: 'later', weight: 1 }] })];
    const config = (endpoints: ReturnType<typeof endpoint>[]): SidecarConfig =>
      clientConfig({ tls: mesh.tls('ingress'), service: 'ingress', outbound: [{ service: 'web', port: 0, routes }], clusters: [cluster('later', endpoints, false)] });
    const ports = await gateway.apply(config([]));
    const base = `http://127.0.0.1:${ports.outbound.web}`;
    const get = httpClient(t);

    // Still starting: the request waits, and is served once the endpoint arrives (0.5 s later).
    const started = Date.now();
    const held = get(`${base}/a`);
    await new Promise((r) => setTimeout(r, 500));
    await gateway.apply(config([endpoint('later', 'v1', app.port)]));
    const served = await held;
    assert.equal(served.status, 200);
    assert.equal(served.body, 'up');
    assert.ok(Date.now() - started >= 450, 'it was held, not answered before the endpoint came');

    // Gone: a request waits 3 s, then 503 no-endpoints; the next one fails at once.
    await gateway.apply(config([]));
    const waitedFrom = Date.now();
    const gone = await get(`${base}/b`);
    const waited = Date.now() - waitedFrom;
    assert.equal(gone.status, 503);
    assert.equal(gone.headers[PROXY_ERROR_HEADER], 'no-endpoints');
    assert.ok(waited >= 2_900 && waited < 6_000, `waited ${waited} ms`);
    const fastFrom = Date.now();
    const fast = await get(`${base}/c`);
    assert.equal(fast.status, 503);
    assert.ok(Date.now() - fastFrom < 1_000, 'failing fast');
  });

  it('refuses an upstream whose certificate carries another identity', async (t) => {
    const app = await startApp(t, echoApp('details'));
    // The sidecar at this port proves "details", but the cluster says it must be "reviews".
    const impostorPort = await serverSidecar(t, 'details', 'v1', app.port);
    const client = SidecarProcess.start(t, mesh.home);
    const ports = await client.apply(
      clientConfig({
        tls: mesh.tls('productpage'),
        service: 'productpage',
        outbound: [{ service: 'reviews', port: 0, routes: [route({ destinations: [{ service: 'reviews', weight: 100 }] })] }],
        clusters: [cluster('reviews', [endpoint('reviews', 'v1', impostorPort)])],
      }),
    );
    const reply = await httpClient(t)(`http://127.0.0.1:${ports.outbound.reviews}/`);
    assert.equal(reply.status, 503);
    assert.equal(reply.headers[PROXY_ERROR_HEADER], 'connect-failure');
    assert.match(reply.body, /spiffe:\/\/test\.local\/ns\/default\/sa\/details.*is not spiffe:\/\/test\.local\/ns\/default\/sa\/reviews/);
    assert.equal(app.seen.length, 0);
  });
});
