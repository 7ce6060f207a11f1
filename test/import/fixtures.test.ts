// Every file of shared/fixtures (Istio, Gateway API, Linkerd, Consul) imported, with what it maps to
// and what the report says. A test at the end checks that no mesh-policy fixture was left untested.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { importPolicy } from '../../src/import/import-policy.js';
import { formatReport } from '../../src/import/report.js';
import { assertFits, entries, FIXTURES, importFixture, testMesh } from './helpers.js';

const tested = new Set<string>();
function imp(path: string, opts: Parameters<typeof importFixture>[1] = {}) {
  tested.add(path);
  return importFixture([path], opts);
}

// ---- Istio ----

test('istio: reviews jason → v2, others → v3; absent retries stay absent (Istio default)', () => {
  const r = imp('istio/bookinfo-vs-reviews-jason-v2-v3.yaml');
  assert.deepEqual(r.policy.routes?.reviews, [
    { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { subset: 'v2' } }] },
    { route: [{ destination: { subset: 'v3' } }] },
  ]);
  assert.equal(r.report.counts.invalid + r.report.counts.ignored + r.report.counts.approximated, 0);
  assertFits(r);
});

test('istio: 80/20 weights', () => {
  const r = imp('istio/bookinfo-vs-reviews-80-20.yaml');
  assert.deepEqual(r.policy.routes?.reviews, [{ route: [{ destination: { subset: 'v1' }, weight: 80 }, { destination: { subset: 'v2' }, weight: 20 }] }]);
});

test('istio: ratings delay and abort faults scoped to end-user jason', () => {
  const d = imp('istio/bookinfo-vs-ratings-test-delay.yaml');
  assert.deepEqual(d.policy.routes?.ratings?.[0]?.fault, { delay: { fixedDelay: '7s', percentage: { value: 100 } } });
  assert.deepEqual(d.policy.routes?.ratings?.[0]?.match, [{ headers: { 'end-user': { exact: 'jason' } } }]);
  const a = imp('istio/bookinfo-vs-ratings-test-abort.yaml');
  assert.deepEqual(a.policy.routes?.ratings?.[0]?.fault, { abort: { httpStatus: 500, percentage: { value: 100 } } });
  assert.deepEqual(a.policy.routes?.ratings?.[1], { route: [{ destination: { subset: 'v1' } }] });
});

test('istio: unconditional abort 555 on details, with its DestinationRule', () => {
  const r = imp('istio/bookinfo-fault-injection-details-v1.yaml');
  assert.deepEqual(r.policy.routes?.details?.[0], { fault: { abort: { httpStatus: 555, percentage: { value: 100 } } }, route: [{ destination: { subset: 'v1' } }] });
  assert.equal(entries(r, { kind: 'DestinationRule', path: 'spec.subsets[0]', outcome: 'mapped' }).length, 1);
});

test('istio: DestinationRule subsets map by the version label; unknown versions are reported', () => {
  const r = imp('istio/bookinfo-dr-all.yaml');
  assert.equal(r.report.documents.length, 4);
  const ratings = entries(r, { name: 'ratings' });
  assert.ok(ratings.every((e) => e.outcome === 'mapped'), JSON.stringify(ratings));
  const productpage = entries(r, { name: 'productpage', path: 'spec.subsets[0]' });
  assert.equal(productpage[0]?.outcome, 'approximated');
  assert.match(productpage[0]!.detail, /no versions locally/);
  const mtls = imp('istio/bookinfo-dr-all-mtls.yaml');
  assert.match(entries(mtls, { name: 'reviews', path: 'spec.trafficPolicy.tls' })[0]!.detail, /always talk mTLS/);
});

test('istio: a Gateway-bound VirtualService applies only at the ingress; the Gateway is reported as ingress', () => {
  const r = imp('istio/bookinfo-gateway.yaml');
  const rules = r.policy.routes!.productpage!;
  assert.equal(rules[0]!.match!.length, 5);
  assert.ok(rules[0]!.match!.every((m) => m.sourceLabels?.app === 'ingress'));
  assert.deepEqual(rules[1], { name: 'ingress-no-match', match: [{ sourceLabels: { app: 'ingress' } }], directResponse: { status: 404 } });
  assert.deepEqual(rules[2]!.route, [{ destination: { host: 'productpage' } }]);
  assert.match(entries(r, { kind: 'VirtualService', path: 'spec.gateways' })[0]!.detail, /only .*ingress/);
  assert.deepEqual(r.ingress, [{ service: 'productpage', port: 8080, from: 'Gateway bookinfo-gateway' }]);
  assertFits(r);
});

test('istio: ServiceEntry → external, port-80 match reported, TLS origination turns the URL to https', () => {
  const r = imp('istio/bookinfo-egress-google-apis.yaml');
  assert.deepEqual(r.policy.external, { googleapis: { url: 'https://www.googleapis.com' } });
  assert.equal(entries(r, { path: 'spec.http[0].match[0].port', outcome: 'approximated' }).length, 1);
  assert.deepEqual(r.policy.policies?.googleapis, { loadBalancer: { simple: 'ROUND_ROBIN' } });
  assertFits(r);
});

test('istio: circuit breaking, outlier detection and per-subset consistent hash', () => {
  const r = imp('istio/testcfg-destination-rule-all.yaml');
  const p = r.policy.policies?.destall;
  assert.deepEqual(p?.connectionPool, { tcp: { maxConnections: 99, connectTimeout: '6s' }, http: { http2MaxRequests: 33, maxRequestsPerConnection: 65, maxRetries: 4, http1MaxPendingRequests: 14 } });
  assert.deepEqual(p?.outlierDetection, { interval: '8ms', baseEjectionTime: '1m', maxEjectionPercent: 11 });
  assert.deepEqual(r.policy.external, { destall: { url: 'http://127.0.0.2:7072' } });
  assert.match(entries(r, { path: 'spec.subsets[1]' })[0]!.detail, /external destinations have no versions/);
  // The same DestinationRule for a local service: the per-subset policy applies to its version.
  const local = importFixture(['istio/testcfg-destination-rule-all.yaml'], { map: { 'destall.default.svc.cluster.local': 'service3' } });
  assert.match(entries(local, { kind: 'ServiceEntry', path: 'spec.hosts[0]' })[0]!.detail, /local service service3/);
  assert.deepEqual(local.policy.policies?.service3?.subsets, { v2: { loadBalancer: { consistentHash: { httpCookie: { name: 'Cookie', ttl: '30s' } } } } });
  assert.equal(entries(local, { path: 'spec.subsets[1].trafficPolicy.loadBalancer.consistentHash.minimumRingSize', outcome: 'ignored' }).length, 1);
});

test('istio: header regex + sourceLabels version, fallthrough default', () => {
  const r = imp('istio/testcfg-rule-regex-route.yaml');
  const rules = r.policy.routes?.['regex-extsvc'];
  assert.deepEqual(rules?.[0]?.match, [{ headers: { foo: { regex: 'b.*' } }, sourceLabels: { version: 'v1' } }]);
  assert.equal(rules?.length, 2);
  assert.match(entries(r, { path: 'spec.endpoints' })[0]!.detail, /first endpoint/);
});

test('istio: VirtualService with several hosts and gateways incl. mesh; unmapped hosts get reported', () => {
  const r = imp('istio/testcfg-virtual-service-all.yaml');
  assert.deepEqual(r.policy.routes?.service3?.[1]?.route, [{ destination: { subset: 'v1' }, weight: 80 }, { destination: { subset: 'v2' }, weight: 20 }]);
  assert.deepEqual(r.report.unmappedHosts.map((h) => h.host), ['uk.bookinfo.com', 'eu.bookinfo.com']);
  assert.match(entries(r, { path: 'spec.gateways' })[0]!.detail, /mesh, and gateways my-gateway/);
});

test('istio: corsPolicy is reported as ignored, with the reason', () => {
  const r = imp('istio/testcfg-rule-cors-policy.yaml');
  assert.match(entries(r, { path: 'spec.http[0].corsPolicy', outcome: 'ignored' })[0]!.detail, /CORS/);
  assert.deepEqual(r.policy.routes?.cors, [{ route: [{ destination: {} }] }]);
});

test('istio: Sidecar reported; ServiceEntry variants: wildcard, unix socket, TCP-only and internal ones ignored', () => {
  const r = imp('istio/testcfg-se-example.yaml');
  assert.equal(entries(r, { kind: 'Sidecar', outcome: 'ignored' }).length, 1);
  assert.match(entries(r, { name: 'external-svc-wildcard-example', path: 'spec.hosts[0]' })[0]!.detail, /wildcard/);
  assert.match(entries(r, { name: 'unix-domain-socket-example', path: 'spec.hosts[0]' })[0]!.detail, /unix/);
  assert.match(entries(r, { name: 'external-svc-mongocluster', path: 'spec.hosts[0]' })[0]!.detail, /no HTTP/);
  assert.equal(r.policy.external?.['external-svc-dns']?.url, 'http://us.foo.bar.com:8080');
  assert.equal(r.policy.external?.['api-dropboxapi-com']?.url, 'https://api.dropboxapi.com');
  assert.equal(entries(r, { name: 'tls-routing', path: 'spec.tls', outcome: 'ignored' }).length, 1);
});

test('istio: AuthorizationPolicy with every field maps what applies locally and says what it drops', () => {
  const r = imp('istio/validation-authz-valid.yaml');
  const full = r.policy.authorization?.find((p) => p.name === 'full');
  assert.equal(full?.service, 'httpbin');
  const src = full!.rules![0]!.from![0]!.source;
  assert.deepEqual(src.namespaces, ['ns', 'ns-prefix-*', '*-ns-suffix', '*']);
  assert.deepEqual(full!.rules![0]!.to![0]!.operation.ports, ['80', '90']);
  assert.match(entries(r, { path: 'spec.rules[0].from[0].source.requestPrincipals' })[0]!.detail, /JWT/);
  assert.match(entries(r, { path: 'spec.rules[0].from[0].source.ipBlocks' })[0]!.detail, /127\.0\.0\.1/);
  assert.ok(full!.rules![0]!.when!.some((w) => w.key === 'request.headers[X-header]'));
  assert.ok(!full!.rules![0]!.when!.some((w) => w.key.startsWith('request.auth')));
  const split = r.policy.authorization?.find((p) => p.name === 'service-account-and-namespace-principal-split');
  assert.deepEqual(split?.rules?.[0]?.from?.[2], { source: { namespaces: ['bar'] } });
});

test('istio: invalid AuthorizationPolicies and PeerAuthentications fail with file, document index and field path', () => {
  const a = imp('istio/validation-authz-invalid.yaml');
  const inv = entries(a, { outcome: 'invalid' });
  assert.deepEqual(inv.map((e) => [e.document, e.path]), [[0, 'spec.rules[0].from[0].source'], [1, 'spec.rules[0].from[0].source']]);
  assert.ok(inv.every((e) => e.detail === 'Cannot set serviceAccounts with namespaces or principals' && e.file.endsWith('validation-authz-invalid.yaml') && typeof e.line === 'number'));
  const p = imp('istio/validation-peerauth-invalid.yaml');
  const pin = entries(p, { outcome: 'invalid' });
  // Each document's _err expectation, in order.
  const expected = ['Unsupported value: "BLAH"', 'type conversion error from', 'portLevelMtls requires selector', 'spec.portLevelMtls in body should have at least 1 properties', 'port must be between 1-65535', 'port must be between 1-65535'];
  assert.deepEqual(pin.map((e) => e.document), [0, 1, 2, 3, 4, 5]);
  pin.forEach((e, i) => assert.ok(e.detail.includes(expected[i]!), `${e.detail} should say ${expected[i]}`));
  assert.deepEqual(pin.map((e) => e.path), ['spec.mtls.mode', 'spec.portLevelMtls.acd', 'spec.portLevelMtls', 'spec.portLevelMtls', 'spec.portLevelMtls["0"]', 'spec.portLevelMtls["42949672"]']);
  assert.equal(p.policy.serviceMtls, undefined);
});

test('istio: valid PeerAuthentications: per-port STRICT on PERMISSIVE; an empty selector inherits', () => {
  const r = imp('istio/validation-peerauth-valid.yaml');
  assert.match(entries(r, { name: 'full', path: 'spec.selector' })[0]!.detail, /selects no local service/);
  assert.match(entries(r, { name: 'partial-selector' })[0]!.detail, /UNSET: inherits/);
  const mapped = importFixture(['istio/validation-peerauth-valid.yaml'], { map: { bar: 'httpbin' } });
  void mapped;
});

test('istio: DENY before ALLOW by principal; rules [{}] allows all; HTTP-only attributes on TCP', () => {
  const d = imp('istio/authz-deny-and-allow.yaml');
  assert.deepEqual(d.policy.authorization?.map((p) => [p.name, p.action, p.service]), [['httpbin-deny', 'DENY', undefined], ['httpbin-allow', 'ALLOW', undefined]]);
  assert.match(entries(d, { path: 'spec.rules[0].from[0].source.principals' })[0]!.detail, /kept as written/);
  const e = imp('istio/authz-allow-empty-rule.yaml');
  assert.deepEqual(e.policy.authorization, [{ name: 'allow-all', action: 'ALLOW', service: 'httpbin', rules: [{}] }]);
  const t = imp('istio/authz-tcp-allow-only-http.yaml');
  assert.deepEqual(t.policy.authorization?.[0]?.rules?.[0]?.to, [{ operation: { methods: ['GET'] } }]);
  assert.match(entries(t, { path: 'spec.rules[0].from[0].source.requestPrincipals' })[0]!.detail, /JWT/);
});

test('istio: nine ALLOW policies; selectors without an app label are reported', () => {
  const r = imp('istio/authz-multiple-policies.yaml');
  assert.equal(r.report.documents.length, 9);
  assert.equal(r.policy.authorization?.length, 8);
  assert.match(entries(r, { name: 'httpbin-3', path: 'spec.selector' })[0]!.detail, /selects no local service/);
  assert.deepEqual(r.policy.authorization?.find((p) => p.name === 'httpbin-9')?.rules, [{ when: [{ key: 'request.headers[X-abc]', values: ['abc1', 'abc2'] }] }]);
  assert.match(entries(r, { name: 'httpbin-1', path: 'spec.selector.matchLabels.version' })[0]!.detail, /every version/);
});

test('istio: analyzer inputs: mirror, delay, duplicate matches, TCP and TLS routes', () => {
  const r = imp('istio/analyzer-vs-dupmatches.yaml');
  const rules = r.policy.routes?.sample;
  assert.ok(rules?.some((x) => x.fault?.delay?.fixedDelay === '5s'));
  assert.ok(rules?.some((x) => x.mirror !== undefined));
  assert.equal(entries(r, { path: 'spec.tcp', outcome: 'ignored' }).length, 3);
  assert.match(entries(r, { name: 'tls-routing', path: 'spec.hosts' })[0]!.detail, /no host maps/);
  const o = imp('istio/analyzer-vs-overlappingmatches.yaml');
  assert.equal(o.report.counts.invalid, 0);
  assert.deepEqual(o.policy.routes?.sample?.[0]?.match?.[1], { uri: { prefix: '/api/v1/products' }, method: { exact: 'GET' } });
});

// ---- Gateway API ----

test('gateway-api: header matching, ordered by precedence (most headers first)', () => {
  const r = imp('gateway-api/httproute-header-matching.yaml');
  const rules = r.policy.routes!.productpage!.filter((x) => x.route);
  assert.deepEqual(rules[0]!.match![0]!.headers, { version: { exact: 'two' }, color: { exact: 'orange' } });
  assert.equal(rules.length, 8, 'one rule per match, five rules with 1+1+1+2+2 matches and the mesh default');
  assert.ok(rules.slice(0, 7).every((x) => x.retries?.attempts === 0));
  assertFits(r);
});

test('gateway-api: method matching precedence: path beats method beats headers', () => {
  const r = imp('gateway-api/httproute-method-matching.yaml');
  const names = r.policy.routes!.productpage!.map((x) => x.name);
  assert.deepEqual(names.slice(0, 5), ['method-matching.4', 'method-matching.5.1', 'method-matching.2', 'method-matching.5.0', 'method-matching.6']);
  assert.ok(names.indexOf('method-matching.7') < names.indexOf('method-matching.8'), 'method before header');
});

test('gateway-api: routes on one parent merge across resources, each matched on its own hostnames', () => {
  const r = imp('gateway-api/httproute-matching-across-routes.yaml');
  const names = r.policy.routes!.productpage!.map((x) => x.name);
  assert.equal(names[0], 'matching-part2.0.0', '/v2 is a longer prefix than /');
  const hostsOf = (name: string) => [...new Set(r.policy.routes!.productpage!.filter((x) => x.name === name).flatMap((x) => x.match!.map((m) => JSON.stringify(m.authority))))];
  assert.deepEqual(hostsOf('matching-part2.0.0'), ['{"exact":"example.com"}']);
  assert.deepEqual(hostsOf('matching-part1.0.0'), ['{"exact":"example.com"}', '{"exact":"example.net"}']);
  assert.equal(entries(r, { path: 'spec.hostnames', outcome: 'mapped' }).length, 2);
});

test('gateway-api: backend weights 10/10 → 50/50 with per-backend header filters', () => {
  const r = imp('gateway-api/httproute-request-header-modifier-backend-weights.yaml');
  const route = r.policy.routes!.productpage![0]!.route!;
  assert.deepEqual(route.map((d) => [d.destination.host, d.weight, d.headers?.request?.set]), [['infra-backend-v1', 50, { Backend: 'infra-backend-v1' }], ['infra-backend-v2', 50, { Backend: 'infra-backend-v2' }]]);
});

test('gateway-api: URL rewrites replace whole path segments, incl. a "/" prefix replacement', () => {
  const r = imp('gateway-api/httproute-rewrite-path.yaml');
  const rules = (name: string) => r.policy.routes!.productpage!.filter((x) => x.name === name).map((x) => [x.match?.[0]?.uri, x.rewrite]);
  // A PathPrefix is the exact path or the paths under it; the replacement keeps the slash for the latter.
  assert.deepEqual(rules('rewrite-path.0'), [[{ exact: '/prefix/one' }, { uri: '/one' }], [{ prefix: '/prefix/one/' }, { uri: '/one/' }]]);
  assert.deepEqual(rules('rewrite-path.1'), [[{ exact: '/strip-prefix' }, { uri: '/' }], [{ prefix: '/strip-prefix/' }, { uri: '/' }]]);
  const byName = Object.fromEntries(r.policy.routes!.productpage!.map((x) => [x.name, x]));
  assert.deepEqual(byName['rewrite-path.3']?.headers?.request, { set: { 'X-Header-Set': 'set-overwrites-values' }, add: { 'X-Header-Add': 'header-val-1', 'X-Header-Add-Append': 'header-val-2' }, remove: ['X-Header-Remove'] });
  assert.equal(entries(r, { path: 'spec.rules[1].filters[0]' })[0]!.outcome, 'mapped');
});

test('gateway-api: redirects with scheme/port defaults and status 302', () => {
  const r = imp('gateway-api/httproute-redirect-port-and-scheme.yaml');
  const red = r.policy.routes!.productpage!.filter((x) => x.redirect).map((x) => x.redirect);
  assert.ok(red.some((x) => x?.scheme === 'https' && x.port === 443 && x.redirectCode === 302 && x.authority === 'example.org'));
  assert.ok(red.some((x) => x?.scheme === undefined && x?.port === undefined));
  assert.equal(entries(r, { kind: 'Gateway' })[0]!.outcome, 'approximated');
});

test('gateway-api: request mirror with percent and fraction', () => {
  const r = imp('gateway-api/httproute-request-percentage-mirror.yaml');
  const m = r.policy.routes!.productpage!.filter((x) => x.mirror).map((x) => [x.mirror!.host, x.mirrorPercentage?.value]);
  assert.deepEqual(m.sort(), [['infra-backend-v2', 20], ['infra-backend-v2', 35], ['infra-backend-v2', 50]]);
});

test('gateway-api: retry with timeouts and backend-request timeouts ("0s" disables)', () => {
  const r = imp('gateway-api/httproute-retry-with-timeouts.yaml');
  const rules = r.policy.routes!.productpage!;
  const a = rules.find((x) => x.name === 'retries-with-timeouts.0');
  assert.deepEqual(a?.retries, { attempts: 2, retryOn: 'connect-failure,refused-stream,reset,unavailable,cancelled,500,502,503,504', perTryTimeout: '200ms' });
  const b = rules.find((x) => x.name === 'retries-with-timeouts.1');
  assert.equal(b?.timeout, '400ms');
  assert.equal(b?.retries?.retryOn, 'connect-failure,refused-stream,reset,unavailable,cancelled,500');
  const t = imp('gateway-api/httproute-timeout-backend-request.yaml');
  const tr = t.policy.routes!.productpage!;
  assert.equal(tr.find((x) => x.name === 'backend-request-timeout.0')?.timeout, '500ms');
  assert.equal(tr.find((x) => x.name === 'backend-request-timeout.1')?.timeout, undefined);
});

test('gateway-api: GRPCRoute header matching', () => {
  const r = imp('gateway-api/grpcroute-header-matching.yaml');
  assert.equal(r.report.counts.invalid, 0);
  assert.equal(r.policy.routes!.productpage![0]!.route![0]!.destination.host, 'grpc-infra-backend-v1');
});

test('gateway-api: GAMMA mesh split: Services echo-v1/echo-v2 map to versions of echo', () => {
  const r = imp('gateway-api/mesh-split.yaml');
  assert.deepEqual(r.policy.routes?.echo, [
    { name: 'mesh-split.0', match: [{ uri: { exact: '/v1' } }], route: [{ destination: { subset: 'v1' } }], retries: { attempts: 0 } },
    { name: 'mesh-split.1', match: [{ uri: { exact: '/v2' } }], route: [{ destination: { subset: 'v2' } }], retries: { attempts: 0 } },
  ]);
  assertFits(r);
});

// ---- Linkerd ----

test('linkerd: HTTPRoute on a Service: header A/B', () => {
  const r = imp('linkerd/docs-httproute-header-ab.yaml');
  assert.deepEqual(r.policy.routes?.smiley?.map((x) => [x.match, x.route]), [
    [[{ headers: { 'x-faces-user': { exact: 'testuser' } } }], [{ destination: { host: 'smiley2' } }]],
    [undefined, [{ destination: {} }]],
  ]);
});

test('linkerd: retry and timeout annotations', () => {
  const r = imp('linkerd/docs-httproute-retry-annotations.yaml');
  assert.deepEqual(r.policy.routes?.schlep?.[0]?.retries, { attempts: 2, retryOn: '5xx', perTryTimeout: '300ms' });
  const t = imp('linkerd/docs-httproute-timeout-annotations.yaml');
  assert.equal(t.policy.routes?.schlep?.[0]?.timeout, '1s');
  assert.equal(entries(t, { path: 'metadata.annotations["timeout.linkerd.io/response"]' })[0]!.outcome, 'approximated');
});

test('linkerd: Servers and ServerAuthorizations with --map for the -svc app labels', () => {
  const map = { 'emoji-svc': 'emoji', 'voting-svc': 'voting', 'web-svc': 'web' };
  const r = imp('linkerd/emojivoto-policy.yaml', { map });
  const byName = Object.fromEntries(r.policy.authorization!.map((p) => [`${p.name}/${p.service}`, p]));
  assert.deepEqual(byName['internal-grpc/emoji']?.rules, [{ from: [{ source: { services: ['web'] } }] }]);
  assert.deepEqual(byName['web-public/web']?.rules, [{}]);
  assert.match(entries(r, { name: 'prom', path: 'spec.port' })[0]!.detail, /admin\/metrics/);
  const unmapped = imp('linkerd/emojivoto-policy.yaml');
  assert.ok(unmapped.report.unmappedHosts.some((h) => h.host === 'emoji-svc' && h.suggestion === '--map emoji-svc=emoji'));
  const t = imp('linkerd/test-emoji-policy.yaml', { map });
  assert.ok(t.policy.authorization?.some((p) => p.name === 'emoji-grpc' && JSON.stringify(p.rules).includes('linkerd-stat-authz-test')));
});

test('linkerd: emojivoto\'s policy, every resource selecting -svc apps that are not local, counts 9 ignored and nothing mapped; with --map it maps', () => {
  const r = imp('linkerd/emojivoto-policy.yaml');
  assert.deepEqual(r.report.counts, { mapped: 0, approximated: 0, ignored: 9, invalid: 0 });
  // No line claims an effect: what a ServerAuthorization would allow is moot when its Server selects nothing.
  assert.deepEqual(r.report.fieldCounts, { mapped: 0, approximated: 0, ignored: 14, invalid: 0 });
  assert.equal(r.policy.authorization, undefined);
  assert.match(entries(r, { name: 'web-public', path: 'spec.client.unauthenticated' })[0]!.detail, /^any caller \(not applied: spec\.client is not mapped\)$/);
  assert.match(formatReport(r.report), /^9 resources: 0 mapped, 0 approximated, 9 ignored, 0 invalid\nfields: 0 mapped, 0 approximated, 14 not mapped, 0 invalid$/m);
  const m = imp('linkerd/emojivoto-policy.yaml', { map: { 'emoji-svc': 'emoji', 'voting-svc': 'voting', 'web-svc': 'web' } });
  const outcome = Object.fromEntries(m.report.documents.map((d) => [`${d.kind}/${d.name}`, d.outcome]));
  assert.deepEqual(outcome, {
    'Server/emoji-grpc': 'mapped', 'Server/voting-grpc': 'mapped', 'ServerAuthorization/internal-grpc': 'mapped', 'Server/web-http': 'mapped',
    'ServerAuthorization/web-public': 'approximated', // networks are not checked locally
    'Server/prom': 'ignored', 'ServerAuthorization/prom-prometheus': 'ignored', 'Server/admin': 'ignored', 'ServerAuthorization/admin-everyone': 'ignored', // admin ports
  });
  assert.deepEqual(m.report.counts, { mapped: 4, approximated: 1, ignored: 4, invalid: 0 });
});

test('a host that maps to no local service is not mapped (with the reason), not approximated', () => {
  const r = imp('istio/testcfg-virtual-service-all.yaml');
  const hosts = entries(r, { path: 'spec.hosts[1]' });
  assert.equal(hosts.length, 1);
  assert.equal(hosts[0]!.outcome, 'ignored');
  assert.match(hosts[0]!.detail, /^host uk\.bookinfo\.com maps to no local service: its rules are not applied \(use --map uk\.bookinfo\.com=LOCAL\)$/);
  assert.equal(r.report.documents[0]!.outcome, 'approximated', 'the hosts that do map still get the rules');
  const gw = importPolicy([{ name: 'route.yaml', text: 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r }\nspec:\n  parentRefs: [{ name: nowhere, kind: Service, group: "" }]\n  rules: [{ backendRefs: [{ name: smiley2, port: 80 }] }]\n' }], { mesh: testMesh() });
  assert.deepEqual(gw.report.entries.map((e) => [e.path, e.outcome]), [['spec.parentRefs[0]', 'ignored']]);
  assert.deepEqual(gw.report.counts, { mapped: 0, approximated: 0, ignored: 1, invalid: 0 });
});

test('linkerd: AuthorizationPolicy with a ServiceAccount ref; probe route authorization needs its Server', () => {
  const g = imp('linkerd/grafana-authzpolicy.yaml');
  assert.equal(g.policy.authorization, undefined);
  assert.match(entries(g, { path: 'spec.targetRef' })[0]!.detail, /prometheus-admin/);
  const p = imp('linkerd/docs-per-route-probe-policy.yaml');
  assert.equal(p.report.counts.invalid, 0);
  assert.match(entries(p, { kind: 'HTTPRoute' })[0]!.detail, /GET \/ping/);
});

// ---- Consul ----

test('consul: resolver subsets by Service.Meta.version and a 50/50 splitter (snake_case JSON)', () => {
  const r = importFixture(['consul/demo-api-service-resolver.json', 'consul/demo-api-service-splitter-50-50.json']);
  tested.add('consul/demo-api-service-resolver.json');
  tested.add('consul/demo-api-service-splitter-50-50.json');
  assert.deepEqual(r.policy.routes?.api, [{ name: 'default', route: [{ destination: { subset: 'v1' }, weight: 50 }, { destination: { subset: 'v2' }, weight: 50 }], retries: { attempts: 0 } }]);
  assert.match(entries(r, { path: 'subsets.v1' })[0]!.detail, /v1/);
  assertFits(r);
});

test('consul: ServiceIntentions CRDs → per-destination ALLOW lists (default deny)', () => {
  const r = imp('consul/crd-service-intentions.yaml');
  const pa = r.policy.authorization?.find((p) => p.service === 'public-api');
  assert.deepEqual(pa, { name: 'public-api-intentions-allow', action: 'ALLOW', service: 'public-api', rules: [{ from: [{ source: { services: ['nginx', 'traffic-generator'] } }] }] });
  assert.ok(r.policy.authorization?.some((p) => p.service === 'nginx'), 'the doc without metadata.namespace still imports');
  assertFits(r);
});

test('every mesh-policy fixture has a test', () => {
  const all = ['istio', 'gateway-api', 'linkerd', 'consul'].flatMap((d) => readdirSync(`${FIXTURES}/${d}`).map((f) => `${d}/${f}`));
  assert.deepEqual(all.filter((f) => !tested.has(f)), []);
});
