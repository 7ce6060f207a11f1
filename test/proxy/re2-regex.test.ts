// Route regexes are RE2, matched against the whole value, as Envoy's safe_regex runs them under Istio.
// The accepted examples come from Istio's own reference; each goes through a real sidecar. The refused
// ones (JavaScript-only syntax that would validate locally and break in production) are refused by
// `devmesh validate` and by the importer, with an error located at the field and naming RE2.
//
// Sources (facts, not code):
//  - istio/api networking/v1alpha3/virtual_service.proto @ 01bf2a645773a4f7c75058bea85dd3a1390d4a00,
//    HTTPMatchRequest.query_params: `regex: "\d+$"` "will only match values like "123" but not "a123" or "123a"".
//  - the same reference (and Istio's Bookinfo guides): header `cookie: regex: "^(.*?;)?(user=jason)(;.*)?$"`.
//  - istio/istio pkg/config/validation/validation.go @ 86c9f01fd73 (validateStringMatchRegexp): a regex
//    match must not be empty and is at most 1024 characters; it must compile as RE2.
//  - RE2 syntax (google/re2 wiki "Syntax"): `(?i)` flags, `\pL` Unicode classes, `[[:alpha:]]`, `(?P<name>re)`;
//    no lookahead/lookbehind `(?=` `(?!` `(?<=` `(?<!`, no backreferences `\1`, no possessive `a++`.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFullMatch, Re2SyntaxError, ROUTE_HEADER, type RouteRule } from '../../proxy/protocol/index.js';
import { re2Problem } from '../../src/mesh-semantics/regex.js';
import { importPolicy } from '../../src/import/import-policy.js';
import { CLI } from '../helpers/mesh-process.js';
import { testMesh } from '../import/helpers.js';
import { clientConfig, cluster, echoApp, endpoint, httpClient, route, SidecarProcess, startApp, tempHome, TestMesh } from './helpers.js';

/** [rule name, match, requests that must reach this rule, requests that must not]. */
type Case = { name: string; match: RouteRule['match'][number]; yes: Req[]; no: Req[] };
type Req = { path: string; headers?: Record<string, string> };

const CASES: Case[] = [
  {
    name: 'istio-query-digits',
    match: { queryParams: { key: { regex: '\\d+$' } } },
    yes: [{ path: '/q?key=123' }],
    no: [{ path: '/q?key=a123' }, { path: '/q?key=123a' }],
  },
  {
    name: 'istio-cookie-jason',
    match: { headers: { cookie: { regex: '^(.*?;)?(user=jason)(;.*)?$' } } },
    yes: [{ path: '/c', headers: { cookie: 'user=jason' } }, { path: '/c', headers: { cookie: 'theme=dark;user=jason;lang=en' } }],
    no: [{ path: '/c', headers: { cookie: 'user=jasonx' } }, { path: '/c', headers: { cookie: 'user=alice' } }],
  },
  {
    name: 'case-insensitive',
    match: { uri: { regex: '(?i)/hello' } },
    yes: [{ path: '/hello' }, { path: '/HeLLo' }],
    no: [{ path: '/hello/world' }, { path: '/say/hello' }],
  },
  {
    name: 'unicode-letters',
    match: { headers: { 'x-name': { regex: '\\pL+' } } },
    yes: [{ path: '/n', headers: { 'x-name': 'Alice' } }],
    no: [{ path: '/n', headers: { 'x-name': 'Alice1' } }],
  },
  {
    name: 'posix-class-named-group',
    match: { uri: { regex: '/users/(?P<user>[[:alpha:]]+)/orders/[[:digit:]]+' } },
    yes: [{ path: '/users/bob/orders/7' }],
    no: [{ path: '/users/bob/orders/seven' }],
  },
];

const REFUSED: Array<{ regex: string; names: RegExp }> = [
  { regex: '(?<=/api)/v1', names: /RE2 has no lookbehind/ },
  { regex: '/api(?!/internal).*', names: /RE2 has no lookahead/ },
  { regex: '/(a)\\1', names: /RE2 has no backreferences/ },
  { regex: '/a++', names: /RE2 has no possessive quantifiers/ },
  { regex: '', names: /must not be empty/ },
  { regex: `/${'a'.repeat(1024)}`, names: /at most 1024/ },
];

describe('RE2 regexes', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('accepts what RE2 accepts and matches the whole value, like Envoy safe_regex', () => {
    for (const c of CASES) for (const m of Object.values({ ...c.match.uri && { u: c.match.uri }, ...c.match.headers, ...c.match.queryParams })) {
      assert.equal(re2Problem((m as { regex: string }).regex), null, c.name);
    }
    assert.equal(compileFullMatch('a|ab')('ab'), true, 'full match tries every alternative');
    assert.equal(compileFullMatch('/api')('/api/v1'), false, 'no substring match');
    for (const r of REFUSED) {
      const problem = re2Problem(r.regex);
      assert.ok(problem?.startsWith('RE2'), `${JSON.stringify(r.regex)}: ${problem}`);
      assert.match(problem!, r.names);
      // The sidecar's engine refuses the same syntax (a NACK if such a config ever reached it).
      if (/RE2 has no/.test(problem!)) assert.throws(() => compileFullMatch(r.regex), (e: unknown) => e instanceof Re2SyntaxError && /^RE2 refuses regex/.test(e.message));
    }
  });

  it("routes Istio's reference regex examples through a real sidecar", async (t) => {
    const app = await startApp(t, echoApp('web-v1'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const dest = [{ service: 'web', subset: 'v1', weight: 100 }];
    const applied = await sidecar.apply(
      clientConfig({
        tls: mesh.tls('client'),
        service: 'client',
        outbound: [{ service: 'web', port: 0, routes: [...CASES.map((c) => route({ name: c.name, match: [c.match], destinations: dest })), route({ name: 'fallback', destinations: dest })] }],
        clusters: [cluster('web', [endpoint('web', 'v1', app.port)], false)],
      }),
    );
    const url = `http://127.0.0.1:${applied.outbound.web}`;
    const get = httpClient(t);
    for (const c of CASES) {
      for (const r of c.yes) assert.equal((await get(`${url}${r.path}`, { headers: r.headers })).headers[ROUTE_HEADER], c.name, `${c.name}: ${JSON.stringify(r)} matches`);
      for (const r of c.no) assert.notEqual((await get(`${url}${r.path}`, { headers: r.headers })).headers[ROUTE_HEADER], c.name, `${c.name}: ${JSON.stringify(r)} does not match`);
    }
  });

  it('a regex RE2 refuses is a located validation error naming RE2, from devmesh validate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'devmesh-test-re2-'));
    const lines = REFUSED.map((r, i) => `    - match: [{ headers: { x-case-${i}: { regex: ${JSON.stringify(r.regex)} } } }]\n      route: [{ destination: { host: a } }]`);
    writeFileSync(join(dir, 'devmesh.yaml'), `name: s\nservices:\n  a: { run: x }\nroutes:\n  a:\n${lines.join('\n')}\n`);
    const out = spawnSync(process.execPath, [CLI, 'validate'], { cwd: dir, encoding: 'utf8' });
    assert.equal(out.status, 1, out.stdout);
    REFUSED.forEach((r, i) => {
      const line = 6 + i * 2;
      const where = new RegExp(`devmesh\\.yaml:${line}:\\d+: routes\\.a\\[${i}\\]\\.match\\[0\\]\\.headers\\.x-case-${i}\\.regex: RE2`);
      assert.match(out.stderr, where, `case ${i} located`);
    });
    for (const r of REFUSED) assert.match(out.stderr, r.names);
  });

  it('the importers accept Istio regexes ((?i), \\pL) and refuse the others at the field, naming RE2', () => {
    const mesh = testMesh();
    const vs = (regex: string, where: 'uri' | 'header') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - match:
    - ${where === 'uri' ? `uri: { regex: ${JSON.stringify(regex)} }` : `headers: { cookie: { regex: ${JSON.stringify(regex)} } }`}
    route:
    - destination: { host: reviews, subset: v2 }
`;
    for (const regex of ['(?i)/reviews/[0-9]+', '\\pL+/x']) {
      const r = importPolicy([{ name: 'vs.yaml', text: vs(regex, 'uri') }], { mesh });
      assert.equal(r.report.entries.filter((e) => e.outcome === 'invalid').length, 0, regex);
      assert.deepEqual(r.policy.routes?.reviews?.[0]?.match, [{ uri: { regex } }]);
    }
    for (const { regex, names } of REFUSED) {
      for (const where of ['uri', 'header'] as const) {
        const r = importPolicy([{ name: 'vs.yaml', text: vs(regex, where) }], { mesh });
        const invalid = r.report.entries.filter((e) => e.outcome === 'invalid');
        assert.equal(invalid.length, 1, `${regex} in ${where}`);
        assert.equal(invalid[0]!.path, where === 'uri' ? 'spec.http[0].match[0].uri.regex' : 'spec.http[0].match[0].headers.cookie.regex');
        assert.equal(invalid[0]!.line, 8);
        assert.match(invalid[0]!.detail, /^RE2/);
        assert.match(invalid[0]!.detail, names);
      }
    }
    const gw = importPolicy(
      [
        {
          name: 'route.yaml',
          text: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules:
  - matches:
    - headers: [{ type: RegularExpression, name: x-v, value: "(?<=a)b" }]
    backendRefs: [{ name: reviews, port: 9080 }]
`,
        },
      ],
      { mesh },
    );
    const invalid = gw.report.entries.filter((e) => e.outcome === 'invalid');
    assert.deepEqual(invalid.map((e) => e.path), ['spec.rules[0].matches[0].headers[0].value']);
    assert.match(invalid[0]!.detail, /^RE2 refuses regex "\(\?<=a\)b".*lookbehind/);
    const grpc = importPolicy(
      [{ name: 'grpc.yaml', text: `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews }]
  rules:
  - matches:
    - method: { type: RegularExpression, service: '(?i)reviews\\.v[0-9]+', method: '(?!Delete).*' }
    backendRefs: [{ name: reviews, port: 9080 }]
` }],
      { mesh },
    );
    const bad = grpc.report.entries.filter((e) => e.outcome === 'invalid');
    assert.deepEqual(bad.map((e) => [e.path, e.line]), [['spec.rules[0].matches[0].method', 8]]);
    assert.match(bad[0]!.detail, /^RE2 refuses regex "\(\?!Delete\)\.\*".*lookahead/);
  });
});
