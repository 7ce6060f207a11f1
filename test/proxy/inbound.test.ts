// Inbound mTLS: what each PeerAuthentication mode lets in, and what the app learns about the caller.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { spiffeId, PROXY_ERROR_HEADER } from '../../proxy/protocol/index.js';
import { deadPort, echoApp, MESH, plainRequest, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, tlsRequest } from './helpers.js';

describe('inbound listener', () => {
  const home = tempHome({ after });
  const mesh = new TestMesh(home);
  // Same SPIFFE ids, different root: what an attacker with their own CA could mint.
  const rogue = new TestMesh(home, join(home, 'rogue-ca'));

  it('STRICT refuses plaintext and foreign certificates, accepts mesh certificates, and tells the app the peer', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'STRICT' }));
    const port = ports.inbound!;
    assert.ok(port > 0);

    await assert.rejects(plainRequest(port), 'plaintext must be refused');
    await assert.rejects(
      tlsRequest(port, { ca: mesh.ca.rootPem, cert: rogue.tls('productpage').certPem, key: rogue.tls('productpage').keyPem }),
      'a certificate from another CA must be refused',
    );
    await assert.rejects(tlsRequest(port, { ca: mesh.ca.rootPem }), 'TLS without a client certificate must be refused');
    assert.equal(app.seen.length, 0, 'nothing refused may reach the app');

    const client = mesh.tls('productpage');
    const reply = await tlsRequest(port, {
      ca: mesh.ca.rootPem,
      cert: client.certPem,
      key: client.keyPem,
      path: '/reviews/1',
    });
    assert.equal(reply.status, 200);
    const seen = JSON.parse(reply.body);
    assert.equal(seen.peer, spiffeId(MESH, 'productpage'));
    assert.equal(seen.url, '/reviews/1');

    // The sidecar proves its own identity with the SPIFFE URI SAN.
    const cert = new X509Certificate(reply.peerCert.raw);
    assert.match(cert.subjectAltName ?? '', new RegExp(`URI:${spiffeId(MESH, 'reviews').replaceAll('.', '\\.')}`));

    const [span] = await sidecar.waitForSpans((s) => s.kind === 'server' && s.path === '/reviews/1');
    assert.equal(span!.service, 'reviews');
    assert.equal(span!.status, 200);
    assert.equal(span!.attributes['peer.spiffe'], spiffeId(MESH, 'productpage'));
    assert.equal(span!.attributes.mtls, true);
  });

  it('strips a client-sent x-devmesh-peer header', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'PERMISSIVE' }));
    const reply = await plainRequest(ports.inbound!, '/', { 'x-devmesh-peer': 'spiffe://evil/ns/default/sa/admin' });
    assert.equal(reply.status, 200);
    assert.equal(JSON.parse(reply.body).peer, null);
  });

  it('PERMISSIVE accepts plaintext and mTLS on the same port', async (t) => {
    const app = await startApp(t, echoApp('ratings'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('ratings'), service: 'ratings', appPort: app.port, mtls: 'PERMISSIVE' }));
    const port = ports.inbound!;
    const client = mesh.tls('reviews');
    for (let i = 0; i < 3; i++) {
      const plain = await plainRequest(port, '/plain');
      assert.equal(plain.status, 200);
      assert.equal(JSON.parse(plain.body).peer, null);
      const secure = await tlsRequest(port, { ca: mesh.ca.rootPem, cert: client.certPem, key: client.keyPem, path: '/secure' });
      assert.equal(secure.status, 200);
      assert.equal(JSON.parse(secure.body).peer, spiffeId(MESH, 'reviews'));
    }
    // A TLS client from another CA is still refused: PERMISSIVE allows plaintext, not unverified TLS.
    await assert.rejects(tlsRequest(port, { ca: mesh.ca.rootPem, cert: rogue.tls('reviews').certPem, key: rogue.tls('reviews').keyPem }));
  });

  it('DISABLE serves plaintext only, and a mode change to STRICT applies on the same port', async (t) => {
    const app = await startApp(t, echoApp('details'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const config = serverConfig({ tls: mesh.tls('details'), service: 'details', appPort: app.port, mtls: 'DISABLE' });
    const ports = await sidecar.apply(config);
    assert.equal((await plainRequest(ports.inbound!)).status, 200);
    const again = await sidecar.apply({ ...config, inbound: { ...config.inbound!, mtls: 'STRICT' } });
    assert.equal(again.inbound, ports.inbound);
    await assert.rejects(plainRequest(ports.inbound!));
  });

  it('answers 503 with the proxy error header when the app is not listening', async (t) => {
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('details'), service: 'details', appPort: await deadPort(), mtls: 'DISABLE' }));
    const reply = await plainRequest(ports.inbound!);
    assert.equal(reply.status, 503);
    assert.equal(reply.headers[PROXY_ERROR_HEADER], 'connect-failure');
  });
});
