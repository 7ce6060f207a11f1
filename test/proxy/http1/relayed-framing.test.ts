// The bug report behind issue 11, end to end: an upstream answers with both Content-Length and
// Transfer-Encoding: chunked. Through a real sidecar's outbound listener the caller must get a 502
// upstream-protocol-error at once, not a body cut to the stale length nor a wait past the route timeout; and a
// well-formed chunked answer must reach the caller without any Content-Length the upstream did not frame it by.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { SidecarProcess, TestMesh, clientConfig, cluster, endpoint, plainRequest, route, tempHome } from '../helpers.js';

/** A raw upstream that answers every request head with `bytes` (and keeps the connection open). */
async function rawUpstream(t: TestContext, bytes: string): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '';
      socket.write(Buffer.from(bytes, 'latin1'));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

async function sidecarTo(t: TestContext, upstreamPort: number): Promise<number> {
  const home = tempHome(t);
  const mesh = new TestMesh(home);
  const sidecar = SidecarProcess.start(t, home);
  const ports = await sidecar.apply(
    clientConfig({
      tls: mesh.tls('caller'),
      service: 'caller',
      outbound: [{ service: 'up', port: 0, routes: [route({ destinations: [{ service: 'up', weight: 100 }] })] }],
      clusters: [cluster('up', [endpoint('up', 'v1', upstreamPort)], false)],
    }),
  );
  return ports.outbound.up!;
}

describe('framing relayed through the sidecar', () => {
  it('Content-Length with Transfer-Encoding: chunked is a 502 upstream-protocol-error, at once (RFC 9112 §6.3)', async (t) => {
    for (const length of [3, 50]) {
      const port = await sidecarTo(t, await rawUpstream(t, `HTTP/1.1 200 OK\r\ncontent-length: ${length}\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`));
      const t0 = performance.now();
      const reply = await plainRequest(port, '/');
      assert.equal(reply.status, 502, `content-length ${length}: ${reply.status} ${JSON.stringify(reply.body)}`);
      assert.equal(reply.headers['x-devmesh-error'], 'upstream-protocol-error');
      assert.ok(performance.now() - t0 < 2_000, 'answered at once, not after a timeout');
    }
  });

  it('a chunked answer reaches the caller whole, with no stale Content-Length', async (t) => {
    const port = await sidecarTo(t, await rawUpstream(t, 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'));
    const reply = await plainRequest(port, '/');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'hello world');
    assert.ok(reply.headers['content-length'] === undefined || reply.headers['content-length'] === '11', String(reply.headers['content-length']));
  });
});
