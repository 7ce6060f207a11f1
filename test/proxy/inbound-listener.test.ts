// The inbound on the shared listener (proxy/listener/): the sidecar's own 400/431/417 with x-devmesh-error
// and two Host lines refused, in plaintext and inside mTLS; and every mode still lets in what it should.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { PROXY_ERROR_HEADER } from '../../proxy/protocol/index.js';
import { echoApp, plainRequest, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, tlsRequest } from './helpers.js';

/** Writes `raw` on `socket` once connected, reads until the sidecar closes, returns what came back. */
function rawExchange(socket: net.Socket, raw: string, connectEvent: 'connect' | 'secureConnect'): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    socket.once(connectEvent, () => socket.write(raw));
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (got += c));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(got));
    socket.setTimeout(5_000, () => reject(new Error(`no close; got ${JSON.stringify(got)}`)));
  });
}

const TWO_HOSTS = 'GET /a HTTP/1.1\r\nHost: reviews\r\nHost: evil\r\n\r\n';

describe('inbound on the shared listener', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('refuses two Host lines with 400 bad-request, in plaintext and over mTLS, and the app sees neither', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'PERMISSIVE' }));
    const port = ports.inbound!;

    const plain = await rawExchange(net.connect({ host: '127.0.0.1', port }), TWO_HOSTS, 'connect');
    assert.match(plain, /^HTTP\/1\.1 400 /);
    assert.match(plain, new RegExp(`\\r\\n${PROXY_ERROR_HEADER}: bad-request\\r\\n`, 'i'));

    const client = mesh.tls('productpage');
    const secure = await rawExchange(
      tls.connect({ host: '127.0.0.1', port, ca: mesh.ca.rootPem, cert: client.certPem, key: client.keyPem, ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined }),
      TWO_HOSTS,
      'secureConnect',
    );
    assert.match(secure, /^HTTP\/1\.1 400 /);
    assert.match(secure, new RegExp(`\\r\\n${PROXY_ERROR_HEADER}: bad-request\\r\\n`, 'i'));
    assert.equal(app.seen.length, 0);

    // What is well-formed still goes through, both ways.
    assert.equal((await plainRequest(port)).status, 200);
    assert.equal((await tlsRequest(port, { ca: mesh.ca.rootPem, cert: client.certPem, key: client.keyPem })).status, 200);
  });

  it('a head over 16 KiB gets 431 headers-too-large at the inbound too', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'DISABLE' }));
    const reply = await rawExchange(net.connect({ host: '127.0.0.1', port: ports.inbound! }), `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 'connect');
    assert.match(reply, /^HTTP\/1\.1 431 /);
    assert.match(reply, new RegExp(`\\r\\n${PROXY_ERROR_HEADER}: headers-too-large\\r\\n`, 'i'));
  });
});
