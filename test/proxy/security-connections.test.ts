// Authorization, spans and Istio TCP metrics for connections that are not plain requests: WebSocket
// upgrades (HTTP attributes available; a denial is a 403 before upgrading) and raw TCP (connection
// attributes only; Istio's rule for HTTP-only fields: an ALLOW rule using one never matches, a DENY rule
// has them dropped). Through a real caller sidecar and a real server sidecar over mTLS.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { AUTHZ_HEADER, PROXY_ERROR_HEADER, type AppProtocol, type AuthorizationPolicy, type SidecarConfig, type SidecarMessage } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, endpoint, MESH, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, type TestContext } from './helpers.js';

const principal = (service: string) => `${MESH}/ns/default/sa/${service}`;

async function scrape(sidecar: SidecarProcess, id: number, until: RegExp): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    sidecar.send({ type: 'scrape', id });
    const start = Date.now();
    while (Date.now() - start < 2_000) {
      const m = sidecar.messages.find((x): x is Extract<SidecarMessage, { type: 'metrics' }> => x.type === 'metrics' && x.id === id);
      if (m !== undefined) {
        sidecar.messages.splice(sidecar.messages.indexOf(m), 1);
        if (until.test(m.text)) return m.text;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (Date.now() > deadline) throw new Error(`metrics never matched ${until}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('security of WebSocket upgrades and TCP connections', () => {
  const mesh = new TestMesh(tempHome({ after }));

  async function pair(t: TestContext, service: string, appPort: number, protocol: AppProtocol, policies: AuthorizationPolicy[]) {
    const server = SidecarProcess.start(t, mesh.home);
    const sc: SidecarConfig = serverConfig({ tls: mesh.tls(service), service, appPort });
    sc.inbound!.protocol = protocol;
    sc.inbound!.authorization = policies;
    const inbound = (await server.apply(sc)).inbound!;
    const client = SidecarProcess.start(t, mesh.home);
    const c = cluster(service, [endpoint(service, 'v1', inbound)]);
    c.protocol = protocol;
    const ports = await client.apply(
      clientConfig({
        tls: mesh.tls('caller'),
        service: 'caller',
        outbound: [{ service, port: 0, routes: [route({ destinations: [{ service, weight: 100 }] })] }],
        clusters: [c],
      }),
    );
    const setPolicies = async (next: AuthorizationPolicy[]) => {
      const copy = structuredClone(sc);
      copy.inbound!.authorization = next;
      await server.apply(copy);
    };
    return { client, server, port: ports.outbound[service]!, setPolicies };
  }

  it('authorizes WebSocket upgrades on method, path and headers: 403 with x-devmesh-authz before upgrading, DENY beating ALLOW', async (t) => {
    const app = await startApp(t, (_req, res) => res.writeHead(426).end());
    const wss = new WebSocketServer({ server: app.server });
    const upgraded: string[] = [];
    wss.on('connection', (ws, req) => {
      upgraded.push(req.url ?? '');
      ws.on('message', (data) => ws.send(`echo ${String(data)}`));
    });
    t.after(() => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    });
    const { port, client, server } = await pair(t, 'chat', app.port, 'http', [
      { name: 'allow-socket', action: 'ALLOW', rules: [{ from: [{ principals: [principal('caller')] }], to: [{ paths: ['/socket/*'], methods: ['GET'] }] }] },
      { name: 'deny-blocked', action: 'DENY', rules: [{ when: [{ key: 'request.headers[x-block]', values: ['yes'] }] }] },
    ]);

    const refused = (path: string, headers: Record<string, string> = {}) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
        ws.once('unexpected-response', (_req, res) => {
          resolve(res);
          ws.terminate();
        });
        ws.once('open', () => {
          ws.terminate();
          reject(new Error(`${path} was upgraded`));
        });
        ws.once('error', () => {});
      });

    const notAllowed = await refused('/other');
    assert.equal(notAllowed.statusCode, 403);
    assert.equal(notAllowed.headers[PROXY_ERROR_HEADER], 'denied');
    assert.match(String(notAllowed.headers[AUTHZ_HEADER]), /^no ALLOW policy matched \(allow-socket\)/);
    const blocked = await refused('/socket/a', { 'x-block': 'yes' });
    assert.deepEqual([blocked.statusCode, blocked.headers[AUTHZ_HEADER]], [403, 'deny-blocked[0]'], 'DENY beats ALLOW');

    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket/a`);
    t.after(() => ws.terminate());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('hello');
    assert.equal(String(await new Promise((resolve) => ws.once('message', resolve))), 'echo hello');
    assert.deepEqual(upgraded, ['/socket/a'], 'the app never saw a denied upgrade');
    const serverSide = [...wss.clients][0]!;
    const closed = new Promise((resolve) => serverSide.once('close', resolve));
    ws.close();
    await closed;

    // Spans: the denied upgrades and the whole life of the allowed one, at both ends, with bytes.
    const [deniedSpan] = await server.waitForSpans((s) => s.kind === 'server' && s.path === '/other');
    assert.deepEqual([deniedSpan!.status, deniedSpan!.error, deniedSpan!.attributes['authz.allowed']], [403, 'denied', false]);
    const [serverSpan] = await server.waitForSpans((s) => s.kind === 'server' && s.status === 101);
    assert.equal(serverSpan!.attributes['authz.by'], 'allow-socket[0]');
    assert.equal(serverSpan!.attributes.protocol, 'websocket');
    assert.ok(Number(serverSpan!.attributes['bytes.in']) > 0 && Number(serverSpan!.attributes['bytes.out']) > 0, JSON.stringify(serverSpan!.attributes));
    const [clientSpan] = await client.waitForSpans((s) => s.kind === 'client' && s.status === 101);
    assert.equal(clientSpan!.traceId, serverSpan!.traceId);
    assert.equal(serverSpan!.parentSpanId, clientSpan!.spanId);
    assert.ok(Number(clientSpan!.attributes['bytes.out']) > 0 && Number(clientSpan!.attributes['bytes.in']) > 0);

    const text = await scrape(server, 11, /istio_tcp_connections_closed_total\{/);
    assert.match(text, /istio_tcp_connections_opened_total\{[^}]*reporter="destination"[^}]*source_workload="caller"[^}]*\} 1/);
    assert.match(text, /istio_tcp_received_bytes_total\{[^}]*reporter="destination"[^}]*\} [1-9]/);
    assert.match(text, /istio_tcp_sent_bytes_total\{[^}]*reporter="destination"[^}]*\} [1-9]/);
    assert.match(text, /istio_requests_total\{[^}]*response_code="403"[^}]*response_flags="RBAC"[^}]*\} 2/);
    const clientText = await scrape(client, 12, /istio_tcp_connections_closed_total\{/);
    assert.match(clientText, /istio_tcp_connections_opened_total\{[^}]*reporter="source"[^}]*destination_service="chat"[^}]*\} 1/);
    assert.match(clientText, /istio_tcp_sent_bytes_total\{[^}]*reporter="source"[^}]*\} [1-9]/);
  });

  it('authorizes raw TCP on connection attributes, with Istio rules for HTTP-only fields', async (t) => {
    const echo = net.createServer((s) => s.pipe(s));
    let accepted = 0;
    echo.on('connection', () => accepted++);
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => echo.close(() => resolve())));
    const appPort = (echo.address() as net.AddressInfo).port;
    const { port, client, server, setPolicies } = await pair(t, 'db', appPort, 'tcp', [
      { name: 'allow-caller', action: 'ALLOW', rules: [{ from: [{ principals: [principal('caller')] }], to: [{ ports: [String(appPort)] }] }] },
    ]);

    /** Sends bytes; resolves 'echoed' when they come back, 'closed' when the connection ends without them. */
    const exchange = (payload: string) =>
      new Promise<'echoed' | 'closed'>((resolve) => {
        const sock = net.connect(port, '127.0.0.1');
        let got = '';
        sock.on('data', (d: Buffer) => {
          got += d.toString();
          if (got === payload) {
            resolve('echoed');
            sock.end();
          }
        });
        sock.on('close', () => resolve('closed'));
        sock.on('error', () => resolve('closed'));
        sock.setTimeout(8_000, () => sock.destroy());
        sock.write(payload);
      });

    assert.equal(await exchange('allowed by principal and port'), 'echoed');

    // An ALLOW rule naming an HTTP-only field (methods) cannot match a TCP connection: nothing allows it.
    await setPolicies([{ name: 'allow-get', action: 'ALLOW', rules: [{ to: [{ methods: ['GET'], ports: [String(appPort)] }] }] }]);
    const before = accepted;
    assert.equal(await exchange('needs GET'), 'closed');
    assert.equal(accepted, before, 'a denied connection never reaches the app');
    const [ignored] = await server.waitForSpans((s) => s.method === 'TCP' && s.error === 'denied');
    assert.match(String(ignored!.attributes['authz.by']), /^no ALLOW policy matched \(allow-get\)/);
    assert.match(String(ignored!.attributes['authz.notes']), /ALLOW allow-get\[0\] uses HTTP-only fields: ignored for TCP/);

    // A DENY rule's HTTP-only fields are dropped: with only methods it denies every connection...
    await setPolicies([
      { name: 'deny-get', action: 'DENY', rules: [{ to: [{ methods: ['GET'] }] }] },
      { name: 'allow-all', action: 'ALLOW', rules: [{}] },
    ]);
    assert.equal(await exchange('deny with methods only'), 'closed');
    await server.waitForSpans((s) => s.method === 'TCP' && s.attributes['authz.by'] === 'deny-get[0]');
    // ...and with methods and a port, only the port is left: another port is not denied.
    await setPolicies([
      { name: 'deny-get-other-port', action: 'DENY', rules: [{ to: [{ methods: ['GET'], ports: ['1'] }] }] },
      { name: 'allow-all', action: 'ALLOW', rules: [{}] },
    ]);
    assert.equal(await exchange('deny on another port'), 'echoed');
    await setPolicies([
      { name: 'deny-get-this-port', action: 'DENY', rules: [{ to: [{ methods: ['GET'], ports: [String(appPort)] }] }] },
      { name: 'allow-all', action: 'ALLOW', rules: [{}] },
    ]);
    assert.equal(await exchange('deny on this port'), 'closed');
    // DENY beats ALLOW on source principal; `rules: [{}]` allows all once nothing denies.
    await setPolicies([
      { name: 'deny-caller', action: 'DENY', rules: [{ from: [{ principals: [principal('caller')] }] }] },
      { name: 'allow-all', action: 'ALLOW', rules: [{}] },
    ]);
    assert.equal(await exchange('caller denied'), 'closed');
    await setPolicies([{ name: 'allow-all', action: 'ALLOW', rules: [{}] }]);
    assert.equal(await exchange('allow every connection'), 'echoed');

    // Spans over the connection's life at both ends, with bytes; TCP metrics at both ends.
    const [serverSpan] = await server.waitForSpans((s) => s.method === 'TCP' && s.error === null && s.attributes['bytes.in'] === 'allow every connection'.length);
    assert.equal(serverSpan!.kind, 'server');
    assert.equal(serverSpan!.attributes['bytes.in'], 'allow every connection'.length);
    assert.equal(serverSpan!.attributes['bytes.out'], 'allow every connection'.length);
    const clientSpans = await client.waitForSpans((s) => s.kind === 'client' && s.method === 'TCP' && s.attributes['bytes.in'] === 'allow every connection'.length);
    assert.equal(clientSpans[0]!.attributes['bytes.out'], 'allow every connection'.length);
    const text = await scrape(server, 21, /istio_tcp_connections_closed_total\{[^}]*\} 3/);
    assert.match(text, /istio_tcp_connections_opened_total\{[^}]*reporter="destination"[^}]*\} 3/, 'three connections were allowed');
    assert.match(text, /istio_tcp_sent_bytes_total\{[^}]*reporter="destination"[^}]*\} [1-9]/);
  });
});
