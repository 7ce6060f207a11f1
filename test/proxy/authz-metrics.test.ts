// Authorization outcomes with Istio's evaluation order, and the metrics scrape, through real sidecars
// over mTLS (the inbound sees the caller's SPIFFE identity).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AUTHZ_HEADER, PROXY_ERROR_HEADER, type AuthorizationPolicy, type SidecarMessage } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, echoApp, endpoint, httpClient, MESH, plainRequest, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, type TestContext } from './helpers.js';

const principal = (service: string) => `${MESH}/ns/default/sa/${service}`;

describe('authorization and metrics', () => {
  const mesh = new TestMesh(tempHome({ after }));

  /** A server "api" sidecar with `policies`, and a caller sidecar per service name; returns a request function per caller. */
  async function setup(t: TestContext, policies: AuthorizationPolicy[], callers: string[]) {
    const app = await startApp(t, echoApp('api'));
    const server = SidecarProcess.start(t, mesh.home);
    const config = serverConfig({ tls: mesh.tls('api'), service: 'api', appPort: app.port, mtls: 'PERMISSIVE' });
    config.inbound!.authorization = policies;
    const inbound = (await server.apply(config)).inbound!;
    const get = httpClient(t);
    const clients: Record<string, (path: string, init?: { method?: string; headers?: Record<string, string> }) => ReturnType<typeof get>> = {};
    for (const caller of callers) {
      const sidecar = SidecarProcess.start(t, mesh.home);
      const ports = await sidecar.apply(
        clientConfig({
          tls: mesh.tls(caller),
          service: caller,
          outbound: [{ service: 'api', port: 0, routes: [route({ destinations: [{ service: 'api', weight: 100 }] })] }],
          clusters: [cluster('api', [endpoint('api', 'v1', inbound)])],
        }),
      );
      clients[caller] = (path, init) => get(`http://127.0.0.1:${ports.outbound.api}${path}`, init);
    }
    return { clients, inbound, server, app };
  }

  it('DENY beats ALLOW; ALLOW rules match on principals, paths with wildcards, methods and headers; otherwise denied', async (t) => {
    const { clients, inbound, server } = await setup(
      t,
      [
        { name: 'allow-web', action: 'ALLOW', rules: [{ from: [{ principals: [principal('web')] }], to: [{ paths: ['/public/*', '*.json'], methods: ['GET'] }] }] },
        { name: 'allow-admin-header', action: 'ALLOW', rules: [{ from: [{ principals: [principal('admin')] }], when: [{ key: 'request.headers[x-role]', values: ['ops'] }] }] },
        { name: 'deny-secret', action: 'DENY', rules: [{ to: [{ paths: ['/public/secret'] }] }] },
        { name: 'audit-all', action: 'AUDIT', rules: [{}] },
        { name: 'ext', action: 'CUSTOM', rules: [{}] },
      ],
      ['web', 'admin'],
    );
    const web = clients.web!;
    const admin = clients.admin!;
    assert.equal((await web('/public/a')).status, 200);
    assert.equal((await web('/data/x.json')).status, 200);
    const denied = await web('/public/secret');
    assert.deepEqual([denied.status, denied.headers[PROXY_ERROR_HEADER], denied.headers[AUTHZ_HEADER]], [403, 'denied', 'deny-secret[0]']);
    const wrongMethod = await web('/public/a', { method: 'POST' });
    assert.equal(wrongMethod.status, 403);
    assert.match(String(wrongMethod.headers[AUTHZ_HEADER]), /^no ALLOW policy matched/);
    assert.equal((await admin('/public/a')).status, 403, 'admin without the header');
    assert.equal((await admin('/anything', { headers: { 'x-role': 'ops' } })).status, 200);
    assert.equal((await plainRequest(inbound, '/public/a')).status, 403, 'plaintext has no principal');

    const [span] = await server.waitForSpans((s) => s.kind === 'server' && s.path === '/public/secret');
    assert.equal(span!.attributes['authz.allowed'], false);
    assert.equal(span!.attributes['authz.by'], 'deny-secret[0]');
    assert.match(String(span!.attributes['authz.notes']), /CUSTOM ext not enforced/);
    assert.match(String(span!.attributes['authz.notes']), /AUDIT audit-all\[0\] matched/);
  });

  it('no ALLOW policy allows; rules: [{}] allows all; an ALLOW without rules allows nothing', async (t) => {
    const none = await setup(t, [{ name: 'deny-nothing', action: 'DENY', rules: null }], ['web']);
    assert.equal((await none.clients.web!('/x')).status, 200);
    const all = await setup(t, [{ name: 'all', action: 'ALLOW', rules: [{}] }], ['web']);
    assert.equal((await all.clients.web!('/x')).status, 200);
    const nothing = await setup(t, [{ name: 'nothing', action: 'ALLOW', rules: null }], ['web']);
    const reply = await nothing.clients.web!('/x');
    assert.deepEqual([reply.status, reply.headers[AUTHZ_HEADER]], [403, 'no ALLOW policy matched (nothing)']);
    assert.equal(nothing.app.seen.length, 0);
  });

  it('reports Istio metrics from both ends through the scrape message', async (t) => {
    const { clients, server } = await setup(t, [{ name: 'deny-x', action: 'DENY', rules: [{ to: [{ paths: ['/x'] }] }] }], ['web']);
    for (let i = 0; i < 3; i++) assert.equal((await clients.web!('/ok')).status, 200);
    assert.equal((await clients.web!('/x')).status, 403);
    server.send({ type: 'scrape', id: 7 });
    const reply = await new Promise<Extract<SidecarMessage, { type: 'metrics' }>>((resolve) => {
      const check = () => {
        const m = server.messages.find((x): x is Extract<SidecarMessage, { type: 'metrics' }> => x.type === 'metrics' && x.id === 7);
        if (m) resolve(m);
        else setTimeout(check, 20);
      };
      check();
    });
    const ok = reply.text.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="200"'));
    assert.ok(ok, reply.text);
    assert.match(ok!, /reporter="destination"/);
    assert.match(ok!, /source_workload="web"/);
    assert.match(ok!, /destination_workload="api"/);
    assert.match(ok!, /connection_security_policy="mutual_tls"/);
    assert.match(ok!, / 3$/);
    assert.match(reply.text, /istio_requests_total\{[^}]*response_code="403"[^}]*response_flags="RBAC"[^}]*\} 1/);
    assert.match(reply.text, /istio_request_duration_milliseconds_bucket\{/);
  });
});
