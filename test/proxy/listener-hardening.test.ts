// proxy/listener/: the answers the sidecar makes before any routing — a malformed request, a head too large,
// an Expect it cannot meet, two Host lines — each with x-devmesh-error and the connection closed, the app
// never reached. A raw `net` client, since a well-behaved one cannot send these.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { PROXY_ERROR_HEADER } from '../../proxy/protocol/index.js';
import { hasDuplicateHost, sniffWire } from '../../proxy/listener/index.js';
import { clientConfig, cluster, endpoint, echoApp, httpClient, route, SidecarProcess, startApp, tempHome, TestMesh, type TestContext } from './helpers.js';

/**
 * Writes `raw` (then the client's FIN, when `halfClose`), reads until the sidecar closes the connection,
 * returns what came back. Pieces (an array) are written 5 ms apart, still sending while the answer comes, then FIN.
 */
function exchange(port: number, raw: string | Buffer | string[], halfClose = false): Promise<string> {
  const writePieces = async (socket: net.Socket, pieces: string[]): Promise<void> => {
    for (let i = 0; i < pieces.length - 1 && !socket.destroyed; i++) {
      socket.write(pieces[i]!);
      await new Promise((r) => setTimeout(r, 5));
    }
    if (!socket.destroyed) socket.end(pieces.at(-1) ?? '');
  };
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () =>
      Array.isArray(raw) ? void writePieces(socket, raw) : halfClose ? socket.end(raw) : socket.write(raw),
    );
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (got += c));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(got));
    socket.setTimeout(5_000, () => reject(new Error(`no close; got ${JSON.stringify(got)}`)));
  });
}

function statusAndHeaders(reply: string): { status: number; headers: Record<string, string> } {
  const [head = ''] = reply.split('\r\n\r\n');
  const [line = '', ...rest] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const h of rest) {
    const i = h.indexOf(':');
    headers[h.slice(0, i).toLowerCase()] = h.slice(i + 1).trim();
  }
  return { status: Number(line.split(' ')[1]), headers };
}

/** A sidecar whose outbound listener for "up" sends plain HTTP to the app at `appPort`. */
async function plainListenerTo(t: TestContext, mesh: TestMesh, appPort: number): Promise<{ sidecar: SidecarProcess; port: number }> {
  const sidecar = SidecarProcess.start(t, mesh.home);
  const ports = await sidecar.apply(
    clientConfig({
      tls: mesh.tls('web'),
      service: 'web',
      outbound: [{ service: 'up', port: 0, routes: [route({ destinations: [{ service: 'up', weight: 100 }] })] }],
      clusters: [cluster('up', [endpoint('up', 'v1', appPort)], false)],
    }),
  );
  return { sidecar, port: ports.outbound.up! };
}

describe('listener hardening', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('answers malformed, oversized, unmeetable and two-Host requests itself, with x-devmesh-error', async (t) => {
    const app = await startApp(t, echoApp('up'));
    const { sidecar, port } = await plainListenerTo(t, mesh, app.port);
    const cases: Array<[string, string | Buffer, number, string]> = [
      ['two Host lines', 'GET /a HTTP/1.1\r\nHost: up\r\nHost: evil\r\n\r\n', 400, 'bad-request'],
      ['two Host lines, other casing', 'GET /a HTTP/1.1\r\nhost: up\r\nHOST: evil\r\n\r\n', 400, 'bad-request'],
      ['two Host lines on an upgrade', 'GET /ws HTTP/1.1\r\nhost: up\r\nhost: evil\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n', 400, 'bad-request'],
      ['a garbage request line', 'HELLO THERE\r\n\r\n', 400, 'bad-request'],
      ['a TLS ClientHello on the plaintext listener', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]), 400, 'bad-request'],
      ['a head over 16 KiB', `GET /a HTTP/1.1\r\nhost: up\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers-too-large'],
      ['an Expect it cannot meet', 'GET /a HTTP/1.1\r\nhost: up\r\nexpect: teapot\r\n\r\n', 417, 'expectation-failed'],
      ['a malformed chunk size', 'POST /a HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', 400, 'bad-request'],
    ];
    for (const [what, raw, status, code] of cases) {
      const reply = statusAndHeaders(await exchange(port, raw));
      assert.equal(reply.status, status, what);
      assert.equal(reply.headers[PROXY_ERROR_HEADER], code, what);
      assert.equal(reply.headers.connection, 'close', what);
    }
    assert.deepEqual(
      app.seen.map((r) => r.url),
      [],
      'none of them reached the app',
    );
    // One Host line is still fine, and the sidecar is still up.
    const get = httpClient(t);
    assert.equal((await get(`http://127.0.0.1:${port}/ok`)).status, 200);
    assert.equal(sidecar.child.exitCode, null);
  });

  it('forwards nothing pipelined behind a refused request, and answers a client that half-closes after its request', async (t) => {
    const app = await startApp(t, echoApp('up'));
    const { port } = await plainListenerTo(t, mesh, app.port);
    // Node's parser reads both; the second must not reach the app once the first is refused and the connection closes.
    const pipelined = await exchange(port, 'GET /first HTTP/1.1\r\nhost: up\r\nhost: evil\r\n\r\nDELETE /behind HTTP/1.1\r\nhost: up\r\n\r\n');
    assert.equal(statusAndHeaders(pipelined).status, 400);
    assert.equal(pipelined.match(/HTTP\/1\.1 /g)?.length, 1, `one answer only: ${pipelined}`);
    const expectFirst = await exchange(port, 'POST /e HTTP/1.1\r\nhost: up\r\nexpect: teapot\r\ncontent-length: 0\r\n\r\nDELETE /behind HTTP/1.1\r\nhost: up\r\n\r\n');
    assert.equal(statusAndHeaders(expectFirst).status, 417);
    assert.deepEqual(app.seen.map((r) => r.url), [], 'nothing behind a refusal reached the app');

    // A request, then the client's FIN (printf … | nc): the answer still comes back, as from Node's own server.
    const halfClosed = await exchange(port, 'GET /half HTTP/1.1\r\nhost: up\r\n\r\n', true);
    assert.equal(statusAndHeaders(halfClosed).status, 200, halfClosed);
    assert.deepEqual(app.seen.map((r) => r.url), ['/half']);
  });

  it('sends pipelined requests upstream side by side only while all are safe; an unsafe one waits its turn (RFC 9112 §9.3.2)', async (t) => {
    const events: string[] = [];
    const app = await startApp(t, (req, res) => {
      events.push(`start ${req.method} ${req.url}`);
      req.resume();
      const slow = req.url!.startsWith('/slow');
      setTimeout(() => {
        events.push(`end ${req.method} ${req.url}`);
        res.end('ok');
      }, slow ? 300 : 0);
    });
    const { port } = await plainListenerTo(t, mesh, app.port);
    const pipelinedOnce = (raw: string, answers: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(raw));
        let got = '';
        socket.setEncoding('latin1');
        socket.on('data', (c: string) => {
          got += c;
          if ((got.match(/HTTP\/1\.1 200/g) ?? []).length === answers) {
            socket.destroy();
            resolve(got);
          }
        });
        socket.on('error', () => undefined);
        socket.setTimeout(5_000, () => reject(new Error(`got ${JSON.stringify(got)}`)));
      });
    // Safe ones go side by side: the quick GET reaches the app while the slow one is still being answered.
    await pipelinedOnce('GET /slow-get HTTP/1.1\r\nhost: up\r\n\r\nGET /quick HTTP/1.1\r\nhost: up\r\n\r\n', 2);
    assert.ok(events.indexOf('start GET /quick') < events.indexOf('end GET /slow-get'), events.join(', '));
    // An unsafe one waits for what is before it, and what is after it waits for it.
    events.length = 0;
    await pipelinedOnce(
      'GET /slow-first HTTP/1.1\r\nhost: up\r\n\r\nPOST /slow-post HTTP/1.1\r\nhost: up\r\ncontent-length: 1\r\n\r\nxGET /last HTTP/1.1\r\nhost: up\r\n\r\n',
      3,
    );
    assert.deepEqual(events, ['start GET /slow-first', 'end GET /slow-first', 'start POST /slow-post', 'end POST /slow-post', 'start GET /last', 'end GET /last']);
  });

  it('a client still sending the rest of an oversized head gets its 431: the connection lingers instead of being reset under it (RFC 9112 §9.6)', async (t) => {
    const app = await startApp(t, echoApp('up'));
    const { port } = await plainListenerTo(t, mesh, app.port);
    // 1 MB of header in 64 KiB writes, a few ms apart: most of it arrives after the sidecar has refused the
    // head. A close then (with unread bytes) resets the connection and can throw the 431 away unread. (A guard:
    // on loopback the reset rarely wins, so this passed before the linger too; the adversarial suite's
    // one-write 1 MB probe lost its 431 to EPIPE once in three CI runs.)
    const reply = await exchange(port, ['GET /big HTTP/1.1\r\nHost: up\r\nX-Big: ', ...Array.from({ length: 16 }, () => 'a'.repeat(64 * 1024)), '\r\n\r\n']);
    const { status, headers } = statusAndHeaders(reply);
    assert.equal(status, 431, JSON.stringify(reply.slice(0, 200)));
    assert.equal(headers[PROXY_ERROR_HEADER], 'headers-too-large');
  });

  it('tells TLS, h2c and HTTP/1 apart by the first bytes, and finds a second Host line by name', () => {
    assert.equal(sniffWire(Buffer.from([0x16, 0x03, 0x01])), 'tls');
    assert.equal(sniffWire(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2c');
    assert.equal(sniffWire(Buffer.from('PRI')), 'h2c');
    assert.equal(sniffWire(Buffer.from('PR')), 'http1');
    assert.equal(sniffWire(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
    assert.equal(hasDuplicateHost(['Host', 'a', 'Accept', '*/*']), false);
    assert.equal(hasDuplicateHost(['Host', 'a', 'x-host', 'b', 'hOsT', 'c']), true);
  });
});
