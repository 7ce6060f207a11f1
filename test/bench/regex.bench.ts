// The route-matching path with each regex engine, in one run: JavaScript's RegExp (what devmesh used
// before), re2js (pure-JS RE2, what the sidecar uses) and, when it is installed, re2 (the C++ RE2 binding).
// The same rules and requests go through compileRouteMatcher with each engine; the figures are requests
// matched per second and the ratio to RegExp. It prints, it does not assert: timings depend on the machine.
//   npm run build && node dist/test/bench/regex.bench.js [seconds-per-engine]
// The native binding is not a dependency (see README, "Dependencies and why"); to measure it, install it
// anywhere and point RE2_MODULE at it: RE2_MODULE=/tmp/re2try/node_modules/re2 node dist/test/bench/regex.bench.js
import { createRequire } from 'node:module';
import { compileRouteMatcher, routeRequestOf, type FullMatchEngine } from '../../proxy/protocol/index.js';
import type { RouteRule } from '../../proxy/protocol/index.js';

const SECONDS = Number(process.argv[2] ?? 2);

// Rules like an API gateway's: regex paths (Istio's reference examples among them), regex headers, a catch-all.
const rules: Pick<RouteRule, 'name' | 'match'>[] = [
  { name: 'ratings-by-id', match: [{ uri: { regex: '^/ratings/v[0-9]+/[0-9]+$' } }] },
  { name: 'users-ci', match: [{ uri: { regex: '(?i)/users/[a-z0-9_-]+/profile' } }] },
  { name: 'static', match: [{ uri: { regex: '/static/.*\\.(css|js|png|svg)' } }] },
  { name: 'canary-header', match: [{ headers: { 'x-canary': { regex: '(?i)true|yes|1' } }, uri: { prefix: '/api' } }] },
  { name: 'mobile', match: [{ headers: { 'user-agent': { regex: '.*(Android|iPhone).*' } } }] },
  { name: 'orders', match: [{ uri: { regex: '/orders/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' }, method: { regex: 'GET|HEAD' } }] },
  { name: 'query', match: [{ queryParams: { version: { regex: 'v[12]' } } }] },
  { name: 'default', match: [] },
];
const source = { app: 'bench', version: '' };
const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const requests = [
  routeRequestOf('GET', '/ratings/v1/42', { host: 'ratings' }, source),
  routeRequestOf('GET', '/Users/alice_1/Profile', { host: 'users' }, source),
  routeRequestOf('GET', '/static/css/site.css', { host: 'web' }, source),
  routeRequestOf('POST', '/api/cart', { host: 'web', 'x-canary': 'Yes' }, source),
  routeRequestOf('GET', '/home', { host: 'web', 'user-agent': 'Mozilla/5.0 (Linux; Android 14)' }, source),
  routeRequestOf('GET', '/orders/0f8fad5b-d9cb-469f-a165-70867728950e', { host: 'orders', 'user-agent': ua }, source),
  routeRequestOf('GET', '/search?q=mesh&version=v2', { host: 'web', 'user-agent': ua }, source),
  routeRequestOf('GET', '/nothing/matches/here/at/all', { host: 'web', 'user-agent': ua }, source),
];

const engines: Array<{ name: string; engine: FullMatchEngine }> = [
  {
    name: 'JavaScript RegExp',
    engine: (p) => {
      const re = new RegExp(`^(?:${p.replace(/^\(\?i\)/, '')})$`, p.startsWith('(?i)') ? 'i' : '');
      return (v) => re.test(v);
    },
  },
  { name: 're2js (sidecar)', engine: undefined as unknown as FullMatchEngine },
];
const re2Path = process.env.RE2_MODULE;
if (re2Path) {
  type Re2Ctor = new (pattern: string) => { test(s: string): boolean };
  const RE2 = createRequire(import.meta.url)(re2Path) as Re2Ctor;
  engines.push({ name: 're2 (C++ binding)', engine: (p) => { const re = new RE2(`^(?:${p})$`); return (v) => re.test(v); } });
} else console.log('re2 (C++ binding): not measured (set RE2_MODULE to an installed re2 package to include it)');

function measure(engine: FullMatchEngine | undefined): { perSecond: number; matched: number[] } {
  const matcher = engine ? compileRouteMatcher(rules, engine) : compileRouteMatcher(rules);
  const matched = requests.map((r) => matcher.first(r));
  for (let i = 0; i < 20_000; i++) matcher.first(requests[i % requests.length]!); // warm up
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) matcher.first(requests[i % requests.length]!);
    n += 1000;
  }
  return { perSecond: n / SECONDS, matched };
}

const results = engines.map((e) => ({ name: e.name, ...measure(e.engine) }));
const base = results[0]!;
for (const r of results) {
  if (r.matched.join() !== base.matched.join()) throw new Error(`${r.name} matched rules ${r.matched.join()} where RegExp matched ${base.matched.join()}`);
}
console.log(`route matching, ${rules.length} rules, ${requests.length} requests in turn, ${SECONDS}s per engine (node ${process.version})`);
for (const r of results) {
  console.log(`${r.name.padEnd(20)} ${Math.round(r.perSecond).toLocaleString('en').padStart(12)} requests/s  ${(r.perSecond / base.perSecond).toFixed(2)}× RegExp  (${(1e6 / r.perSecond).toFixed(2)} µs/request)`);
}
