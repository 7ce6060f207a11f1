// Route matching and route actions through a real sidecar to real apps on loopback: every match kind,
// first-match order, rewrite, header operations, redirect, direct response, mirror, faults.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROXY_ERROR_HEADER, ROUTE_HEADER, compileRouteMatcher, formatExplanation, routeRequestOf, type Cluster, type RouteRule } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, endpoint, httpClient, route, SidecarProcess, startApp, tempHome, TestMesh, type TestContext } from './helpers.js';

/** An app answering with its name and what it received. */
function recorder(name: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-app': name, 'x-internal': 'secret' });
      res.end(JSON.stringify({ app: name, url: req.url, host: req.headers.host, headers: req.headers, raw: req.rawHeaders }));
    });
  };
}

describe('route matching and actions', () => {
  const mesh = new TestMesh(tempHome({ after }));

  /** A sidecar of `service` (version v1) with one outbound listener "shop" over `routes`; plaintext clusters. */
  async function sidecarWith(t: TestContext, routes: RouteRule[], clusters: Cluster[], service = 'web'): Promise<{ base: string; sidecar: SidecarProcess }> {
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(clientConfig({ tls: mesh.tls(service), service, outbound: [{ service: 'shop', port: 0, routes }], clusters }));
    return { base: `http://127.0.0.1:${ports.outbound.shop}`, sidecar };
  }

  it('matches query params, withoutHeaders, authority, method and sourceLabels; first match wins; explain agrees', async (t) => {
    const a = await startApp(t, recorder('a'));
    const b = await startApp(t, recorder('b'));
    const clusters = [cluster('a', [endpoint('a', 'v1', a.port)], false), cluster('b', [endpoint('b', 'v1', b.port)], false)];
    const to = (service: string) => [{ service, weight: 100 }];
    const routes: RouteRule[] = [
      route({ name: 'from-other', match: [{ sourceLabels: { app: 'other' } }], destinations: to('b') }),
      route({ name: 'query', match: [{ queryParams: { debug: { exact: '1' } }, uri: { prefix: '/q' } }], destinations: to('b') }),
      route({ name: 'no-canary', match: [{ uri: { prefix: '/w' }, withoutHeaders: { 'x-canary': { regex: '.*' } } }], destinations: to('b') }),
      route({ name: 'authority', match: [{ authority: { exact: 'shop.example' } }], destinations: to('b') }),
      route({ name: 'delete', match: [{ method: { exact: 'DELETE' } }, { uri: { exact: '/either' } }], destinations: to('b') }),
      route({ name: 'from-web-v1', match: [{ sourceLabels: { app: 'web', version: 'v1' }, uri: { prefix: '/src' } }], destinations: to('b') }),
      route({ name: 'rest', destinations: to('a') }),
    ];
    const { base } = await sidecarWith(t, routes, clusters);
    const get = httpClient(t);
    const via = async (path: string, init: { method?: string; headers?: Record<string, string> } = {}) => {
      const r = await get(`${base}${path}`, init);
      assert.equal(r.status, 200, r.body);
      return r.headers[ROUTE_HEADER];
    };
    assert.equal(await via('/q?debug=1&x=2'), 'query');
    assert.equal(await via('/q?debug=0'), 'rest');
    assert.equal(await via('/q'), 'rest');
    assert.equal(await via('/w'), 'no-canary');
    assert.equal(await via('/w', { headers: { 'x-canary': 'yes' } }), 'rest');
    assert.equal(await via('/h', { headers: { host: 'shop.example:8080' } }), 'authority');
    assert.equal(await via('/x', { method: 'DELETE' }), 'delete');
    assert.equal(await via('/either'), 'delete', 'blocks OR');
    assert.equal(await via('/src/1'), 'from-web-v1', 'sourceLabels match the sidecar’s own workload');

    // The same request through the pure matcher that `devmesh explain` uses.
    const matcher = compileRouteMatcher(routes);
    const explained = matcher.explain(routeRequestOf('GET', '/w', { 'x-canary': 'yes', host: 'x' }, { app: 'web', version: 'v1' }));
    assert.equal(explained.index, 6);
    const lines = formatExplanation(explained);
    assert.match(lines[2]!, /no-canary.*without header x-canary regex ".\*" does not hold/);
    assert.match(lines.at(-1)!, /rule 6 \(rest\): MATCH/);
    assert.equal(compileRouteMatcher(routes.slice(0, 2)).explain(routeRequestOf('GET', '/', {}, { app: 'web', version: 'v1' })).index, -1);
  });

  it('rewrites the matched prefix and the authority, and applies request and response header operations', async (t) => {
    const a = await startApp(t, recorder('a'));
    const routes = [
      route({
        name: 'api',
        match: [{ uri: { prefix: '/api/v1/' } }],
        rewrite: { uri: '/internal/', authority: 'a.internal' },
        headers: { request: { set: { 'x-set': 'rule' }, add: { 'x-added': 'one' }, remove: ['x-drop'] }, response: { remove: ['x-internal'], set: { 'x-served-by': 'mesh' } } },
        destinations: [{ service: 'a', weight: 100, headers: { request: { add: { 'x-dest': 'a' } }, response: { add: { 'x-dest-resp': 'a' } } } }],
      }),
    ];
    const { base } = await sidecarWith(t, routes, [cluster('a', [endpoint('a', 'v1', a.port)], false)]);
    const reply = await httpClient(t)(`${base}/api/v1/items/7?sort=asc`, { headers: { 'x-set': 'client', 'x-drop': 'please', 'x-added': 'zero' } });
    assert.equal(reply.status, 200);
    const seen = JSON.parse(reply.body);
    assert.equal(seen.url, '/internal/items/7?sort=asc');
    assert.equal(seen.host, 'a.internal');
    assert.equal(seen.headers['x-set'], 'rule');
    assert.equal(seen.headers['x-drop'], undefined);
    assert.equal(seen.headers['x-added'], 'zero, one');
    // An added value goes on its own header line, as Envoy sends it (the Gateway API suite reads the lines).
    const lines = (seen.raw as string[]).flatMap((v, i, all) => (i % 2 === 0 && v.toLowerCase() === 'x-added' ? [all[i + 1]] : []));
    assert.deepEqual(lines, ['zero', 'one']);
    assert.equal(seen.headers['x-dest'], 'a');
    assert.equal(reply.headers['x-internal'], undefined);
    assert.equal(reply.headers['x-served-by'], 'mesh');
    assert.equal(reply.headers['x-dest-resp'], 'a');
  });

  it('answers redirects and direct responses itself, marked as sidecar-made', async (t) => {
    const a = await startApp(t, recorder('a'));
    const routes = [
      route({ name: 'moved', match: [{ uri: { exact: '/old' } }], destinations: [], redirect: { uri: '/new', authority: 'shop.example', code: 308 } }),
      route({ name: 'health', match: [{ uri: { exact: '/ping' } }], destinations: [], directResponse: { status: 200, body: 'pong' } }),
      route({ name: 'gone', match: [{ uri: { exact: '/gone' } }], destinations: [], directResponse: { status: 410 } }),
    ];
    const { base } = await sidecarWith(t, routes, [cluster('a', [endpoint('a', 'v1', a.port)], false)]);
    const get = httpClient(t);
    const moved = await get(`${base}/old`);
    assert.equal(moved.status, 308);
    assert.equal(moved.headers.location, 'http://shop.example/new');
    assert.equal(moved.headers[PROXY_ERROR_HEADER], 'redirect');
    const pong = await get(`${base}/ping`);
    assert.deepEqual([pong.status, pong.body, pong.headers[PROXY_ERROR_HEADER], pong.headers[ROUTE_HEADER]], [200, 'pong', 'direct-response', 'health']);
    assert.equal((await get(`${base}/gone`)).status, 410);
    assert.equal(a.seen.length, 0, 'the app never saw any of them');
  });

  it('mirrors a copy to the shadow (response discarded, span tagged shadow), and honours the mirror percentage', async (t) => {
    const main = await startApp(t, recorder('main'));
    const shadow = await startApp(t, (req, res) => {
      req.resume();
      res.writeHead(500).end('the shadow fails; nobody must notice');
    });
    const clusters = [cluster('main', [endpoint('main', 'v1', main.port)], false), cluster('shadow', [endpoint('shadow', 'v1', shadow.port)], false)];
    const routes = [
      route({ name: 'never', match: [{ uri: { prefix: '/never' } }], destinations: [{ service: 'main', weight: 100 }], mirror: { service: 'shadow', percent: 0 } }),
      route({ name: 'all', destinations: [{ service: 'main', weight: 100 }], mirror: { service: 'shadow', percent: 100 } }),
    ];
    const { base, sidecar } = await sidecarWith(t, routes, clusters);
    const get = httpClient(t);
    for (let i = 0; i < 5; i++) {
      const r = await get(`${base}/m/${i}`, { method: 'POST', body: `body-${i}`, headers: { host: 'shop' } });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).app, 'main');
    }
    for (let i = 0; i < 5; i++) assert.equal((await get(`${base}/never/${i}`)).status, 200);
    const shadows = await sidecar.waitForSpans((s) => s.attributes.shadow === true, 5);
    assert.ok(shadows.every((s) => s.peerService === 'shadow' && s.status === 500 && s.path.startsWith('/m/')));
    const clients = await sidecar.waitForSpans((s) => s.kind === 'client' && s.attributes.shadow === undefined && s.path.startsWith('/m/'), 5);
    assert.ok(clients.every((c) => c.attributes.mirrored === true));
    assert.equal(shadows[0]!.parentSpanId, clients.find((c) => c.traceId === shadows[0]!.traceId)!.spanId, 'the shadow span is a child of the client span');
    assert.equal(shadow.seen.length, 5, 'mirrorPercentage 0 mirrors nothing');
    assert.equal(shadow.seen[0]!.headers.host, 'shop-shadow');
  });

  it("sends mirrored copies through the shadow's circuit breaker: past maxRequests they are dropped, the real requests unharmed", async (t) => {
    const main = await startApp(t, recorder('main'));
    const shadow = await startApp(t, (req, res) => {
      req.resume();
      setTimeout(() => res.end('slow shadow'), 300);
    });
    const shadowCluster = cluster('shadow', [endpoint('shadow', 'v1', shadow.port)], false);
    shadowCluster.policy = { connectionPool: { maxRequests: 1 } };
    const routes = [route({ name: 'all', destinations: [{ service: 'main', weight: 100 }], mirror: { service: 'shadow', percent: 100 } })];
    const { base, sidecar } = await sidecarWith(t, routes, [cluster('main', [endpoint('main', 'v1', main.port)], false), shadowCluster]);
    const get = httpClient(t);
    const answers = await Promise.all([0, 1, 2].map((i) => get(`${base}/burst/${i}`)));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], 'the real requests do not feel the shadow');
    const shadows = await sidecar.waitForSpans((s) => s.attributes.shadow === true, 3);
    const dropped = shadows.filter((s) => s.error === 'overflow');
    assert.equal(dropped.length, 2, 'one copy in flight at a time; the other two were shed');
    assert.match(String(dropped[0]!.attributes['error.detail']), /circuit breaker of shadow: 1 requests in flight, maxRequests is 1/);
    assert.equal(shadow.seen.length, 1, 'the shed copies never reached the shadow');
    // Once the copy in flight is answered, the breaker lets the next one through.
    await sidecar.waitForSpans((s) => s.attributes.shadow === true && s.status === 200);
    assert.equal((await get(`${base}/after`)).status, 200);
    await sidecar.waitForSpans((s) => s.attributes.shadow === true && s.path === '/after' && s.status === 200);
  });

  it('injects aborts and delays by percentage, and turns the route’s retries and timeout off', async (t) => {
    let hits = 0;
    const slowFail = await startApp(t, (req, res) => {
      hits++;
      req.resume();
      res.writeHead(503).end('app 503');
    });
    const ok = await startApp(t, recorder('ok'));
    const clusters = [cluster('fail', [endpoint('fail', 'v1', slowFail.port)], false), cluster('ok', [endpoint('ok', 'v1', ok.port)], false)];
    const routes = [
      route({ name: 'teapot', match: [{ uri: { prefix: '/teapot' } }], destinations: [{ service: 'ok', weight: 100 }], fault: { abort: { httpStatus: 418, percent: 100 } } }),
      route({ name: 'grpc', match: [{ uri: { prefix: '/grpc' } }], destinations: [{ service: 'ok', weight: 100 }], fault: { abort: { grpcStatus: 14, percent: 100 } } }),
      route({ name: 'half', match: [{ uri: { prefix: '/half' } }], destinations: [{ service: 'ok', weight: 100 }], fault: { abort: { httpStatus: 503, percent: 50 } } }),
      // The timeout alone would cut the delayed request; with a fault on the rule it is off (Istio).
      route({
        name: 'slow',
        match: [{ uri: { prefix: '/slow' } }],
        destinations: [{ service: 'fail', weight: 100 }],
        fault: { delay: { fixedDelayMs: 150, percent: 100 } },
        timeoutMs: 20,
        retries: { attempts: 3, retryOn: ['5xx'] },
      }),
    ];
    const { base, sidecar } = await sidecarWith(t, routes, clusters);
    const get = httpClient(t);
    const teapot = await get(`${base}/teapot`);
    assert.deepEqual([teapot.status, teapot.headers[PROXY_ERROR_HEADER]], [418, 'fault-abort']);
    const grpc = await get(`${base}/grpc`);
    assert.deepEqual([grpc.status, grpc.headers['grpc-status'], grpc.headers[PROXY_ERROR_HEADER]], [200, '14', 'fault-abort']);
    let aborted = 0;
    for (let i = 0; i < 200; i++) if ((await get(`${base}/half/${i}`)).status === 503) aborted++;
    assert.ok(aborted > 60 && aborted < 140, `${aborted}/200 aborted at 50%`);
    const slow = await get(`${base}/slow`);
    assert.equal(slow.status, 503, 'the app’s 503, not a 504: the route timeout is off');
    assert.equal(slow.headers[PROXY_ERROR_HEADER], undefined);
    assert.equal(hits, 1, 'no retries on a faulted route');
    const [span] = await sidecar.waitForSpans((s) => s.path === '/slow');
    assert.equal(span!.attributes.fault, 'delay 150ms');
    assert.equal(span!.attempts, 1);
    const [abortSpan] = await sidecar.waitForSpans((s) => s.path === '/teapot');
    assert.deepEqual([abortSpan!.attributes.fault, abortSpan!.error], ['abort 418', 'fault-abort']);
  });
});
