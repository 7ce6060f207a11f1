// Retries (each retryOn condition, including ones that must not retry), timeouts and the propagated
// deadline, load balancing, circuit breaking, outlier ejection and return, and the retry budget,
// through a real sidecar to real apps on loopback.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEADLINE_HEADER, PROXY_ERROR_HEADER, type Cluster, type RouteRule, type TrafficPolicy } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, deadPort, endpoint, httpClient, plainRequest, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, type TestContext } from './helpers.js';

describe('resilience', () => {
  const mesh = new TestMesh(tempHome({ after }));

  async function sidecarWith(t: TestContext, routes: RouteRule[], clusters: Cluster[]): Promise<{ base: string; sidecar: SidecarProcess }> {
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(clientConfig({ tls: mesh.tls('web'), service: 'web', outbound: [{ service: 'up', port: 0, routes }], clusters }));
    return { base: `http://127.0.0.1:${ports.outbound.up}`, sidecar };
  }

  /** An app that answers the statuses in `script` (per path, in order), then 200. Records hits per path. */
  async function scripted(t: TestContext, script: Record<string, Array<number | 'reset' | 'grpc-14' | 'grpc-13'>>) {
    const hits: Record<string, number> = {};
    const app = await startApp(t, (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0]!;
      const n = (hits[path] = (hits[path] ?? 0) + 1);
      req.resume();
      req.on('end', () => {
        const step = script[path]?.[n - 1];
        if (step === 'reset') return req.socket.destroy();
        if (step === 'grpc-14' || step === 'grpc-13') return res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': step.slice(5) }).end();
        res.writeHead(step ?? 200).end(`try ${n}`);
      });
    });
    return { app, hits };
  }

  it('retries each retryOn condition, and not what the conditions leave out', async (t) => {
    const { app, hits } = await scripted(t, {
      '/5xx': [500, 500],
      '/gw-500': [500],
      '/gw-502': [502, 504],
      '/4xx-409': [409],
      '/4xx-404': [404],
      '/codes': [418, 503],
      '/codes-no': [500],
      '/reset': ['reset'],
      '/reset-no': ['reset'],
      '/grpc': ['grpc-14'],
      '/grpc-no': ['grpc-13'],
      '/big': [503],
      '/small': [503],
      '/zero': [503],
    });
    const up = [{ service: 'up', weight: 100 }];
    const r = (path: string, retryOn: string[], attempts = 2): RouteRule =>
      route({ name: path, match: [{ uri: { exact: path } }], destinations: up, retries: { attempts, retryOn } });
    const { base, sidecar } = await sidecarWith(
      t,
      [
        r('/5xx', ['5xx']),
        r('/gw-500', ['gateway-error']),
        r('/gw-502', ['gateway-error']),
        r('/4xx-409', ['retriable-4xx']),
        r('/4xx-404', ['retriable-4xx']),
        r('/codes', ['retriable-status-codes', '418', '503']),
        r('/codes-no', ['503']),
        r('/reset', ['reset']),
        r('/reset-no', ['connect-failure']),
        r('/grpc', ['unavailable']),
        r('/grpc-no', ['unavailable', 'cancelled']),
        r('/big', ['5xx']),
        r('/small', ['5xx']),
        r('/zero', ['5xx'], 0),
      ],
      [cluster('up', [endpoint('up', 'v1', app.port)], false)],
    );
    const get = httpClient(t);
    const status = async (path: string, init?: { method?: string; body?: Buffer }) => (await get(`${base}${path}`, init)).status;
    assert.equal(await status('/5xx'), 200);
    assert.equal(hits['/5xx'], 3);
    assert.equal(await status('/gw-500'), 500, 'gateway-error is 502, 503, 504 only');
    assert.equal(hits['/gw-500'], 1);
    assert.equal(await status('/gw-502'), 200);
    assert.equal(hits['/gw-502'], 3);
    assert.equal(await status('/4xx-409'), 200);
    assert.equal(await status('/4xx-404'), 404, 'retriable-4xx is 409 only');
    assert.equal(hits['/4xx-404'], 1);
    assert.equal(await status('/codes'), 200);
    assert.equal(hits['/codes'], 3);
    assert.equal(await status('/codes-no'), 500);
    assert.equal(hits['/codes-no'], 1);
    assert.equal(await status('/reset'), 200);
    assert.equal(hits['/reset'], 2);
    const resetNo = await get(`${base}/reset-no`);
    assert.deepEqual([resetNo.status, resetNo.headers[PROXY_ERROR_HEADER]], [503, 'upstream-reset'], 'connect-failure does not cover a reset (answered 503, as Envoy does: UC)');
    assert.equal(await status('/grpc'), 200);
    assert.equal(hits['/grpc'], 2, 'grpc-status 14 is retried on unavailable');
    assert.equal((await get(`${base}/grpc-no`)).headers['grpc-status'], '13');
    assert.equal(hits['/grpc-no'], 1);
    // A body beyond the buffer limit streams through and cannot be sent twice; a small one is buffered and retried.
    assert.equal(await status('/big', { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024, 1) }), 503);
    assert.equal(hits['/big'], 1);
    assert.equal(await status('/small', { method: 'POST', body: Buffer.from('small') }), 200);
    assert.equal(hits['/small'], 2);
    assert.equal(await status('/zero'), 503, 'attempts: 0 disables retries');
    assert.equal(hits['/zero'], 1);

    const [span] = await sidecar.waitForSpans((s) => s.path === '/gw-502' && s.status === 200);
    assert.equal(span!.attributes['retry.reasons'], '502,504');
    assert.equal(span!.attributes.tries, 'up-v1-0 502; up-v1-0 504; up-v1-0 200');
    const [grpcSpan] = await sidecar.waitForSpans((s) => s.path === '/grpc' && s.status === 200);
    assert.equal(grpcSpan!.attributes['retry.reasons'], 'grpc-14');
  });

  it('per-try timeout retries, the route timeout ends it all, and the remaining budget goes downstream', async (t) => {
    let calls = 0;
    const budgets: string[] = [];
    const app = await startApp(t, (req, res) => {
      calls++;
      budgets.push(String(req.headers[DEADLINE_HEADER]));
      req.resume();
      if (req.url === '/hang' || (req.url === '/first-hangs' && calls === 1)) return; // never answers
      res.writeHead(200).end('ok');
    });
    const up = [{ service: 'up', weight: 100 }];
    const { base } = await sidecarWith(
      t,
      [
        route({ name: 'first', match: [{ uri: { exact: '/first-hangs' } }], destinations: up, retries: { attempts: 2, perTryTimeoutMs: 100, retryOn: ['5xx'] }, timeoutMs: 5_000 }),
        route({ name: 'hang', match: [{ uri: { exact: '/hang' } }], destinations: up, retries: { attempts: 10, perTryTimeoutMs: 100, retryOn: ['5xx'] }, timeoutMs: 450 }),
      ],
      [cluster('up', [endpoint('up', 'v1', app.port)], false)],
    );
    const get = httpClient(t);
    assert.equal((await get(`${base}/first-hangs`)).status, 200);
    assert.equal(calls, 2);
    assert.ok(Number(budgets[0]) <= 100 && Number(budgets[0]) > 0, `per-try budget sent downstream: ${budgets[0]}`);
    calls = 0;
    const hang = await get(`${base}/hang`);
    assert.deepEqual([hang.status, hang.headers[PROXY_ERROR_HEADER]], [504, 'timeout']);
    // 450 ms of route timeout over 100 ms tries: at least two tries even on a loaded machine, never all eleven.
    assert.ok(calls >= 2 && calls <= 5, `the route timeout bounds the tries (${calls})`);
    // An app forwarding the budget header gets no more than it says.
    const capped = await get(`${base}/hang`, { headers: { [DEADLINE_HEADER]: '50' } });
    assert.equal(capped.status, 504);
    assert.match(capped.body, /propagated deadline of 50 ms/);
  });

  it('an inbound sidecar honours the propagated deadline while waiting for its app', async (t) => {
    const app = await startApp(t, (req) => req.resume()); // never answers
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('slow'), service: 'slow', appPort: app.port, mtls: 'PERMISSIVE' }));
    const reply = await plainRequest(ports.inbound!, '/', { [DEADLINE_HEADER]: '80' });
    assert.deepEqual([reply.status, reply.headers[PROXY_ERROR_HEADER]], [504, 'timeout']);
    assert.equal(app.seen[0]!.headers[DEADLINE_HEADER], '80', 'the app sees the budget, to pass it on');
  });

  /** Three apps a, b, c; returns a cluster with policy over them, and the app name per request. */
  async function trio(t: TestContext, policy: TrafficPolicy, handler?: (name: string) => (req: IncomingMessage, res: ServerResponse) => void) {
    const names = ['a', 'b', 'c'];
    const apps = await Promise.all(
      names.map((n) =>
        startApp(
          t,
          handler?.(n) ??
            ((req, res) => {
              req.resume();
              res.writeHead(200, { 'x-app': n }).end(n);
            }),
        ),
      ),
    );
    const c = cluster('up', apps.map((a, i) => endpoint('up', 'v1', a.port, i)), false);
    c.policy = policy;
    return { cluster: c, apps };
  }

  it('balances ROUND_ROBIN, RANDOM, LEAST_REQUEST and consistentHash (header, cookie, source)', async (t) => {
    const get = httpClient(t);
    const spread = async (policy: TrafficPolicy, n: number, headers: Record<string, string> = {}) => {
      const { cluster: c } = await trio(t, policy);
      const { base } = await sidecarWith(t, [route({ destinations: [{ service: 'up', weight: 100 }] })], [c]);
      const counts: Record<string, number> = {};
      const replies = [];
      for (let i = 0; i < n; i++) {
        const r = await get(`${base}/`, { headers });
        replies.push(r);
        counts[r.body] = (counts[r.body] ?? 0) + 1;
      }
      return { counts, replies };
    };
    assert.deepEqual((await spread({ loadBalancer: { simple: 'ROUND_ROBIN' } }, 30)).counts, { a: 10, b: 10, c: 10 });
    const random = (await spread({ loadBalancer: { simple: 'RANDOM' } }, 60)).counts;
    assert.equal(Object.keys(random).length, 3, JSON.stringify(random));
    const least = (await spread({ loadBalancer: { simple: 'LEAST_REQUEST' } }, 60)).counts;
    assert.equal(Object.keys(least).length, 3, `sequential requests tie, so P2C spreads: ${JSON.stringify(least)}`);
    const byHeader = (await spread({ loadBalancer: { consistentHash: { header: 'x-user' } } }, 20, { 'x-user': 'alice' })).counts;
    assert.equal(Object.keys(byHeader).length, 1, 'one user, one endpoint');
    const bySource = (await spread({ loadBalancer: { consistentHash: { sourceIp: true } } }, 20)).counts;
    assert.equal(Object.keys(bySource).length, 1, 'one calling workload, one endpoint');
    const cookie = await spread({ loadBalancer: { consistentHash: { cookie: { name: 'sticky', ttlMs: 60_000 } } } }, 1);
    assert.match(String(cookie.replies[0]!.headers['set-cookie']), /^sticky=\w+; Max-Age=60; Path=\/; HttpOnly$/);
  });

  it('LEAST_REQUEST steers around an endpoint that is holding requests', async (t) => {
    const held: ServerResponse[] = [];
    const { cluster: c } = await trio(t, { loadBalancer: { simple: 'LEAST_REQUEST' } }, (name) => (req, res) => {
      req.resume();
      if (name === 'a' && req.url === '/hold') held.push(res);
      else res.writeHead(200).end(name);
    });
    const { base } = await sidecarWith(t, [route({ destinations: [{ service: 'up', weight: 100 }] })], [c]);
    const get = httpClient(t);
    // Park a request on "a" (only a holds /hold; b and c answer it): then a has one request in flight.
    const parked: Array<Promise<unknown>> = [];
    for (let i = 0; i < 30 && held.length < 1; i++) {
      const p = get(`${base}/hold`);
      parked.push(p);
      await Promise.race([p, new Promise((res) => setTimeout(() => res(null), 50))]);
    }
    assert.equal(held.length, 1);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const body = (await get(`${base}/x`)).body;
      counts[body] = (counts[body] ?? 0) + 1;
    }
    assert.equal(counts.a ?? 0, 0, `busy endpoint a got ${JSON.stringify(counts)}`);
    for (const res of held) res.writeHead(200).end('a');
    await Promise.all(parked);
  });

  it('sheds overflow with 503 x-devmesh-error: overflow instead of queueing', async (t) => {
    const held: ServerResponse[] = [];
    const app = await startApp(t, (req, res) => {
      req.resume();
      held.push(res);
    });
    const c = cluster('up', [endpoint('up', 'v1', app.port)], false);
    c.policy = { connectionPool: { maxConnections: 1, maxPendingRequests: 1, maxRequests: 2 } };
    const { base, sidecar } = await sidecarWith(t, [route({ destinations: [{ service: 'up', weight: 100 }] })], [c]);
    const get = httpClient(t);
    const first = get(`${base}/1`);
    const second = get(`${base}/2`);
    while (held.length < 1) await new Promise((r) => setTimeout(r, 10));
    const third = await get(`${base}/3`);
    assert.deepEqual([third.status, third.headers[PROXY_ERROR_HEADER]], [503, 'overflow']);
    for (const r of held) r.writeHead(200).end('ok');
    while (held.length < 2) await new Promise((r) => setTimeout(r, 10));
    held[1]!.writeHead(200).end('ok');
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
    const [span] = await sidecar.waitForSpans((s) => s.path === '/3');
    assert.equal(span!.error, 'overflow');
  });

  it('ejects an endpoint after consecutive 5xx and takes it back after baseEjectionTime', async (t) => {
    let bHealthy = false;
    const { cluster: c } = await trio(
      t,
      {
        outlierDetection: { consecutive5xxErrors: 2, consecutiveGatewayErrors: 0, intervalMs: 10_000, baseEjectionTimeMs: 300, maxEjectionPercent: 50, minHealthPercent: 0 },
      },
      (name) => (req, res) => {
        req.resume();
        if (name === 'b' && !bHealthy) res.writeHead(500).end(name);
        else res.writeHead(200).end(name);
      },
    );
    const { base, sidecar } = await sidecarWith(t, [route({ destinations: [{ service: 'up', weight: 100 }] })], [c]);
    const get = httpClient(t);
    const bodies: string[] = [];
    for (let i = 0; i < 12; i++) bodies.push((await get(`${base}/`)).body);
    assert.equal(bodies.filter((b) => b === 'b').length, 2, `b answered until its second 5xx, then was ejected: ${bodies.join(',')}`);
    const [span] = await sidecar.waitForSpans((s) => typeof s.attributes.events === 'string' && /ejected up-v1-1 for 300 ms/.test(s.attributes.events));
    assert.match(String(span!.attributes.events), /2 consecutive 5xx/);
    bHealthy = true;
    // Back after the ejection time: poll (no timing assertion) until b answers again.
    let back = false;
    for (let i = 0; i < 200 && !back; i++) {
      back = (await get(`${base}/`)).body === 'b';
      if (!back) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(back, 'b returned after baseEjectionTime');
  });

  it('stops retrying when the retry budget is spent, and on connect failure moves to another endpoint', async (t) => {
    const { app, hits } = await scripted(t, { '/x': [503, 503, 503, 503, 503, 503, 503, 503] });
    const c = cluster('up', [endpoint('up', 'v1', app.port)], false);
    c.policy = { retryBudget: { ratio: 0, minPerSecond: 0.2, ttlMs: 10_000 } }; // two retries per 10 s window
    const dead = await deadPort();
    const c2 = cluster('mixed', [endpoint('mixed', 'v1', dead, 0), endpoint('mixed', 'v1', app.port, 1)], false);
    const { base, sidecar } = await sidecarWith(
      t,
      [
        route({ name: 'x', match: [{ uri: { exact: '/x' } }], destinations: [{ service: 'up', weight: 100 }], retries: { attempts: 5, retryOn: ['5xx'] } }),
        route({ name: 'mixed', destinations: [{ service: 'mixed', weight: 100 }], retries: { attempts: 1, retryOn: ['connect-failure'] } }),
      ],
      [c, c2],
    );
    const get = httpClient(t);
    assert.equal((await get(`${base}/x`)).status, 503);
    assert.equal(hits['/x'], 3, 'two retries from the budget, then none');
    const [span] = await sidecar.waitForSpans((s) => s.path === '/x');
    assert.match(String(span!.attributes.events), /not retried: retry budget exhausted/);
    for (let i = 0; i < 4; i++) assert.equal((await get(`${base}/m${i}`)).status, 200, 'a retry avoids the endpoint that just failed');
  });
});
