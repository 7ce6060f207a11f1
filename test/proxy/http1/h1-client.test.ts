// The sidecar's HTTP/1.1 client against real servers on loopback: Node's own http server for the
// ordinary cases, raw TCP servers that write exact bytes for framing, interim answers, malformed input,
// early answers and upgrades. Each case is what an upstream app can really send.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { H1Pool, type H1PoolOptions, type H1Response } from '../../../proxy/http1/index.js';
import { classifyTransportError } from '../../../proxy/errors.js';

const OPTIONS: H1PoolOptions = { connections: 8, idleTimeoutMs: 30_000, connectTimeoutMs: 2_000 };
const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
});

function pool(port: number, options: Partial<H1PoolOptions> = {}): H1Pool {
  const p = new H1Pool({ host: '127.0.0.1', port, tls: null }, { ...OPTIONS, ...options });
  closers.push(() => p.destroy());
  return p;
}

/** A raw server: `onRequest(socket, head, index)` is called for each request head read on a connection. */
async function rawServer(onRequest: (socket: net.Socket, head: string, connection: number) => void): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    const index = ++connections;
    let buffered = '';
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        onRequest(socket, head, index);
      }
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

async function nodeServer(handler: http.RequestListener): Promise<{ port: number; remotePorts: number[] }> {
  const remotePorts: number[] = [];
  const server = http.createServer((req, res) => {
    remotePorts.push(req.socket.remotePort!);
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.closeAllConnections());
  closers.push(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, remotePorts };
}

async function text(r: H1Response): Promise<string> {
  if (r.complete !== null) return r.complete.toString();
  let s = '';
  for await (const c of r.body) s += (c as Buffer).toString();
  return s;
}

const get = (path = '/'): { method: string; path: string; headers: string[]; body: null } => ({ method: 'GET', path, headers: [], body: null });

describe('HTTP/1.1 client', () => {
  it('hands over a small body whole and reuses the connection', async () => {
    const s = await nodeServer((_req, res) => res.end('hello'));
    const p = pool(s.port);
    const a = await p.request(get());
    assert.equal(a.statusCode, 200);
    assert.equal(a.complete?.toString(), 'hello');
    assert.equal(a.headers['content-length'], '5');
    const b = await p.request(get());
    assert.equal(await text(b), 'hello');
    assert.equal(s.remotePorts.length, 2);
    assert.equal(s.remotePorts[0], s.remotePorts[1], 'the second request went over the same connection');
  });

  it('streams a chunked body with its trailers, then reuses the connection', async () => {
    const s = await nodeServer((_req, res) => {
      res.writeHead(200, { trailer: 'x-checksum' });
      res.write('one,');
      setTimeout(() => {
        res.write('two');
        res.addTrailers({ 'x-checksum': 'abc' });
        res.end();
      }, 30);
    });
    const p = pool(s.port);
    const r = await p.request(get());
    assert.equal(r.complete, null, 'the body was not all there with the head');
    assert.equal(await text(r), 'one,two');
    assert.equal(r.trailers['x-checksum'], 'abc');
    await text(await p.request(get()));
    assert.equal(s.remotePorts[0], s.remotePorts[1]);
  });

  it('parses heads and chunks split across reads, byte by byte', async () => {
    const s = await rawServer((socket) => {
      const bytes = Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nx-t: 2\r\n\r\n');
      let i = 0;
      const next = (): void => {
        if (i < bytes.length) socket.write(bytes.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    });
    const r = await pool(s.port).request(get());
    assert.equal(r.headers['x-a'], '1');
    assert.equal(await text(r), 'hello!');
    assert.equal(r.trailers['x-t'], '2');
  });

  it('reads a body framed by the end of the connection, and does not reuse that connection', async () => {
    const s = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end'));
    const p = pool(s.port);
    assert.equal(await text(await p.request(get())), 'until the end');
    assert.equal(await text(await p.request(get())), 'until the end');
    assert.equal(s.connections(), 2);
  });

  it('knows the answers that have no body: HEAD, 204, 304', async () => {
    const s = await nodeServer((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { etag: '"x"' }).end();
      else res.writeHead(200, { 'content-length': 11 }).end(req.method === 'HEAD' ? undefined : 'hello world');
    });
    const p = pool(s.port);
    const head = await p.request({ ...get(), method: 'HEAD' });
    assert.equal(head.headers['content-length'], '11');
    assert.equal(await text(head), '');
    assert.equal((await p.request(get('/204'))).statusCode, 204);
    assert.equal((await p.request(get('/304'))).statusCode, 304);
    assert.equal(await text(await p.request(get())), 'hello world');
    assert.equal(new Set(s.remotePorts).size, 1, 'all four over one connection');
  });

  it('skips interim answers (100 Continue, 103 Early Hints)', async () => {
    const s = await rawServer((socket) =>
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok'),
    );
    const r = await pool(s.port).request(get());
    assert.equal(r.statusCode, 201);
    assert.equal(await text(r), 'ok');
    assert.equal(r.headers.link, undefined, 'interim headers are not the response');
  });

  it('sends bodies: a Buffer with its length, a stream chunked, a stream with a declared length as is', async () => {
    const seen: Array<{ te?: string; cl?: string; body: string }> = [];
    const s = await nodeServer(async (req, res) => {
      let body = '';
      for await (const c of req) body += (c as Buffer).toString();
      seen.push({ ...(req.headers['transfer-encoding'] ? { te: req.headers['transfer-encoding'] } : {}), ...(req.headers['content-length'] ? { cl: req.headers['content-length'] } : {}), body });
      res.end('ok');
    });
    const p = pool(s.port);
    await text(await p.request({ method: 'POST', path: '/', headers: [], body: Buffer.from('buffered') }));
    const chunked = new PassThrough();
    const sent = p.request({ method: 'POST', path: '/', headers: [], body: chunked });
    chunked.write('a');
    setTimeout(() => chunked.end('b'), 20);
    await text(await sent);
    await text(await p.request({ method: 'PUT', path: '/', headers: ['content-length', '3'], body: Readable.from([Buffer.from('xyz')]) }));
    await text(await p.request({ method: 'POST', path: '/', headers: [], body: null }));
    assert.deepEqual(seen, [
      { cl: '8', body: 'buffered' },
      { te: 'chunked', body: 'ab' },
      { cl: '3', body: 'xyz' },
      { cl: '0', body: '' },
    ]);
  });

  it('refuses a header value or request target that would break the request, sending nothing', async () => {
    const s = await nodeServer((_req, res) => res.end('ok'));
    const p = pool(s.port);
    await assert.rejects(p.request({ method: 'GET', path: '/', headers: ['x-evil', 'a\r\nx-injected: 1'], body: null }), { code: 'ERR_INVALID_HEADER' });
    await assert.rejects(p.request({ method: 'GET', path: '/a b HTTP/1.0\r\nx: y', headers: [], body: null }), { code: 'ERR_INVALID_HEADER' });
    assert.equal(await text(await p.request(get())), 'ok');
    assert.equal(s.remotePorts.length, 1, 'the refused request never reached the server');
  });

  it('tells a connect failure (nothing sent) from a reset (sent, no answer)', async () => {
    const free = net.createServer().listen(0, '127.0.0.1');
    await once(free, 'listening');
    const port = (free.address() as net.AddressInfo).port;
    free.close();
    const refused = await pool(port).request(get()).catch((e: unknown) => e);
    assert.equal(classifyTransportError(refused), 'connect-failure');

    const s = await rawServer((socket) => socket.destroy());
    const reset = await pool(s.port).request(get()).catch((e: unknown) => e);
    assert.equal(classifyTransportError(reset), 'reset');
  });

  it('fails the body, not the response, when the upstream dies mid-body', async () => {
    const s = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => socket.destroy(), 30);
    });
    const r = await pool(s.port).request(get());
    assert.equal(r.statusCode, 200);
    await assert.rejects(text(r), /closed the connection before the response was complete/);
  });

  it('rejects a malformed answer with a reason', async () => {
    const s = await rawServer((socket) => socket.write('HTTP/1.1 2x0 Nope\r\n\r\n'));
    const err = await pool(s.port).request(get()).catch((e: unknown) => e);
    assert.equal((err as { code?: string }).code, 'HPE_INVALID_STATUS');
    assert.equal(classifyTransportError(err), 'reset');
    const s2 = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello'));
    await assert.rejects(pool(s2.port).request(get()), { code: 'HPE_INVALID_CONTENT_LENGTH' });
    // Headers that would be relayed as something else downstream (response splitting) are refused.
    for (const line of ['x-a: 1\nset-cookie: injected=1', 'bad name: 1', 'x-nul: a\0b', ': empty']) {
      const s3 = await rawServer((socket) => socket.write(`HTTP/1.1 200 OK\r\n${line}\r\ncontent-length: 0\r\n\r\n`));
      await assert.rejects(pool(s3.port).request(get()), { code: 'HPE_INVALID_HEADER_TOKEN' }, JSON.stringify(line));
    }
    const unframed = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n'));
    await assert.rejects(pool(unframed.port).request(get()).then(text), /not followed by CRLF/);
    const tab = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nx-tab: a\tb\r\ncontent-length: 0\r\n\r\n'));
    assert.equal((await pool(tab.port).request(get())).headers['x-tab'], 'a\tb', 'a tab inside a value is fine');
  });

  it('an abort ends a request at once, waiting or in flight', async () => {
    const s = await rawServer(() => {}); // never answers
    const p = pool(s.port, { connections: 1 });
    const inFlight = new AbortController();
    const queued = new AbortController();
    const a = p.request({ ...get(), signal: inFlight.signal });
    const b = p.request({ ...get(), signal: queued.signal });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    queued.abort();
    inFlight.abort();
    await assert.rejects(b, { name: 'AbortError' });
    await assert.rejects(a, { name: 'AbortError' });
    assert.ok(performance.now() - t0 < 500);
  });

  it('keeps to its connection limit: a request waits for a free connection', async () => {
    const s = await nodeServer((_req, res) => setTimeout(() => res.end('ok'), 30));
    const p = pool(s.port, { connections: 1 });
    const answers = await Promise.all([p.request(get()), p.request(get()), p.request(get())].map((r) => r.then(text)));
    assert.deepEqual(answers, ['ok', 'ok', 'ok']);
    assert.equal(new Set(s.remotePorts).size, 1);
  });

  it('retires a connection after maxRequestsPerConnection, telling the server so', async () => {
    const connectionHeaders: string[] = [];
    const s = await nodeServer((req, res) => {
      connectionHeaders.push(String(req.headers.connection ?? ''));
      res.end('ok');
    });
    const p = pool(s.port, { maxRequestsPerConnection: 2 });
    for (let i = 0; i < 3; i++) await text(await p.request(get()));
    assert.deepEqual(connectionHeaders, ['', 'close', '']);
    assert.equal(new Set(s.remotePorts).size, 2);
  });

  it("gives up an idle connection before the server's Keep-Alive hint runs out", async () => {
    const s = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=2\r\n\r\nok'));
    const p = pool(s.port);
    await text(await p.request(get()));
    await text(await p.request(get()));
    assert.equal(s.connections(), 1, 'reused at once');
    await new Promise((r) => setTimeout(r, 1_100)); // past the hint minus the margin
    await text(await p.request(get()));
    assert.equal(s.connections(), 2, 'a fresh connection after the idle limit');
  });


  it('closes idle connections when their idle limit runs out, the shortest limit first, and not before', async () => {
    const closedAt = new Map<number, number>();
    const started = performance.now();
    const s = await rawServer((socket, _head, connection) => {
      socket.once('close', () => closedAt.set(connection, performance.now() - started));
      // The first connection carries a Keep-Alive hint (2 s minus the 1 s margin), the second none (the pool's 1.5 s).
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${connection === 1 ? 'keep-alive: timeout=2\r\n' : ''}\r\nok`);
    });
    const p = pool(s.port, { idleTimeoutMs: 1_500 });
    const both = await Promise.all([p.request(get()), p.request(get())]);
    await Promise.all(both.map((r) => text(r)));
    assert.equal(s.connections(), 2);
    await new Promise((r) => setTimeout(r, 2_500));
    const hinted = closedAt.get(1);
    const plain = closedAt.get(2);
    assert.ok(hinted !== undefined && hinted >= 900 && hinted < 1_500, `the hinted connection closed at ${hinted} ms`);
    assert.ok(plain !== undefined && plain >= 1_400 && plain < 2_500, `the other closed at ${plain} ms`);
    await text(await p.request(get()));
    assert.equal(s.connections(), 3, 'neither idle connection was reused past its limit');
  });

  it('stops sending a body the server answered early, and does not reuse that connection', async () => {
    const s = await rawServer((socket) => socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n'));
    const p = pool(s.port);
    const body = new PassThrough();
    body.write('x'.repeat(1000));
    const r = await p.request({ method: 'POST', path: '/', headers: [], body });
    assert.equal(r.statusCode, 413);
    await p.request(get()).catch(() => {});
    assert.equal(s.connections(), 2);
  });

  it('relays a large body with backpressure, byte for byte', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'abcdefgh');
    const s = await nodeServer((_req, res) => res.end(big));
    const r = await pool(s.port).request(get());
    const chunks: Buffer[] = [];
    for await (const c of r.body) {
      chunks.push(c as Buffer);
      if (chunks.length % 16 === 0) await new Promise((res) => setImmediate(res)); // a slow reader
    }
    assert.ok(Buffer.concat(chunks).equals(big));
  });

  it('upgrades, handing over the bytes that followed the 101; or relays the refusal', async () => {
    const s = await rawServer((socket, head) => {
      if (head.includes('/refuse')) socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\n\r\ndenied');
      else {
        assert.match(head, /\r\nupgrade: websocket/i);
        socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nfirst-frame');
        socket.on('data', (d: Buffer) => socket.write(d)); // echo
      }
    });
    const p = pool(s.port);
    const refused = await p.upgrade({ method: 'GET', path: '/refuse', headers: [] }, 'websocket');
    assert.equal(refused.upgraded, false);
    if (!refused.upgraded) {
      assert.equal(refused.status, 403);
      assert.equal(refused.body.toString(), 'denied');
    }
    const up = await p.upgrade({ method: 'GET', path: '/ws', headers: [] }, 'websocket');
    assert.equal(up.upgraded, true);
    if (up.upgraded) {
      let got = '';
      up.socket.on('data', (d: Buffer) => (got += d.toString()));
      up.socket.resume(); // handed over paused, so nothing is read before the caller is ready
      up.socket.write('+echo');
      for (let i = 0; i < 50 && got !== 'first-frame+echo'; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(got, 'first-frame+echo');
      up.socket.destroy();
    }
  });
});
