// The normal form the round-trip tests compare in (src/export/canonical.ts) changes no request's outcome:
// checked with the sidecar's own route matcher (proxy/protocol/route-match.ts) over a grid of requests, and
// for authorization by the rules it keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRouteSpec, PolicyFile } from '../../src/config/mesh-schema.js';
import { anchoredRegex, canonicalPolicy, methodAlternatives } from '../../src/export/canonical.js';
import { compileRouteMatcher, routeRequestOf } from '../../proxy/protocol/route-match.js';
import type { MatchBlock } from '../../proxy/protocol/index.js';

/** The matcher's input: "present" ({}) is the regex .*, as the control plane writes it for the sidecars. */
function matcherOf(rules: HttpRouteSpec[]) {
  const blocks = (m: NonNullable<HttpRouteSpec['match']>) => JSON.parse(JSON.stringify(m), (_, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0 ? { regex: '.*' } : v)) as MatchBlock[];
  return compileRouteMatcher(rules.map((r, i) => ({ name: String(i), match: r.match?.length ? blocks(r.match) : [] })));
}

const RULES: HttpRouteSpec[] = [
  { name: 'or', match: [{ uri: { prefix: '/a' }, headers: { 'X-User': { prefix: 'ad' } } }, { uri: { regex: '/b/[0-9]+' } }], route: [{ destination: { subset: 'v1' } }] },
  { name: 'methods', match: [{ method: { regex: '^(GET|HEAD)$' }, queryParams: { q: {} } }], route: [{ destination: { subset: 'v2' } }] },
  { name: 'not-canary', match: [{ withoutHeaders: { 'x-canary': {} }, uri: { exact: '/c' } }], redirect: { uri: '/d' } },
  { name: 'all', match: [{ uri: { regex: '.*' } }, {}], route: [{ destination: {} }], timeout: '1s' },
  { name: 'unreachable', route: [{ destination: { subset: 'v3' } }] },
];

test('routes: the normal form picks the same action for every request, by the sidecar matcher', () => {
  const canon = canonicalPolicy({ routes: { api: RULES } }, ['api']).routes!.api!;
  assert.ok(canon.length > RULES.length - 1, 'the OR and the method alternation are split');
  assert.ok(!canon.some((r) => JSON.stringify(r).includes('"v3"')), 'the unreachable rule is dropped');
  const before = matcherOf(RULES);
  // The same grid without the catch-all pair, so "no rule matches" (the sidecar's 404) is exercised too.
  const partial = RULES.slice(0, 3);
  const pairs: [HttpRouteSpec[], HttpRouteSpec[]][] = [[RULES, canon], [partial, canonicalPolicy({ routes: { api: partial } }, ['api']).routes!.api!]];
  let compared = 0;
  for (const [orig, normal] of pairs) {
    const a = matcherOf(orig);
    const b = matcherOf(normal);
    const action = (rs: HttpRouteSpec[], i: number) => (i === -1 ? '404' : JSON.stringify({ ...rs[i], name: undefined, match: undefined }));
    for (const method of ['GET', 'HEAD', 'POST'])
      for (const path of ['/', '/a', '/ab/x', '/b/12', '/b/x', '/c', '/d'])
        for (const query of ['', '?q=1', '?r=2'])
          for (const headers of [{}, { 'x-user': 'admin' }, { 'x-user': 'bob' }, { 'x-canary': '1' }]) {
            const req = routeRequestOf(method, path + query, headers, { app: 'web', version: '' });
            assert.equal(action(normal, b.first(req)), action(orig, a.first(req)), `${method} ${path}${query} ${JSON.stringify(headers)}`);
            compared++;
          }
  }
  assert.ok(before.first(routeRequestOf('GET', '/zzz', {}, { app: 'web', version: '' })) === 3);
  assert.equal(compared, 2 * 3 * 7 * 3 * 4);
});

test('regexes: anchoring is recognised only when the outer group spans the whole pattern', () => {
  assert.equal(anchoredRegex('/v[0-9]+'), '^(?:/v[0-9]+)$');
  assert.equal(anchoredRegex('^(?:/v[0-9]+)$'), '^(?:/v[0-9]+)$');
  assert.equal(anchoredRegex('^(?:a)|(?:b)$'), '^(?:^(?:a)|(?:b)$)$', 'two groups, not one around everything');
  assert.equal(anchoredRegex('^(?:[)])$'), '^(?:[)])$', 'a parenthesis in a class is no group');
  assert.equal(anchoredRegex('^(?:a\\)$'), '^(?:^(?:a\\)$)$', 'an escaped parenthesis is no group');
  assert.deepEqual(methodAlternatives('^(GET|HEAD)$'), ['GET', 'HEAD']);
  assert.deepEqual(methodAlternatives('GET|POST'), ['GET', 'POST']);
  assert.equal(methodAlternatives('^G.T$'), null);
});

test('authorization: one ALLOW per service with atomic rules; allow-all and empty DENY drop out; mesh-wide spreads', () => {
  const policy: PolicyFile = {
    authorization: [
      { name: 'a', service: 'api', action: 'ALLOW', rules: [{ from: [{ source: { services: ['web', 'authors'] } }], to: [{ operation: { paths: ['/x', '/y*'], methods: ['GET'] } }] }] },
      { name: 'b', service: 'api', action: 'ALLOW' },
      { name: 'c', action: 'DENY', rules: [{ from: [{ source: { services: ['smiley'] } }] }] },
      { name: 'd', service: 'web', action: 'ALLOW', rules: [{}, { from: [{ source: { services: ['api'] } }] }] },
      { name: 'e', service: 'web', action: 'DENY' },
    ],
  };
  const out = canonicalPolicy(policy, ['api', 'web']).authorization!;
  const api = out.filter((p) => p.service === 'api');
  assert.deepEqual(api.map((p) => p.action), ['ALLOW', 'DENY']);
  assert.equal(api[0]!.rules!.length, 4, '2 callers × 2 paths, one method');
  assert.ok(api[0]!.rules!.every((r) => r.from!.length === 1 && r.from![0]!.source.services!.length === 1 && r.to![0]!.operation.paths!.length === 1));
  // web: the allow-all rule makes its ALLOW policies moot; the mesh-wide DENY applies; the rule-less DENY denies nothing.
  assert.deepEqual(out.filter((p) => p.service === 'web'), [{ name: 'web-deny', service: 'web', action: 'DENY', rules: [{ from: [{ source: { services: ['smiley'] } }] }] }]);
  // An ALLOW policy without rules alone: allows nobody, kept as such.
  assert.deepEqual(canonicalPolicy({ authorization: [{ name: 'x', service: 'api', action: 'ALLOW', rules: [] }] }, ['api']).authorization, [{ name: 'api-allow', service: 'api', action: 'ALLOW' }]);
});
