// Trust domains: a peer is trusted by its certificate chain *and* its SPIFFE trust domain. A leaf issued by
// the mesh's own root for spiffe://othermesh/... chains fine, so only the trust domain check can refuse it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { PROXY_ERROR_HEADER, spiffeId, type TlsMaterial } from '../../proxy/protocol/index.js';
import { echoApp, MESH, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, tlsRequest } from './helpers.js';

const FOREIGN = 'spiffe://othermesh/ns/default/sa/x';

describe('inbound trust domain', () => {
  const home = tempHome({ after });
  const mesh = new TestMesh(home);
  const leaf = mesh.ca.issue({ commonName: 'x', uris: [FOREIGN] });
  const foreign: TlsMaterial = { caPem: mesh.ca.rootPem, certPem: leaf.certPem, keyPem: leaf.keyPem };

  it('STRICT refuses a certificate of the mesh root for another trust domain, with the reason in the log and the span', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'STRICT' }));

    const reply = await tlsRequest(ports.inbound!, { ca: mesh.ca.rootPem, cert: foreign.certPem, key: foreign.keyPem, path: '/reviews/1' });
    assert.equal(reply.status, 403);
    assert.equal(reply.headers[PROXY_ERROR_HEADER], 'denied');
    assert.match(String(reply.headers['x-devmesh-authz']), /trust domain "othermesh"/);
    assert.equal(app.seen.length, 0, 'a refused peer must not reach the app');

    const [span] = await sidecar.waitForSpans((s) => s.kind === 'server' && s.path === '/reviews/1');
    assert.equal(span!.status, 403);
    assert.equal(span!.error, 'denied');
    assert.equal(span!.attributes['peer.spiffe'], FOREIGN);
    assert.match(String(span!.attributes['authn.refused']), /trust domain "othermesh" is not test\.local/);
    // stderr is its own pipe: the line may land after the span's IPC message.
    for (let i = 0; i < 100 && !sidecar.stderr.includes('refused peer'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.match(sidecar.stderr, /refused peer spiffe:\/\/othermesh\/ns\/default\/sa\/x: trust domain "othermesh" is not test\.local/);

    // The mesh's own peers are unaffected.
    const own = mesh.tls('productpage');
    const ok = await tlsRequest(ports.inbound!, { ca: mesh.ca.rootPem, cert: own.certPem, key: own.keyPem });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).peer, spiffeId(MESH, 'productpage'));
  });

  it('PERMISSIVE refuses the foreign peer when it does present TLS, and still serves plaintext', async (t) => {
    const app = await startApp(t, echoApp('ratings'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('ratings'), service: 'ratings', appPort: app.port, mtls: 'PERMISSIVE' }));
    const reply = await tlsRequest(ports.inbound!, { ca: mesh.ca.rootPem, cert: foreign.certPem, key: foreign.keyPem });
    assert.equal(reply.status, 403);
    assert.equal(reply.headers[PROXY_ERROR_HEADER], 'denied');
    assert.equal(app.seen.length, 0);
  });

  it('accepts a trust domain listed in trustDomainAliases', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply({
      ...serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'STRICT' }),
      trustDomainAliases: ['othermesh'],
    });
    const reply = await tlsRequest(ports.inbound!, { ca: mesh.ca.rootPem, cert: foreign.certPem, key: foreign.keyPem });
    assert.equal(reply.status, 200);
    assert.equal(JSON.parse(reply.body).peer, FOREIGN);
  });

  it('with an alias, AuthorizationPolicy principals match across the mesh and the alias, as in Istio', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const config = serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'STRICT' });
    const ports = await sidecar.apply({
      ...config,
      trustDomainAliases: ['othermesh'],
      inbound: {
        ...config.inbound!,
        // Written in the mesh's trust domain, it names the alias's x too; written in the alias's, productpage.
        authorization: [{ name: 'callers', action: 'ALLOW', rules: [{ from: [{ principals: [`${MESH}/ns/default/sa/x`, 'othermesh/ns/default/sa/productpage'] }] }] }],
      },
    });
    const port = ports.inbound!;
    const x = await tlsRequest(port, { ca: mesh.ca.rootPem, cert: foreign.certPem, key: foreign.keyPem });
    assert.equal(x.status, 200, 'othermesh/.../x is the mesh\'s x');
    assert.equal(JSON.parse(x.body).peer, FOREIGN, 'the app still learns the id the peer presented');
    const productpage = mesh.tls('productpage');
    assert.equal((await tlsRequest(port, { ca: mesh.ca.rootPem, cert: productpage.certPem, key: productpage.keyPem })).status, 200);
    const ratings = mesh.tls('ratings');
    const denied = await tlsRequest(port, { ca: mesh.ca.rootPem, cert: ratings.certPem, key: ratings.keyPem });
    assert.equal(denied.status, 403);
    assert.equal(denied.headers[PROXY_ERROR_HEADER], 'denied');
  });

  it('a tcp service closes the foreign peer\'s connection before the app sees it', async (t) => {
    let accepted = 0;
    const appServer = net.createServer((s) => {
      accepted++;
      s.pipe(s);
    });
    await new Promise<void>((resolve) => appServer.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => appServer.close(() => resolve())));
    const appPort = (appServer.address() as net.AddressInfo).port;
    const sidecar = SidecarProcess.start(t, mesh.home);
    const config = serverConfig({ tls: mesh.tls('db'), service: 'db', appPort, mtls: 'STRICT' });
    const ports = await sidecar.apply({ ...config, inbound: { ...config.inbound!, protocol: 'tcp' } });

    const closed = await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: ports.inbound!, ca: foreign.caPem, cert: foreign.certPem, key: foreign.keyPem, checkServerIdentity: () => undefined });
      let got = '';
      socket.on('secureConnect', () => socket.write('ping'));
      // An echo that came back means the app was reached: stop there rather than wait for a close that never comes.
      socket.on('data', (c: Buffer) => {
        got += c.toString();
        socket.destroy();
      });
      socket.setTimeout(5_000, () => socket.destroy());
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
    });
    assert.equal(closed, '', 'nothing may come back from the app');
    assert.equal(accepted, 0, 'the app must not see the connection');
    const [span] = await sidecar.waitForSpans((s) => s.kind === 'server' && s.method === 'TCP');
    assert.equal(span!.error, 'denied');
    assert.match(String(span!.attributes['authn.refused']), /trust domain "othermesh"/);
  });
});
