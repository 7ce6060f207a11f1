// Every URL the sidecar builds, through a real ingress on a port of its own (not 80), against Envoy's
// documented behaviour: a redirect keeps the request's authority, port included, unless the rule sets the
// host (Envoy's host_redirect drops the port with it), sets or derives a port, or changes the scheme of a
// request on its scheme's default port; a rewritten authority replaces the Host; a mirrored copy's Host
// is the upstream's with "-shadow" before the port.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';

let mesh: RunningMesh;
let port: number;

interface Reply {
  status: number;
  location: string | undefined;
  body: string;
}

function get(path: string, host = `127.0.0.1:${port}`): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

const app = (name: string) => `
import { createServer } from 'node:http';
let last = null;
createServer((req, res) => {
  if (req.url === '/last') return res.end(JSON.stringify(last));
  last = { app: '${name}', host: req.headers.host, url: req.url };
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(last));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

before(async () => {
  mesh = await startMesh({
    files: { 'shop.js': app('shop'), 'audit.js': app('audit'), 'package.json': '{ "type": "module" }' },
    yaml: `name: urls
ingress: [{ port: 0, service: shop }]
services:
  shop: { run: node shop.js }
  audit: { run: node audit.js }
routes:
  shop:
    - { name: path-only, match: [{ uri: { exact: /old } }], redirect: { uri: /new } }
    - { name: keep-query, match: [{ uri: { exact: /same } }], redirect: { redirectCode: 307 } }
    - { name: to-https, match: [{ uri: { exact: /to-https } }], redirect: { scheme: https } }
    - { name: port, match: [{ uri: { exact: /port } }], redirect: { port: 8443 } }
    - { name: host, match: [{ uri: { exact: /host } }], redirect: { authority: example.org } }
    - { name: host-request-port, match: [{ uri: { exact: /host-request-port } }], redirect: { authority: example.org, derivePort: FROM_REQUEST_PORT } }
    - { name: https-default, match: [{ uri: { exact: /https-default } }], redirect: { scheme: https, derivePort: FROM_PROTOCOL_DEFAULT } }
    - { name: https-443, match: [{ uri: { exact: /https-443 } }], redirect: { scheme: https, port: 443 } }
    - { name: http-80, match: [{ uri: { exact: /http-80 } }], redirect: { authority: "example.org:9000", port: 80 } }
    - { name: prefix, match: [{ uri: { prefix: /old-prefix/ } }], redirect: { prefixRewrite: /new-prefix/ } }
    - { name: rewrite, match: [{ uri: { prefix: /rewrite } }], rewrite: { uri: /inner, authority: internal.example }, route: [{ destination: { host: shop } }], mirror: { host: audit } }
    - { name: mirror, match: [{ uri: { prefix: /mirror } }], route: [{ destination: { host: shop } }], mirror: { host: audit } }
    - { name: rest, route: [{ destination: { host: shop } }] }
`,
  });
  port = Number(new URL(mesh.ingress.shop!).port);
});

after(async () => {
  await mesh?.stop();
});

test('a redirect keeps the request authority and its port when the rule sets neither host nor port', async () => {
  const r = await get('/old');
  assert.equal(r.status, 301);
  assert.equal(r.location, `http://127.0.0.1:${port}/new`);
  const q = await get('/same?a=1&b=2');
  assert.equal(q.status, 307);
  assert.equal(q.location, `http://127.0.0.1:${port}/same?a=1&b=2`, 'no uri: path and query kept');
  // A Host without a port stays without one.
  assert.equal((await get('/old', 'shop.example')).location, 'http://shop.example/new');
});

test('scheme, port and host redirects follow Envoy: the request port goes only when the rule replaces it', async () => {
  // A scheme change keeps a port that is not the old scheme's default (Envoy's processRequestHost)...
  assert.equal((await get('/to-https')).location, `https://127.0.0.1:${port}/to-https`);
  // ...and drops the old scheme's default port.
  assert.equal((await get('/to-https', 'shop.example:80')).location, 'https://shop.example/to-https');
  assert.equal((await get('/port')).location, 'http://127.0.0.1:8443/port');
  // host_redirect replaces host and port (envoyproxy/envoy#17318); derivePort FROM_REQUEST_PORT keeps it.
  assert.equal((await get('/host')).location, 'http://example.org/host');
  assert.equal((await get('/host-request-port')).location, `http://example.org:${port}/host-request-port`);
  // A set or derived port that is the scheme's default is not written (Istio's ApplyRedirect).
  assert.equal((await get('/https-default')).location, 'https://127.0.0.1/https-default');
  assert.equal((await get('/https-443')).location, 'https://127.0.0.1/https-443');
  assert.equal((await get('/http-80')).location, 'http://example.org/http-80', "the rule's port replaces the one in its authority");
  // prefixRewrite (Istio; a Gateway API ReplacePrefixMatch) replaces the matched prefix and keeps the rest.
  assert.equal((await get('/old-prefix/a/b?c=1')).location, `http://127.0.0.1:${port}/new-prefix/a/b?c=1`);
});

test('a rewritten authority replaces the Host; a mirror copy carries the upstream Host with -shadow before the port', async () => {
  const rewritten = JSON.parse((await get('/rewrite/x?y=1')).body) as { host: string; url: string };
  assert.deepEqual(rewritten, { app: 'shop', host: 'internal.example', url: '/inner/x?y=1' });
  assert.equal((await get('/mirror-last')).status, 200);
  // The copy reaches audit asynchronously: read what audit last saw through the mesh's own routes.
  const lastOfAudit = async (): Promise<{ host: string; url: string } | null> => {
    const base = `http://127.0.0.1:${(await mesh.api<{ services: { name: string; instances: { appPort: number }[] }[] }>('/api/status')).services.find((s) => s.name === 'audit')!.instances[0]!.appPort}`;
    return (await (await fetch(`${base}/last`)).json()) as { host: string; url: string } | null;
  };
  const copy = await waitFor('the mirrored copy at audit', async () => {
    const last = await lastOfAudit();
    return last?.url === '/mirror-last' ? last : undefined;
  });
  assert.equal(copy.host, `127.0.0.1-shadow:${port}`);
  await get('/rewrite/y');
  const rewrittenCopy = await waitFor('the mirrored copy of a rewritten request', async () => {
    const last = await lastOfAudit();
    return last?.url === '/inner/y' ? last : undefined;
  });
  assert.equal(rewrittenCopy.host, 'internal.example-shadow');
});
