// Config push semantics: NACK keeps the last good config serving; listener ports are for life;
// certificate rotation swaps TLS without dropping the listener.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { ROUTE_HEADER, type SidecarConfig } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, echoApp, endpoint, httpClient, route, serverConfig, SidecarProcess, startApp, tempHome, TestMesh, tlsRequest } from './helpers.js';

describe('config updates', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('NACKs a bad config with a reason naming the route, keeps serving, then ACKs a good one', async (t) => {
    const v1 = await startApp(t, echoApp('catalog-v1'));
    const v2 = await startApp(t, echoApp('catalog-v2'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const good = (subset: string): SidecarConfig =>
      clientConfig({
        tls: mesh.tls('web'),
        service: 'web',
        outbound: [
          {
            service: 'catalog',
            port: 0,
            routes: [
              route({ name: 'items', match: [{ uri: { regex: '/items/[0-9]+' } }], destinations: [{ service: 'catalog', subset, weight: 100 }] }),
              route({ match: [], destinations: [{ service: 'catalog', subset, weight: 100 }] }),
            ],
          },
        ],
        clusters: [cluster('catalog', [endpoint('catalog', 'v1', v1.port), endpoint('catalog', 'v2', v2.port)], false)],
      });
    const first = await sidecar.apply(good('v1'));
    const url = `http://127.0.0.1:${first.outbound.catalog}`;
    const get = httpClient(t);
    assert.equal(JSON.parse((await get(`${url}/items/42`)).body).app, 'catalog-v1');
    assert.equal((await get(`${url}/items/42`)).headers[ROUTE_HEADER], 'items');
    assert.equal((await get(`${url}/items/x`)).headers[ROUTE_HEADER], '1', 'regex matches the whole path');

    const bad = good('v2');
    bad.outbound[0]!.routes[1]!.match = [{ uri: { regex: '(' } }];
    const nack = await sidecar.push(bad);
    assert.equal(nack.type, 'nack');
    assert.match(nack.type === 'nack' ? nack.reason : '', /^route catalog\[1\] match\[0\]\.uri: RE2 refuses regex "\(": missing closing \)/);
    assert.equal(JSON.parse((await get(`${url}/items/42`)).body).app, 'catalog-v1', 'the last good config still serves');

    const malformed = good('v2') as unknown as { outbound: Array<{ routes: Array<{ retries: { attempts: number } }> }> };
    malformed.outbound[0]!.routes[0]!.retries.attempts = -1;
    const nack2 = await sidecar.push(malformed as unknown as SidecarConfig);
    assert.match(nack2.type === 'nack' ? nack2.reason : '', /^route catalog\[0\]\.retries\.attempts: /);

    const unknownRetry = good('v2');
    unknownRetry.outbound[0]!.routes[0]!.retries = { attempts: 1, retryOn: ['5xx,sometimes'] };
    const nack3 = await sidecar.push(unknownRetry);
    assert.match(nack3.type === 'nack' ? nack3.reason : '', /route catalog\[0\] \(items\): unknown retryOn condition "sometimes"/);

    // A new listener on a port that is taken: NACK, and nothing of that config applies.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    t.after(() => blocker.close());
    const taken = (blocker.address() as { port: number }).port;
    const withTaken = good('v2');
    withTaken.outbound.push({ service: 'search', port: taken, routes: [] });
    const nack4 = await sidecar.push(withTaken);
    assert.equal(nack4.type === 'nack' ? nack4.reason : '', `outbound listener search: port ${taken} in use`);
    assert.equal(JSON.parse((await get(`${url}/items/42`)).body).app, 'catalog-v1');

    const second = await sidecar.apply(good('v2'));
    assert.equal(second.outbound.catalog, first.outbound.catalog, 'the listener port stays across updates');
    assert.equal(JSON.parse((await get(`${url}/items/42`)).body).app, 'catalog-v2', 'the good config took effect');

    // A listener dropped from the config stays bound but routes nothing; its port comes back with it.
    const withoutCatalog = { ...good('v2'), outbound: [] };
    await sidecar.apply(withoutCatalog);
    assert.equal((await get(`${url}/items/42`)).status, 404);
    const third = await sidecar.apply(good('v1'));
    assert.equal(third.outbound.catalog, first.outbound.catalog);
    assert.equal(JSON.parse((await get(`${url}/items/42`)).body).app, 'catalog-v1');
  });

  it('rotates certificates on both sides without moving or dropping listeners', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const server = SidecarProcess.start(t, mesh.home);
    const serverCfg = serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port });
    const serverPorts = await server.apply(serverCfg);
    const client = SidecarProcess.start(t, mesh.home);
    const clientCfg = clientConfig({
      tls: mesh.tls('productpage'),
      service: 'productpage',
      outbound: [{ service: 'reviews', port: 0, routes: [route({ destinations: [{ service: 'reviews', weight: 100 }] })] }],
      clusters: [cluster('reviews', [endpoint('reviews', 'v1', serverPorts.inbound!)])],
    });
    const clientPorts = await client.apply(clientCfg);
    const get = httpClient(t);
    const url = `http://127.0.0.1:${clientPorts.outbound.reviews}/`;
    assert.equal((await get(url)).status, 200);

    const newServerTls = mesh.tls('reviews', true);
    const newClientTls = mesh.tls('productpage', true);
    const rotatedServer = await server.apply({ ...serverCfg, inbound: { ...serverCfg.inbound!, port: serverPorts.inbound! }, tls: newServerTls });
    assert.equal(rotatedServer.inbound, serverPorts.inbound);
    const rotatedClient = await client.apply({ ...clientCfg, tls: newClientTls });
    assert.equal(rotatedClient.outbound.reviews, clientPorts.outbound.reviews);

    for (let i = 0; i < 5; i++) assert.equal((await get(url)).status, 200);

    const direct = await tlsRequest(serverPorts.inbound!, { ca: mesh.ca.rootPem, cert: newClientTls.certPem, key: newClientTls.keyPem });
    assert.equal(direct.status, 200);
    const presented = new X509Certificate(direct.peerCert.raw);
    assert.equal(presented.fingerprint256, new X509Certificate(newServerTls.certPem).fingerprint256, 'new handshakes present the new certificate');

    // A config moving a bound port is refused.
    const moved = await server.push({ ...serverCfg, inbound: { ...serverCfg.inbound!, port: serverPorts.inbound! + 1 } });
    assert.equal(moved.type, 'nack');
  });
  it('a reconfirm ACKs the running config under a new version at once; one naming another version is NACKed and changes nothing', async (t) => {
    const app = await startApp(t, echoApp('catalog-v1'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const config = clientConfig({
      tls: mesh.tls('web'),
      service: 'web',
      outbound: [{ service: 'catalog', port: 0, routes: [route({ match: [], destinations: [{ service: 'catalog', subset: 'v1', weight: 100 }] })] }],
      clusters: [cluster('catalog', [endpoint('catalog', 'v1', app.port)], false)],
    });
    const ports = await sidecar.apply(config); // version 1
    const reply = (version: number) =>
      sidecar.waitFor(() => sidecar.messages.find((m) => (m.type === 'ack' || m.type === 'nack') && m.version === version), 5_000, `reply to v${version}`);

    sidecar.send({ type: 'reconfirm', version: 7, of: 1 });
    assert.deepEqual(await reply(7), { type: 'ack', version: 7, ports });
    sidecar.send({ type: 'reconfirm', version: 8, of: 5 });
    const nack = await reply(8);
    assert.equal(nack.type, 'nack');
    assert.match((nack as { reason: string }).reason, /reconfirm of config v5, but this sidecar runs v7/);
    // Still serving version 7's config (= 1's); the metrics tell the two apart.
    const get = httpClient(t);
    assert.equal(JSON.parse((await get(`http://127.0.0.1:${ports.outbound.catalog}/x`)).body).app, 'catalog-v1');
    sidecar.send({ type: 'scrape', id: 1 });
    const metrics = await sidecar.waitFor(() => sidecar.messages.find((m) => m.type === 'metrics'), 5_000, 'metrics');
    const text = (metrics as { text: string }).text;
    assert.match(text, /devmesh_proxy_config_updates_total\{outcome="applied"\} 1\b/);
    assert.match(text, /devmesh_proxy_config_updates_total\{outcome="reconfirmed"\} 1\b/);
  });
});
