import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMesh } from '../config/load-mesh.js';
import { buildClusters, buildGatewayConfig, buildSidecarConfig } from './sidecar-config.js';

const MESH = `name: shop
services:
  web: { run: x, upstreams: [cart, payments] }
  cart: { run: x, upstreams: [stock] }
  cart-next: { run: x }
  audit: { run: x }
  stock: { run: x }
  payments: { run: x }
  lonely: { run: x }
external:
  psp: { url: https://psp.example.com }
routes:
  cart:
    - route:
        - { destination: { host: cart }, weight: 90 }
        - { destination: { host: cart-next }, weight: 10 }
      mirror: { host: audit }
  payments:
    - route: [{ destination: { host: psp } }]
`;

test('a sidecar is sent the clusters its listeners can reach (their services, route destinations and mirrors), as an Istio Sidecar resource scopes egress', () => {
  const mesh = parseMesh(MESH, 'devmesh.yaml');
  const every = Object.keys(mesh.services).map((service) => ({ instanceId: `${service}-0`, service, version: '', inboundPort: 10_000, healthy: true }));
  const clusters = buildClusters(mesh, every);
  const tls = { caPem: 'ca', certPem: 'cert', keyPem: 'key' };
  const names = (c: { clusters: { service: string }[] }) => c.clusters.map((x) => x.service).sort();
  const sidecar = (service: string) => buildSidecarConfig(mesh, { service, version: '', instanceId: `${service}-0` }, tls, 1234, clusters);
  assert.deepEqual(names(sidecar('web')), ['audit', 'cart', 'cart-next', 'payments', 'psp']);
  assert.deepEqual(names(sidecar('cart')), ['stock']);
  assert.deepEqual(names(sidecar('lonely')), [], 'no upstreams: no clusters');
  assert.deepEqual(names(buildGatewayConfig(mesh, 'cart', 8080, tls, clusters)), ['audit', 'cart', 'cart-next']);
  // What a sidecar is sent is what the mesh has for those services: endpoints and policy untouched.
  const sent = sidecar('web').clusters.find((c) => c.service === 'cart');
  assert.deepEqual(sent, clusters.find((c) => c.service === 'cart'));
  // An endpoint it cannot reach coming or going leaves its config as it was (a reconfirm, not a rebuild).
  const lonelyGone = buildClusters(mesh, every.filter((e) => e.service !== 'lonely'));
  assert.deepEqual(buildSidecarConfig(mesh, { service: 'web', version: '', instanceId: 'web-0' }, tls, 1234, lonelyGone), sidecar('web'));
});
