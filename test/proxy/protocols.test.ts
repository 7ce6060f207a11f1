// Protocols through two real sidecars over mTLS: gRPC unary and streaming with @grpc/grpc-js (h2c from
// the client app, h2 with ALPN between the sidecars, h2c to the server app), grpc-status aware retries
// and metrics, a WebSocket echo with `ws`, raw TCP passthrough, and a config push under load that drops
// no request in flight.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { Agent, request } from 'undici';
import type { AppProtocol, SidecarConfig, SidecarMessage } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, echoApp, endpoint, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, type TestContext } from './helpers.js';

const PROTO = `syntax = "proto3";
package echo;
service Echo {
  rpc Say (Msg) returns (Msg);
  rpc Chat (stream Msg) returns (stream Msg);
}
message Msg { string text = 1; }
`;

/** Writes `payload` to a connection to `port`, reads as many bytes back, and ends the connection. */
async function echoThrough(t: TestContext, port: number, payload: Buffer): Promise<Buffer> {
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.write(payload);
  const back = await new Promise<Buffer>((resolve) => {
    let acc = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      if (acc.length >= payload.length) resolve(acc);
    });
  });
  sock.end();
  return back;
}

describe('protocols', () => {
  const home = tempHome({ after });
  const mesh = new TestMesh(home);

  /** server sidecar (STRICT, `protocol`) in front of appPort, and a client sidecar with one outbound listener to it. */
  async function pair(t: TestContext, service: string, appPort: number, protocol: AppProtocol, routeOverrides: Partial<Parameters<typeof route>[0]> = {}) {
    const server = SidecarProcess.start(t, mesh.home);
    const sc = serverConfig({ tls: mesh.tls(service), service, appPort });
    sc.inbound!.protocol = protocol;
    const inbound = (await server.apply(sc)).inbound!;
    const client = SidecarProcess.start(t, mesh.home);
    const c = cluster(service, [endpoint(service, 'v1', inbound)]);
    c.protocol = protocol;
    const config: SidecarConfig = clientConfig({
      tls: mesh.tls('caller'),
      service: 'caller',
      outbound: [{ service, port: 0, routes: [route({ destinations: [{ service, weight: 100 }], ...routeOverrides })] }],
      clusters: [c],
    });
    const ports = await client.apply(config);
    return { client, server, port: ports.outbound[service]!, config };
  }

  it('carries gRPC unary and bidirectional streaming calls, retries UNAVAILABLE, and counts grpc statuses', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'devmesh-test-proto-'));
    writeFileSync(join(dir, 'echo.proto'), PROTO);
    const def = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, 'echo.proto'))) as unknown as {
      echo: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } };
    };
    let failNext = 1;
    const server = new grpc.Server();
    server.addService(def.echo.Echo.service, {
      Say: (call: grpc.ServerUnaryCall<{ text: string }, { text: string }>, cb: grpc.sendUnaryData<{ text: string }>) => {
        if (call.request.text === 'fail-once' && failNext-- > 0) return cb({ code: grpc.status.UNAVAILABLE, details: 'try again' });
        if (call.request.text === 'internal') return cb({ code: grpc.status.INTERNAL, details: 'boom' });
        if (call.request.text === 'down') return cb({ code: grpc.status.UNAVAILABLE, details: 'down for good' });
        cb(null, { text: `echo ${call.request.text} from ${String(call.metadata.get('x-devmesh-peer')[0] ?? 'nobody')}` });
      },
      Chat: (call: grpc.ServerDuplexStream<{ text: string }, { text: string }>) => {
        call.on('data', (m: { text: string }) => {
          // A reply first (headers and a message go out), then the failure: grpc-status 14 arrives in the trailers.
          if (m.text === 'then-fail') {
            call.write({ text: 'partial' });
            setTimeout(() => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'went away mid-stream' }), 20);
            return;
          }
          call.write({ text: m.text.toUpperCase() });
        });
        call.on('end', () => call.end());
      },
    });
    const appPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    t.after(() => server.forceShutdown());

    const { port, client: clientSidecar, server: serverSidecar } = await pair(t, 'echo', appPort, 'grpc', { retries: { attempts: 2, retryOn: ['unavailable'] } });
    const stub = new def.echo.Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
      Say(msg: { text: string }, cb: (err: grpc.ServiceError | null, res: { text: string }) => void): void;
      Chat(): grpc.ClientDuplexStream<{ text: string }, { text: string }>;
      close(): void;
    };
    t.after(() => stub.close());
    const say = (text: string) => new Promise<{ text: string }>((resolve, reject) => stub.Say({ text }, (err, res) => (err ? reject(err) : resolve(res))));

    assert.equal((await say('hi')).text, 'echo hi from spiffe://test.local/ns/default/sa/caller');
    assert.equal((await say('fail-once')).text, 'echo fail-once from spiffe://test.local/ns/default/sa/caller', 'UNAVAILABLE was retried');
    await assert.rejects(say('internal'), (err: grpc.ServiceError) => err.code === grpc.status.INTERNAL && err.details === 'boom');

    const chat = stub.Chat();
    const got: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      chat.on('data', (m: { text: string }) => {
        got.push(m.text);
        // Each reply comes back before the next message is sent: the stream is not buffered.
        if (got.length < 3) chat.write({ text: `msg${got.length + 1}` });
        else chat.end();
      });
      chat.on('end', resolve);
      chat.on('error', reject);
    });
    chat.write({ text: 'msg1' });
    await ended;
    assert.deepEqual(got, ['MSG1', 'MSG2', 'MSG3']);

    // Trailers-only UNAVAILABLE (retried, then given up on): a gRPC failure on both sides, not an HTTP 200 success.
    await assert.rejects(say('down'), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    // UNAVAILABLE in the trailers, after headers and a message.
    const failing = stub.Chat();
    const streamFailed = new Promise<grpc.ServiceError>((resolve) => failing.on('error', resolve));
    failing.on('data', () => {});
    failing.write({ text: 'then-fail' });
    assert.equal((await streamFailed).code, grpc.status.UNAVAILABLE);

    const [span] = await clientSidecar.waitForSpans((s) => s.kind === 'client' && s.attributes['retry.reasons'] === 'grpc-14');
    assert.equal(span!.attempts, 2);
    assert.equal(span!.attributes['rpc.grpc.status_code'], 0, 'retried to success: OK');
    assert.equal(span!.error, null);
    const bySpan = (s: { path: string; kind: string }, kind: string, path: string) => s.kind === kind && s.path === path;
    const [down] = await clientSidecar.waitForSpans((s) => bySpan(s, 'client', '/echo.Echo/Say') && s.attributes['rpc.grpc.status_code'] === 14);
    assert.equal(down!.status, 200, 'HTTP says 200');
    assert.equal(down!.error, 'grpc-unavailable', 'the span status is ERROR');
    assert.equal(down!.attributes['rpc.system'], 'grpc');
    const [streamed] = await clientSidecar.waitForSpans((s) => bySpan(s, 'client', '/echo.Echo/Chat') && s.error !== null);
    assert.equal(streamed!.attributes['rpc.grpc.status_code'], 14);
    assert.equal(streamed!.error, 'grpc-unavailable');
    const [internalSpan] = await clientSidecar.waitForSpans((s) => bySpan(s, 'client', '/echo.Echo/Say') && s.attributes['rpc.grpc.status_code'] === 13);
    assert.equal(internalSpan!.error, 'grpc-internal');
    // Server spans: UNAVAILABLE is the server's failure (semconv), in the trailers-only answer and in the trailers alike.
    const serverDown = await serverSidecar.waitForSpans((s) => s.kind === 'server' && s.attributes['rpc.grpc.status_code'] === 14, 5);
    assert.ok(serverDown.every((s) => s.error === 'grpc-unavailable'), JSON.stringify(serverDown.map((s) => s.error)));
    assert.ok(serverDown.some((s) => s.path === '/echo.Echo/Chat'), 'the trailers case is recorded by the server side too');
    serverSidecar.send({ type: 'scrape', id: 1 });
    const text = await new Promise<string>((resolve) => {
      const check = () => {
        const m = serverSidecar.messages.find((x): x is Extract<SidecarMessage, { type: 'metrics' }> => x.type === 'metrics');
        if (m) resolve(m.text);
        else setTimeout(check, 20);
      };
      check();
    });
    assert.match(text, /istio_requests_total\{[^}]*grpc_response_status="13"[^}]*\} 1/);
    // The metrics agree with the spans: fail-once's first try, down's 3 tries and the stream.
    assert.match(text, /istio_requests_total\{[^}]*grpc_response_status="14"[^}]*\} 5/);
    assert.match(text, /istio_requests_total\{[^}]*grpc_response_status="0"/);
  });

  it('upgrades WebSockets end to end', async (t) => {
    const app = await startApp(t, (_req, res) => res.writeHead(426).end());
    const wss = new WebSocketServer({ server: app.server });
    wss.on('connection', (ws, req) => ws.on('message', (data) => ws.send(`echo ${String(data)} (${String(req.headers['x-devmesh-peer'])})`)));
    t.after(() => {
      for (const client of wss.clients) client.terminate();
      wss.close();
    });
    const { port } = await pair(t, 'ws', app.port, 'http');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket`);
    t.after(() => ws.terminate());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const replies: string[] = [];
    for (const word of ['one', 'two']) {
      ws.send(word);
      replies.push(String(await new Promise((resolve) => ws.once('message', resolve))));
    }
    assert.deepEqual(replies, ['echo one (spiffe://test.local/ns/default/sa/caller)', 'echo two (spiffe://test.local/ns/default/sa/caller)']);
    // Closing from the client end closes every hop: the app sees its socket close.
    const serverSide = [...wss.clients][0]!;
    const closed = new Promise((resolve) => serverSide.once('close', resolve));
    ws.close();
    await closed;
  });

  it('passes raw TCP through for protocol: tcp, over mTLS', async (t) => {
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => echo.close(() => resolve())));
    const { port, server, client } = await pair(t, 'db', (echo.address() as net.AddressInfo).port, 'tcp');
    const payload = Buffer.from('\x00\x01binary, not HTTP\r\n\r\n');
    assert.deepEqual(await echoThrough(t, port, payload), payload);
    server.send({ type: 'scrape', id: 2 });
    const text = await new Promise<string>((resolve) => {
      const check = () => {
        const m = server.messages.find((x): x is Extract<SidecarMessage, { type: 'metrics' }> => x.type === 'metrics');
        if (m && /istio_tcp_connections_closed_total\{/.test(m.text)) resolve(m.text);
        else if (m) {
          server.messages.splice(server.messages.indexOf(m), 1);
          setTimeout(() => server.send({ type: 'scrape', id: 2 }), 50);
          setTimeout(check, 80);
        } else setTimeout(check, 20);
      };
      check();
    });
    assert.match(text, /istio_tcp_connections_opened_total\{[^}]*source_workload="caller"[^}]*connection_security_policy="mutual_tls"[^}]*\} 1/);
    // One connection, one trace: the client span's context rode the sidecars' own mTLS session ahead of the
    // app's bytes (which arrived unchanged above), and the server span is its child. Neither failed.
    const [outbound] = await client.waitForSpans((s) => s.kind === 'client' && s.method === 'TCP');
    const [inbound] = await server.waitForSpans((s) => s.kind === 'server' && s.method === 'TCP');
    assert.equal(inbound!.traceId, outbound!.traceId);
    assert.equal(inbound!.parentSpanId, outbound!.spanId);
    assert.equal(outbound!.attributes['trace.propagated'], 'tcp-preamble');
    assert.deepEqual([outbound!.error, inbound!.error], [null, null]);
    assert.equal(inbound!.attributes['bytes.in'], payload.length, 'the preamble is not counted as the app\'s bytes');
    // The server side starts after the client side; it may end a little after it (it learns of the close from the client's sidecar).
    assert.ok(inbound!.startMs >= outbound!.startMs, 'the server span starts within the client span');
  });

  it('tcp to an inbound that does not offer the trace preamble: the handshake still agrees, the bytes go through unchanged', async (t) => {
    // An inbound from before the preamble, as its TLS server was: mesh mTLS, ALPN h2 and http/1.1 only.
    const material = mesh.tls('legacy');
    const received: Buffer[] = [];
    const legacy = tls.createServer({ ca: material.caPem, cert: material.certPem, key: material.keyPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2', 'http/1.1'] }, (s) => {
      s.on('data', (d: Buffer) => received.push(d));
      s.pipe(s);
    });
    await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => legacy.close(() => resolve())));
    const client = SidecarProcess.start(t, mesh.home);
    const c = cluster('legacy', [endpoint('legacy', 'v1', (legacy.address() as net.AddressInfo).port)]);
    c.protocol = 'tcp';
    const ports = await client.apply(
      clientConfig({ tls: mesh.tls('caller'), service: 'caller', outbound: [{ service: 'legacy', port: 0, routes: [route({ destinations: [{ service: 'legacy', weight: 100 }] })] }], clusters: [c] }),
    );
    const payload = Buffer.from('00-not-a-preamble, the app\'s own bytes\n');
    assert.deepEqual(await echoThrough(t, ports.outbound['legacy']!, payload), payload);
    assert.deepEqual(Buffer.concat(received), payload, 'nothing but the app\'s bytes reached the server');
    const [span] = await client.waitForSpans((x) => x.kind === 'client' && x.method === 'TCP');
    assert.equal(span!.attributes['trace.propagated'], undefined);
    assert.equal(span!.error, null);
  });

  it('drops no request in flight while configs are pushed under load', async (t) => {
    const app = await startApp(t, (req, res) => {
      // Slow enough that pushes land while requests are in flight.
      setTimeout(() => echoApp('app')(req, res), 20);
    });
    const { port, client, config } = await pair(t, 'busy', app.port, 'http');
    const agent = new Agent({ keepAliveTimeout: 1_000, connections: 8 });
    t.after(() => agent.close());
    let stop = false;
    const statuses: number[] = [];
    const workers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const r = await request(`http://127.0.0.1:${port}/load`, { dispatcher: agent });
        await r.body.text();
        statuses.push(r.statusCode);
      }
    });
    try {
      for (let i = 0; i < 10; i++) {
        const next = structuredClone(config);
        next.outbound[0]!.routes[0]!.name = `v${i}`;
        next.outbound[0]!.routes[0]!.timeoutMs = 5_000 + i; // a real change each time
        await client.apply(next);
        await new Promise((r) => setTimeout(r, 30));
      }
    } finally {
      stop = true;
    }
    await Promise.all(workers);
    assert.ok(statuses.length > 20, `${statuses.length} requests`);
    assert.deepEqual([...new Set(statuses)], [200], 'every request answered 200 across ten pushes');
  });
});
