// Istio's own translation as the reference: for each input of Istio's Gateway API testdata that applies to
// a local mesh, the Gateway API importer's policy and the Istio importer's policy from Istio's golden
// VirtualServices must behave the same locally (src/diff/effective-policy.ts finds no difference). The
// inputs, goldens and the list of what applies, differs (where and why) or cannot apply are in
// test/import/istio-golden/ (source: istio/istio @ 86c9f01fd73, see index.yaml).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { z } from 'zod';
import { parseMesh } from '../../src/config/load-mesh.js';
import type { MeshFile, PolicyFile } from '../../src/config/mesh-schema.js';
import { diffPolicies, withPolicy } from '../../src/diff/effective-policy.js';
import { importPolicy } from '../../src/import/import-policy.js';
import { authorityHost, intersectHost } from '../../src/import/route-helpers.js';
import { REPO } from '../helpers/mesh-process.js';

const DIR = join(REPO, 'test/import/istio-golden');
const Index = z.strictObject({
  source: z.strictObject({ repository: z.string(), path: z.string(), commit: z.string().regex(/^[0-9a-f]{40}$/) }),
  normalise: z.array(z.enum(['gateway-api-no-retry-is-istio-default', 'rules-for-disjoint-hosts-in-one-order'])),
  inputs: z.array(
    z.discriminatedUnion('status', [
      z.strictObject({ name: z.string(), status: z.literal('applies') }),
      z.strictObject({ name: z.string(), status: z.literal('known-difference'), why: z.string().min(20), differ: z.array(z.string()).min(1) }),
      z.strictObject({ name: z.string(), status: z.literal('not-applicable'), why: z.string().min(10) }),
    ]),
  ),
});
const index = Index.parse(parse(readFileSync(join(DIR, 'index.yaml'), 'utf8')));
const INGRESS = 'ingress-gw';

type Doc = { kind?: string; spec?: Record<string, unknown> };
const docs = (text: string): Doc[] => parseAllDocuments(text).map((d) => d.toJS() as Doc).filter((d) => d && typeof d === 'object');
const SVC_HOST = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.[a-z0-9-]+\.svc\.domain\.suffix$/;

/** The local mesh for one input: a service per name the input or its golden routes to or attaches to, and one ingress. */
function meshFor(input: string, golden: string): MeshFile {
  const names = new Set<string>();
  for (const d of docs(input)) {
    if (!/Route$/.test(d.kind ?? '')) continue;
    const spec = d.spec as { parentRefs?: { kind?: string; name: string }[]; rules?: { backendRefs?: { kind?: string; name: string }[] }[] };
    for (const p of spec.parentRefs ?? []) if (p.kind === 'Service') names.add(p.name);
    for (const r of spec.rules ?? []) for (const b of r.backendRefs ?? []) if (b.kind === undefined || b.kind === 'Service') names.add(b.name);
  }
  for (const d of docs(golden)) {
    if (d.kind !== 'VirtualService') continue;
    const spec = d.spec as { hosts?: string[]; http?: { route?: { destination?: { host?: string } }[] }[] };
    const hosts = [...(spec.hosts ?? []), ...(spec.http ?? []).flatMap((r) => (r.route ?? []).map((x) => x.destination?.host ?? ''))];
    for (const h of hosts) {
      const m = SVC_HOST.exec(h);
      if (m) names.add(m[1]!);
    }
  }
  const services = [...names].filter((n) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n) && n.length <= 63 && n !== INGRESS).sort();
  return parseMesh(`name: golden\ningress: [{ port: 0, service: ${INGRESS} }]\nservices:\n  ${INGRESS}: { run: x }\n${services.map((n) => `  ${n}: { run: x }`).join('\n')}\n`, 'golden-mesh.yaml');
}

/** The stated difference (index.yaml, normalise): a Gateway API rule without `retry` runs with Istio's default retries. */
function istioDefaultRetries(policy: PolicyFile): PolicyFile {
  const out = structuredClone(policy);
  for (const rules of Object.values(out.routes ?? {})) for (const r of rules) if (r.retries && r.retries.attempts === 0 && Object.keys(r.retries).length === 1) delete r.retries;
  return out;
}

/**
 * The stated normalisation (index.yaml, normalise): one rule per match block (blocks OR, so a rule with
 * two is the same as two rules with one each), then the one order of those rules that only moves a rule
 * past rules for hosts it shares no name with (no request can match both, so first-match-wins gives the
 * same answer): of the rules that no earlier, host-overlapping rule must precede, the one with the
 * smallest host first. Istio writes a VirtualService per hostname and the Gateway API importer one rule
 * per route match with all its hostnames; both are the same routes in another grouping.
 */
function disjointHostsInOneOrder(policy: PolicyFile): PolicyFile {
  const out = structuredClone(policy);
  for (const [service, rules] of Object.entries(out.routes ?? {})) {
    const single = rules.flatMap((r) => (r.match && r.match.length > 1 ? r.match.map((b) => ({ ...r, match: [b] })) : [r]));
    const host = single.map((r) => (r.match?.length === 1 ? authorityHost(r.match[0]!.authority) : null));
    const commute = (i: number, j: number) => host[i] !== null && host[j] !== null && intersectHost(host[i]!, host[j]!) === null;
    const left = single.map((_, i) => i);
    const order: number[] = [];
    while (left.length) {
      const free = left.filter((i, k) => left.slice(0, k).every((j) => commute(i, j)));
      const pick = free.sort((a, b) => (host[a] ?? '').localeCompare(host[b] ?? '') || a - b)[0]!;
      order.push(pick);
      left.splice(left.indexOf(pick), 1);
    }
    out.routes![service] = order.map((i) => single[i]!);
  }
  return out;
}

function compare(name: string): { differ: string[]; invalid: string[] } {
  const input = readFileSync(join(DIR, `${name}.yaml`), 'utf8');
  const golden = readFileSync(join(DIR, `${name}.yaml.golden`), 'utf8');
  const mesh = meshFor(input, golden);
  const fromGatewayApi = importPolicy([{ name: `${name}.yaml`, text: input }], { mesh, from: 'gateway-api' });
  const fromIstio = importPolicy([{ name: `${name}.yaml.golden`, text: golden }], { mesh, from: 'istio' });
  const invalid = [...fromGatewayApi.report.entries, ...fromIstio.report.entries].filter((e) => e.outcome === 'invalid').map((e) => `${e.kind} ${e.name} ${e.path}: ${e.detail}`);
  const local = withPolicy(mesh, disjointHostsInOneOrder(istioDefaultRetries(fromGatewayApi.policy)));
  return { differ: diffPolicies(local, disjointHostsInOneOrder(fromIstio.policy)).map((d) => `${d.service} ${d.path}`), invalid };
}

test('the index lists every copied input once, with its golden, and nothing it does not have', () => {
  const names = index.inputs.map((i) => i.name);
  assert.equal(new Set(names).size, names.length, 'no input listed twice');
  const copied = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'index.yaml').map((f) => f.replace(/\.yaml$/, '')).sort();
  const compared = index.inputs.filter((i) => i.status !== 'not-applicable').map((i) => i.name).sort();
  assert.deepEqual(copied, compared, 'inputs compared = inputs copied');
  for (const n of compared) assert.ok(readdirSync(DIR).includes(`${n}.yaml.golden`), `${n}.yaml.golden`);
  // A floor, so that losing an equal input fails here (raise it when more inputs compare equal).
  const equal = index.inputs.filter((i) => i.status === 'applies').length;
  assert.ok(equal >= 12, `at least 12 inputs compare equal, ${equal} do`);
  for (const i of index.inputs) if (i.status === 'known-difference') assert.ok(i.why && i.differ?.length, `${i.name}: a known difference says why and what`);
});

for (const entry of index.inputs) {
  if (entry.status === 'not-applicable') continue;
  test(`${entry.name}: Gateway API import ${entry.status === 'applies' ? '=' : '≈'} Istio's golden VirtualServices, as effective local policy`, () => {
    const { differ, invalid } = compare(entry.name);
    if (process.env.GOLDEN_PRINT) console.log(`GOLDEN ${JSON.stringify({ name: entry.name, differ: [...differ].sort(), invalid })}`);
    if (entry.status === 'applies') {
      assert.deepEqual(differ, [], `${entry.name} differs:\n${differ.join('\n')}`);
      assert.deepEqual(invalid, [], 'nothing in an applicable input is refused by an importer');
    } else {
      // Exactly the differences written down: a new one fails, and so does one that went away
      // (then the input applies: move it up in index.yaml).
      assert.deepEqual(differ.sort(), [...entry.differ].sort(), `${entry.name}: the differences are not the ones index.yaml states (${entry.why})`);
    }
  });
}

test('a gateway-only VirtualService for "*" goes to the mesh\'s one ingress service, even a redirect with no destination; derivePort is read', () => {
  const mesh = parseMesh(`name: m\ningress: [{ port: 0, service: ${INGRESS} }]\nservices:\n  ${INGRESS}: { run: x }\n  web: { run: x }\n`, 'm.yaml');
  const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: to-https }
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - redirect: { scheme: https, derivePort: FROM_PROTOCOL_DEFAULT }
`;
  const r = importPolicy([{ name: 'vs.yaml', text: vs }], { mesh });
  assert.deepEqual(r.policy.routes?.[INGRESS]?.[0], { match: [{ sourceLabels: { app: 'ingress' } }], redirect: { scheme: 'https', port: 443 } }, "derivePort FROM_PROTOCOL_DEFAULT is https's 443");
  assert.equal(r.policy.routes?.web, undefined);
  // With a destination, still the ingress service's rules (not the destination's as well).
  const routed = importPolicy([{ name: 'vs.yaml', text: vs.replace('- redirect: { scheme: https, derivePort: FROM_PROTOCOL_DEFAULT }', '- route: [{ destination: { host: web } }]') }], { mesh });
  assert.deepEqual(Object.keys(routed.policy.routes ?? {}), [INGRESS]);
});

test("a gateway-bound VirtualService matches its hosts through the Gateway's servers on the authority; its prefix is whole segments only under Istio's gateway route semantics", () => {
  const mesh = parseMesh(`name: m\ningress: [{ port: 0, service: ${INGRESS} }]\nservices:\n  ${INGRESS}: { run: x }\n  web: { run: x }\n`, 'm.yaml');
  const gateway = 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: gw, namespace: default }\nspec:\n  servers:\n  - { port: { number: 80, protocol: HTTP }, hosts: ["*/*.example.com"] }\n  - { port: { number: 9000, protocol: TCP }, hosts: ["*/*"] }\n';
  const vs = (name: string, hosts: string, annotations = '') => `---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: ${name}, namespace: default${annotations} }\nspec:\n  hosts: ${hosts}\n  gateways: [gw]\n  http:\n  - match: [{ uri: { prefix: /api } }]\n    route: [{ destination: { host: web } }]\n`;
  const rules = (text: string) => {
    const r = importPolicy([{ name: 'vs.yaml', text: gateway + text }], { mesh });
    return { rules: (r.policy.routes?.[INGRESS] ?? []).filter((x) => x.route?.[0]?.destination.host === 'web').map((x) => x.match), report: r.report.entries };
  };
  const ingress = { sourceLabels: { app: 'ingress' } };
  // A VirtualService's prefix is a string prefix; b.example.org is on no server of gw, a.example.com is.
  assert.deepEqual(rules(vs('plain', '[a.example.com, b.example.org]')).rules, [[{ uri: { prefix: '/api' }, ...ingress, authority: { exact: 'a.example.com' } }]]);
  // Istio's own translation of Gateway API (the annotation): whole path segments.
  assert.deepEqual(rules(vs('gw-api', '[a.example.com]', ', annotations: { internal.istio.io/route-semantics: gateway }')).rules, [
    [{ uri: { exact: '/api' }, ...ingress, authority: { exact: 'a.example.com' } }, { uri: { prefix: '/api/' }, ...ingress, authority: { exact: 'a.example.com' } }],
  ]);
  // "*" through a server for *.example.com: the server's wildcard (the TCP server's "*" builds no HTTP virtual host).
  assert.deepEqual(rules(vs('any', '["*"]')).rules, [[{ uri: { prefix: '/api' }, ...ingress, authority: { regex: '^.+\\.example\\.com$' } }]]);
  // A host no server has: Istio builds no virtual host for it, so nothing is applied, and the report says why.
  const none = rules(vs('elsewhere', '[c.example.net]'));
  assert.deepEqual(none.rules, []);
  assert.ok(none.report.some((e) => e.name === 'elsewhere' && e.path === 'spec.hosts' && /no host intersects/.test(e.detail)), 'the report says why nothing applies');
  // The more specific host first, as Envoy picks a virtual host: a.example.com before *.example.com.
  const both = rules(vs('wild', '["*.example.com"]') + vs('exact', '[a.example.com]')).rules;
  assert.deepEqual(both.map((m) => m?.[0]?.authority), [{ exact: 'a.example.com' }, { regex: '^.+\\.example\\.com$' }]);
});
