// The mesh of the issue's example: frontend → catalog (v1, v2), as tiny inline apps.
// catalog answers with its version; FAIL_EVERY=N makes every Nth request a 503; /slow answers after 3 s
// (and never fails), for a request that stays in flight.
export const SHOP_APPS: Record<string, string> = {
  'services/frontend.js': `
import { createServer } from 'node:http';
createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const headers = {};
  for (const h of ['traceparent', 'x-user']) if (req.headers[h]) headers[h] = req.headers[h];
  try {
    const r = await fetch(process.env.CATALOG_URL + req.url, { headers });
    const body = await r.text();
    res.writeHead(r.status, { 'content-type': 'application/json', 'x-catalog-route': r.headers.get('x-devmesh-route') ?? '' });
    res.end(body);
  } catch (err) { res.writeHead(502).end(String(err)); }
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
  'services/catalog.js': `
import { createServer } from 'node:http';
const failEvery = Number(process.env.FAIL_EVERY ?? 0);
let n = 0;
createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.url === '/slow') return setTimeout(() => res.end(JSON.stringify({ version: process.env.DEVMESH_VERSION })), 3000);
  n++;
  if (failEvery && n % failEvery === 0) { res.writeHead(503); return res.end('flaky'); }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ flavor: process.env.FLAVOR, version: process.env.DEVMESH_VERSION, instance: process.env.DEVMESH_INSTANCE, pid: process.pid }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
  'services/package.json': '{ "type": "module" }',
};

export function shopYaml(routes: string, catalogEnv = ''): string {
  return `name: shop
mtls: STRICT
ingress:
  - port: 0
    service: frontend
services:
  frontend:
    run: node frontend.js
    cwd: services
    upstreams: [catalog]
    health: /healthz
  catalog:
    cwd: services
    health: /healthz
    versions:
      v1: { run: node catalog.js, env: { FLAVOR: plain${catalogEnv} } }
      v2: { run: node catalog.js, env: { FLAVOR: fancy } }
routes:
  catalog:
${routes}
`;
}

export const ISSUE_ROUTES = `    - match: [{ headers: { x-user: { exact: tester } } }]
      route: [{ destination: { subset: v2 } }]
    - route: [{ destination: { subset: v1 }, weight: 90 }, { destination: { subset: v2 }, weight: 10 }]
      retries: { attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure" }
      timeout: 2s`;

/**
 * For explain: rule "testers" (x-user: tester → v2, a quarter mirrored to v1), then "everyone" (any catalog instance). catalog v1
 * answers 503 to everything but /slow, so two requests to it in a row get it ejected by outlier detection;
 * the circuit breaker lets one request at a time through to catalog.
 */
export const EJECTING_SHOP_YAML = `${shopYaml(
  `    - name: testers
      match: [{ headers: { x-user: { exact: tester } } }]
      route: [{ destination: { subset: v2 } }]
      mirror: { host: catalog, subset: v1 }
      mirrorPercentage: { value: 25 }
    - name: everyone
      route: [{ destination: { host: catalog } }]`,
  ', FAIL_EVERY: "1"',
)}policies:
  catalog:
    outlierDetection: { consecutive5xxErrors: 2, baseEjectionTime: 60s, maxEjectionPercent: 50 }
    connectionPool: { http: { http2MaxRequests: 1 } }
`;
