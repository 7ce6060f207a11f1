// A normal form of a policy that keeps its behaviour and drops its spelling, so that a policy and the same
// policy written out to another mesh and imported again compare equal under the effective-policy diff
// (src/diff/effective-policy.ts). Each step is a rewrite that changes no request's outcome:
// - a rule with several matches (an OR) is one rule per match, in order; a method regex that is a plain
//   alternation (^(GET|POST)$) is one match per method; rules after a rule that matches everything are
//   unreachable and dropped;
// - a regex is written anchored, ^(?:…)$ (devmesh, like Envoy's RE2, matches the whole value); a header or
//   query prefix is the regex it stands for; "present" ({}) is the regex .*;
// - authorization: policies without a service apply to each service; per service, the ALLOW policies are
//   one ALLOW policy whose rules are the union (Istio allows when any ALLOW policy matches), an allow-all
//   rule ({}) makes ALLOW policies moot, a DENY policy without rules denies nothing; each rule is split
//   into atomic rules (one source, one service or principal, one operation path and method), which are
//   OR-ed in a rule as in a policy.
import type { AuthorizationPolicySpec, HttpRouteSpec, PolicyFile } from '../config/mesh-schema.js';
import { escapeRegex } from '../import/route-helpers.js';

type Match = NonNullable<HttpRouteSpec['match']>[number];
type Rule = NonNullable<AuthorizationPolicySpec['rules']>[number];
type StringMatch = { exact: string } | { prefix: string } | { regex: string } | Record<string, never>;

/** True when `re` is ^(?:X)$ with the group opened at the start closing at the end. */
function isAnchored(re: string): boolean {
  if (!re.startsWith('^(?:') || !re.endsWith(')$')) return false;
  let depth = 0;
  let inClass = false;
  for (let i = 1; i < re.length - 1; i++) {
    const c = re[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0 && i !== re.length - 2) return false;
    }
  }
  return depth === 0;
}

/** The regex, anchored to the whole value (which is how devmesh and Envoy match it). */
export function anchoredRegex(re: string): string {
  return isAnchored(re) ? re : `^(?:${re})$`;
}

function canonicalString(m: StringMatch): StringMatch {
  if ('exact' in m) return m;
  if ('prefix' in m) return { regex: anchoredRegex(`${escapeRegex(m.prefix)}.*`) };
  if ('regex' in m) return { regex: anchoredRegex(m.regex) };
  return { regex: anchoredRegex('.*') };
}

/** The methods of a method regex that is a plain alternation (^(GET|POST)$), or null. */
export function methodAlternatives(re: string): string[] | null {
  const m = /^\^?\((?:\?:)?([A-Za-z|]+)\)\$?$/.exec(re) ?? /^\^?([A-Za-z]+(?:\|[A-Za-z]+)*)\$?$/.exec(re);
  return m ? m[1]!.split('|') : null;
}

function canonicalMatch(m: Match): Match[] {
  const { name: _n, ...rest } = m;
  const out: Match = { ...rest };
  if (out.uri) out.uri = canonicalString(out.uri) as typeof out.uri;
  for (const f of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    const entries = Object.entries(out[f] ?? {});
    if (!entries.length) {
      delete out[f];
      continue;
    }
    out[f] = Object.fromEntries(entries.map(([k, v]) => [f === 'queryParams' ? k : k.toLowerCase(), canonicalString(v)]).sort(([a], [b]) => String(a).localeCompare(String(b)))) as NonNullable<Match['headers']>;
  }
  if (out.method && 'regex' in out.method) {
    const alts = methodAlternatives(out.method.regex);
    if (alts) return alts.map((a) => ({ ...out, method: { exact: a } }));
  }
  return [out];
}

function canonicalRoutes(rules: HttpRouteSpec[]): HttpRouteSpec[] {
  const out: HttpRouteSpec[] = [];
  for (const r of rules) {
    const { name: _n, match, ...rest } = r;
    const matches = (match ?? []).flatMap(canonicalMatch);
    if (matches.length === 0 || matches.some((m) => Object.keys(m).length === 0)) {
      out.push(rest);
      return out; // matches everything: what follows is unreachable
    }
    for (const m of matches) out.push({ ...structuredClone(rest), match: [m] });
  }
  return out;
}

function atomicRules(rule: Rule): Rule[] {
  const splitList = <T extends Record<string, unknown>>(obj: T, keys: readonly string[]): T[] => {
    const present = Object.keys(obj).filter((k) => obj[k] !== undefined);
    if (present.length !== 1 || !keys.includes(present[0]!)) {
      if (present.length === 2 && present.includes('paths') && present.includes('methods') && keys.includes('paths')) {
        const o = obj as unknown as { paths: string[]; methods: string[] };
        return o.paths.flatMap((p) => o.methods.map((m) => ({ paths: [p], methods: [m] }) as unknown as T));
      }
      return [obj];
    }
    const k = present[0]!;
    return (obj[k] as unknown[]).map((v) => ({ [k]: [v] }) as unknown as T);
  };
  const froms = rule.from?.length ? rule.from.flatMap((f) => splitList(f.source, ['services', 'principals']).map((source) => ({ source }))) : [undefined];
  const tos = rule.to?.length ? rule.to.flatMap((t) => splitList(t.operation, ['paths', 'methods']).map((operation) => ({ operation }))) : [undefined];
  const out: Rule[] = [];
  for (const f of froms) for (const t of tos) out.push({ ...(f ? { from: [f] } : {}), ...(t ? { to: [t] } : {}), ...(rule.when ? { when: rule.when } : {}) });
  return out;
}

function canonicalAuthorization(list: AuthorizationPolicySpec[], services: string[]): AuthorizationPolicySpec[] {
  const out: AuthorizationPolicySpec[] = [];
  for (const svc of services) {
    const mine = list.filter((p) => p.service === undefined || p.service === svc);
    const allow = mine.filter((p) => p.action === 'ALLOW');
    const deny = mine.filter((p) => p.action === 'DENY');
    const allowRules = allow.flatMap((p) => (p.rules ?? []).flatMap(atomicRules));
    const sortUnique = (rs: Rule[]) => [...new Map(rs.map((r) => [JSON.stringify(r), r])).values()].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    if (allow.length && !allowRules.some((r) => Object.keys(r).length === 0)) {
      out.push({ name: `${svc}-allow`, service: svc, action: 'ALLOW', ...(allowRules.length ? { rules: sortUnique(allowRules) } : {}) });
    }
    const denyRules = deny.flatMap((p) => (p.rules ?? []).flatMap(atomicRules));
    if (denyRules.length) out.push({ name: `${svc}-deny`, service: svc, action: 'DENY', rules: sortUnique(denyRules) });
    for (const p of mine) if (p.action !== 'ALLOW' && p.action !== 'DENY') out.push({ ...p, service: svc });
  }
  return out;
}

/** The policy in normal form, for the services `services` (mesh-wide authorization is spread over them). */
export function canonicalPolicy(policy: PolicyFile, services: string[]): PolicyFile {
  const out: PolicyFile = structuredClone(policy);
  if (out.routes) out.routes = Object.fromEntries(Object.entries(out.routes).map(([svc, rules]) => [svc, canonicalRoutes(rules)]));
  if (out.authorization) {
    const auth = canonicalAuthorization(out.authorization, services);
    if (auth.length) out.authorization = auth;
    else delete out.authorization;
  }
  return out;
}
