// `devmesh export --to consul`: the local policy as Consul config entries, in HCL (one file per entry, for
// `consul config write`) or as consul-k8s CRDs (consul.hashicorp.com/v1alpha1).
// - Routes: a service-router holds the rules in order (one route per match block; Consul's routes are
//   first-match like devmesh's); the rule that matches everything at the end becomes the default route:
//   a service-splitter when it splits by weight, the service-resolver's DefaultSubset when it goes to one
//   version, nothing when it goes to the service itself. Subsets are resolver subsets filtered on
//   Service.Meta.version. Consul's L7 entries need an L7 protocol, so a service-defaults sets it.
// - service-intentions: ALLOW and DENY policies as sources (allow / deny a calling service, `*` for any)
//   and L7 permissions (paths and methods).
// - service-defaults / proxy-defaults: MutualTLSMode per service and mesh-wide.
// Everything Consul has no form for is a located note.
import { stringify } from 'yaml';
import type { AuthorizationPolicySpec, HttpRouteSpec, MeshFile } from '../config/mesh-schema.js';
import { effectiveRetryOn } from '../mesh-semantics/retry-on.js';
import { escapeRegex } from '../import/route-helpers.js';
import { methodAlternatives } from './canonical.js';
import { NS, ruleRetries, ruleWhere, wholeDuration, type ConsulForm, type ExportResult } from './common.js';
import { hclEntry } from './hcl-writer.js';

type Entry = Record<string, unknown> & { Kind: string; Name: string };
type Match = NonNullable<HttpRouteSpec['match']>[number];
type Dest = NonNullable<HttpRouteSpec['route']>[number];

const CRD_KIND: Record<string, string> = {
  'service-router': 'ServiceRouter', 'service-splitter': 'ServiceSplitter', 'service-resolver': 'ServiceResolver',
  'service-intentions': 'ServiceIntentions', 'service-defaults': 'ServiceDefaults', 'proxy-defaults': 'ProxyDefaults',
};
/** A resolver subset with an empty filter: every healthy instance (Consul's service-resolver reference), for a
 * rule that goes to all of a service whose default route a splitter has taken. */
const ALL_SUBSET = 'all-instances';
const LB: Record<string, string> = { ROUND_ROBIN: 'round_robin', LEAST_REQUEST: 'least_request', RANDOM: 'random' };

function headerOps(ops: NonNullable<NonNullable<HttpRouteSpec['headers']>['request']>): Record<string, unknown> {
  return { ...(ops.add ? { Add: ops.add } : {}), ...(ops.set ? { Set: ops.set } : {}), ...(ops.remove ? { Remove: ops.remove } : {}) };
}

function headersOf(h: HttpRouteSpec['headers']): Record<string, unknown> {
  return { ...(h?.request ? { RequestHeaders: headerOps(h.request) } : {}), ...(h?.response ? { ResponseHeaders: headerOps(h.response) } : {}) };
}

function stringMatch(name: string, sm: object, query: boolean): Record<string, unknown> {
  if ('exact' in sm) return { Name: name, Exact: sm.exact };
  if ('prefix' in sm) return query ? { Name: name, Regex: `${escapeRegex(String(sm.prefix))}.*` } : { Name: name, Prefix: sm.prefix };
  if ('regex' in sm) return { Name: name, Regex: sm.regex };
  return { Name: name, Present: true };
}

/** One devmesh match block → Consul's Match.HTTP; null when it cannot be said at all. */
function httpMatch(m: Match, where: string, notes: string[]): Record<string, unknown> | null {
  const http: Record<string, unknown> = {};
  if (m.uri) http['exact' in m.uri ? 'PathExact' : 'prefix' in m.uri ? 'PathPrefix' : 'PathRegex'] = Object.values(m.uri)[0];
  const header = [
    ...Object.entries(m.headers ?? {}).map(([n, sm]) => stringMatch(n, sm, false)),
    ...Object.entries(m.withoutHeaders ?? {}).map(([n, sm]) => ({ ...stringMatch(n, sm, false), Invert: true })),
  ];
  if (header.length) http.Header = header;
  const query = Object.entries(m.queryParams ?? {}).map(([n, sm]) => stringMatch(n, sm, true));
  if (query.length) http.QueryParam = query;
  if (m.method) {
    const alts = 'exact' in m.method ? [m.method.exact] : 'regex' in m.method ? methodAlternatives(m.method.regex) : null;
    if (alts) http.Methods = alts;
    else {
      notes.push(`${where}: a method ${Object.keys(m.method)[0]} match has no Consul form (Methods lists names); the rule is left out`);
      return null;
    }
  }
  for (const f of ['authority', 'sourceLabels'] as const) {
    if (m[f]) {
      notes.push(`${where}: ${f} matches have no service-router form; the rule is left out`);
      return null;
    }
  }
  return http;
}

function retriesOf(r: HttpRouteSpec, where: string, notes: string[]): Record<string, unknown> {
  const retries = ruleRetries(r);
  if (retries.perTryTimeout && retries.attempts > 0) notes.push(`${where}: Consul has no per-try timeout; perTryTimeout ${retries.perTryTimeout} left out`);
  if (retries.attempts === 0) return { NumRetries: 0 };
  const tokens = [...new Set(effectiveRetryOn(retries.retryOn))];
  const codes = tokens.filter((t) => /^\d{3}$/.test(t)).map(Number);
  const on = tokens.filter((t) => !/^\d{3}$/.test(t) && t !== 'connect-failure');
  return {
    NumRetries: retries.attempts,
    ...(tokens.includes('connect-failure') ? { RetryOnConnectFailure: true } : {}),
    ...(codes.length ? { RetryOnStatusCodes: codes } : {}),
    ...(on.length ? { RetryOn: on } : {}),
  };
}

const isCatchAll = (r: HttpRouteSpec) => !r.match?.length || r.match.some((m) => Object.keys(m).filter((k) => k !== 'name').length === 0);

/** The routes of one service → its router, splitter and the resolver's default subset. */
function routesOf(mesh: MeshFile, key: string, rules: HttpRouteSpec[], notes: string[]): { router?: Entry; splitter?: Entry; defaultSubset?: string; allSubset?: boolean } {
  let allSubset = false;
  const last = rules[rules.length - 1];
  const lastIndex = rules.length - 1;
  const tail = last && isCatchAll(last) ? last : undefined;
  if (!tail) notes.push(`routes.${key}: no rule matches every request: devmesh answers 404 when none matches, Consul sends the request to ${key}'s default route`);
  const weighted = (r: HttpRouteSpec) => (r.route?.filter((d) => (d.weight ?? 0) > 0).length ?? 0) > 1;
  const splitOwner = tail && weighted(tail) ? tail : rules.find(weighted);
  let splitter: Entry | undefined;
  if (splitOwner?.route) {
    splitter = {
      Kind: 'service-splitter', Name: key,
      Splits: splitOwner.route.map((d) => ({ Weight: d.weight ?? 0, ...(d.destination.host && d.destination.host !== key ? { Service: d.destination.host } : {}), ...(d.destination.subset ? { ServiceSubset: d.destination.subset } : {}), ...headersOf(d.headers) })),
    };
  }
  const sameSplit = (r: HttpRouteSpec) => JSON.stringify(r.route) === JSON.stringify(splitOwner?.route);
  // The default route: what Consul does with a request no router route matches.
  const plain = (r: HttpRouteSpec) => r.retries?.attempts === 0 && !r.timeout && !r.headers && !r.rewrite && !r.mirror && !r.fault && !r.redirect && !r.directResponse && !!r.route;
  let defaultSubset: string | undefined;
  let tailIsDefault = false;
  if (tail && plain(tail)) {
    const dests = tail.route!.filter((d) => (d.weight ?? 0) > 0 || tail.route!.length === 1);
    const one = dests.length === 1 ? dests[0]! : undefined;
    if (weighted(tail)) tailIsDefault = true;
    else if (one && (one.destination.host ?? key) === key && !one.headers && !splitter) {
      defaultSubset = one.destination.subset;
      tailIsDefault = true;
    }
  }
  const routes: object[] = [];
  rules.forEach((r, i) => {
    if (i === lastIndex && tailIsDefault) return;
    const where = ruleWhere(key, i, r);
    if (r.redirect || r.directResponse) return notes.push(`${where}: ${r.redirect ? 'redirect' : 'directResponse'} has no service-router form; the rule is left out`);
    if (r.fault) notes.push(`${where}: fault injection has no Consul config entry; left out`);
    if (r.mirror) notes.push(`${where}: Consul does not mirror requests; left out`);
    const dests = r.route!.filter((d) => (d.weight ?? 0) > 0 || r.route!.length === 1);
    const destination: Record<string, unknown> = {};
    if (dests.length > 1) {
      if (!sameSplit(r)) return notes.push(`${where}: a second traffic split for ${key} (Consul has one service-splitter per service); the rule is left out`);
    } else {
      const d: Dest = dests[0]!;
      const host = d.destination.host ?? key;
      if (!(host in mesh.services)) return notes.push(`${where}: ${host} is external; the rule is left out`);
      if (host !== key) destination.Service = host;
      if (d.destination.subset) destination.ServiceSubset = d.destination.subset;
      else if (host === key && splitter) {
        if (ALL_SUBSET in (mesh.services[key]?.versions ?? {})) return notes.push(`${where}: routes to every instance of ${key}, but ${key}'s service-splitter splits its traffic and a version is named ${ALL_SUBSET}; the rule is left out`);
        destination.ServiceSubset = ALL_SUBSET;
        allSubset = true;
      }
      if (d.headers) notes.push(`${where}: per-destination headers of a single destination have no Consul form; left out`);
    }
    if (r.rewrite?.uri !== undefined) {
      if ((r.match ?? []).every((m) => m.uri && !('regex' in m.uri))) destination.PrefixRewrite = r.rewrite.uri;
      else notes.push(`${where}: PrefixRewrite needs a PathPrefix or PathExact match; the rewrite is left out`);
    }
    if (r.rewrite?.authority) notes.push(`${where}: a host rewrite has no service-router form; left out`);
    if (r.timeout && !r.fault) destination.RequestTimeout = wholeDuration(r.timeout);
    Object.assign(destination, retriesOf(r, where, notes), headersOf(r.headers));
    const matches = r.match?.length && !isCatchAll(r) ? r.match : [undefined];
    for (const m of matches) {
      const http = m ? httpMatch(m, where, notes) : {};
      if (http === null) continue;
      routes.push({ ...(Object.keys(http).length ? { Match: { HTTP: http } } : {}), Destination: destination });
    }
  });
  return { ...(routes.length ? { router: { Kind: 'service-router', Name: key, Routes: routes } } : {}), ...(splitter ? { splitter } : {}), ...(defaultSubset ? { defaultSubset } : {}), ...(allSubset ? { allSubset } : {}) };
}

type Rule = NonNullable<AuthorizationPolicySpec['rules']>[number];
interface Source {
  Name: string;
  Action?: 'allow' | 'deny';
  Permissions?: { Action: 'allow' | 'deny'; HTTP: Record<string, unknown> }[];
}

/** The ALLOW and DENY policies of one service → the sources of its service-intentions. */
function intentionsOf(svc: string, policies: AuthorizationPolicySpec[], notes: string[]): Source[] {
  const sources = new Map<string, Source>();
  const get = (name: string) => sources.get(name) ?? sources.set(name, { Name: name }).get(name)!;
  let denyAll = false;
  const add = (action: 'allow' | 'deny', rule: Rule, where: string) => {
    const callers: string[] = [];
    for (const f of rule.from ?? []) {
      const { services, ...rest } = f.source;
      callers.push(...(services ?? []));
      const dropped = Object.keys(rest).filter((k) => (rest as Record<string, unknown>)[k] !== undefined);
      if (dropped.length) notes.push(`${where}: source ${dropped.join(', ')} has no intention form (sources are service names); dropped`);
    }
    if (rule.when) notes.push(`${where}: when conditions have no intention form; dropped`);
    const names = rule.from?.length ? callers : ['*'];
    if (rule.from?.length && !callers.length) return;
    const perms: Record<string, unknown>[] = [];
    for (const t of rule.to ?? []) {
      const { paths, methods, ...rest } = t.operation;
      const dropped = Object.keys(rest).filter((k) => (rest as Record<string, unknown>)[k] !== undefined);
      if (dropped.length) notes.push(`${where}: operation ${dropped.join(', ')} has no permission form; dropped`);
      for (const path of paths ?? ['*']) {
        const http: Record<string, unknown> = {};
        if (path !== '*') {
          if (!path.includes('*')) http.PathExact = path;
          else if (/^[^*]*\*$/.test(path)) http.PathPrefix = path.slice(0, -1);
          else {
            notes.push(`${where}: path ${path} has no permission form (PathExact, PathPrefix); dropped`);
            continue;
          }
        }
        if (methods?.length) http.Methods = methods;
        perms.push(http);
      }
    }
    for (const name of names) {
      const s = get(name);
      if (!rule.to?.length) {
        if (action === 'deny' || s.Action !== 'deny') s.Action = action;
        if (action === 'deny' && name === '*') denyAll = true;
      } else (s.Permissions ??= []).push(...perms.map((HTTP) => ({ Action: action, HTTP })));
    }
  };
  for (const p of policies) {
    if (p.action !== 'ALLOW' && p.action !== 'DENY') continue;
    (p.rules ?? []).forEach((r, k) => add(p.action === 'ALLOW' ? 'allow' : 'deny', r, `authorization ${p.name}.rules[${k}]`));
  }
  const hasAllow = policies.some((p) => p.action === 'ALLOW');
  // Only DENY policies: everyone else is allowed, which intentions say with an allow for "*".
  if (!hasAllow && sources.size) {
    const any = get('*');
    if (any.Permissions && !any.Action) {
      any.Permissions.push({ Action: 'allow', HTTP: { PathPrefix: '/' } });
      notes.push(`authorization on ${svc}: operations denied to every caller: written as deny permissions for "*" then allow PathPrefix /`);
    } else any.Action ??= 'allow';
  }
  // An ALLOW policy that allows nobody: every caller is denied unless another ALLOW rule names it.
  if (hasAllow && ![...sources.values()].some((s) => s.Action === 'allow' || s.Permissions?.some((x) => x.Action === 'allow'))) get('*').Action ??= 'deny';
  if (denyAll) {
    notes.push(`authorization on ${svc}: a DENY rule for every caller wins over every ALLOW locally; in intentions a named source beats "*", so only the deny is written`);
    return [{ Name: '*', Action: 'deny' }];
  }
  const out: Source[] = [];
  for (const s of sources.values()) {
    if (s.Action && s.Permissions) {
      // A source has an action or permissions; the action for everything wins (deny beats allow locally too).
      if (s.Action === 'deny' || s.Permissions.every((x) => x.Action === 'allow')) delete s.Permissions;
      else {
        s.Permissions = [...s.Permissions.filter((x) => x.Action === 'deny'), { Action: 'allow', HTTP: { PathPrefix: '/' } }];
        delete s.Action;
        notes.push(`authorization on ${svc}: source ${s.Name} is allowed except some operations: written as deny permissions then allow PathPrefix /`);
      }
    }
    if (s.Permissions) s.Permissions.sort((a, b) => Number(a.Action === 'allow') - Number(b.Action === 'allow'));
    out.push(s);
  }
  // Exact names before the wildcard, as Consul orders them by precedence anyway.
  return out.sort((a, b) => Number(a.Name === '*') - Number(b.Name === '*'));
}

function mtlsMode(setting: unknown, where: string, notes: string[]): string | undefined {
  const mode = typeof setting === 'string' ? setting : (setting as { mode?: string; portLevelMtls?: unknown } | undefined)?.mode;
  if (setting && typeof setting === 'object' && (setting as { portLevelMtls?: unknown }).portLevelMtls) notes.push(`${where}: per-port mTLS has no Consul form; left out`);
  if (mode === 'STRICT' || mode === 'PERMISSIVE') return mode.toLowerCase();
  if (mode === 'DISABLE') notes.push(`${where}: Consul's service mesh cannot turn mTLS off; left out`);
  return undefined;
}

/** The config entries, in Consul's own (HCL/JSON) spelling. */
export function consulEntries(mesh: MeshFile): { entries: Entry[]; notes: string[] } {
  const notes: string[] = [];
  const routers: Entry[] = [];
  const splitters: Entry[] = [];
  const resolvers: Entry[] = [];
  const intentions: Entry[] = [];
  const l7 = new Set<string>();
  const defaultSubsets = new Map<string, string>();
  const allSubsets = new Set<string>();
  for (const [key, rules] of Object.entries(mesh.routes ?? {})) {
    if (!(key in mesh.services)) {
      notes.push(`routes.${key}: ${key} is external; Consul routes services of the catalog (a terminating gateway is set up outside config entries); left out`);
      continue;
    }
    const r = routesOf(mesh, key, rules, notes);
    if (r.router) routers.push(r.router);
    if (r.splitter) splitters.push(r.splitter);
    if (r.router || r.splitter) l7.add(key);
    if (r.defaultSubset) defaultSubsets.set(key, r.defaultSubset);
    if (r.allSubset) allSubsets.add(key);
  }
  for (const [name, svc] of Object.entries(mesh.services)) {
    const versions = Object.keys(svc.versions ?? {});
    const policy = mesh.policies?.[name];
    const resolver: Entry = { Kind: 'service-resolver', Name: name };
    if (defaultSubsets.has(name)) resolver.DefaultSubset = defaultSubsets.get(name);
    if (versions.length || allSubsets.has(name)) {
      resolver.Subsets = Object.fromEntries([...versions.map((v) => [v, { Filter: `Service.Meta.version == "${v}"` }]), ...(allSubsets.has(name) ? [[ALL_SUBSET, { Filter: '' }]] : [])]);
    }
    if (policy) {
      const { connectionPool, loadBalancer, ...rest } = policy;
      const { tcp, ...pool } = connectionPool ?? {};
      const { connectTimeout, ...tcpRest } = tcp ?? {};
      if (connectTimeout) resolver.ConnectTimeout = wholeDuration(connectTimeout);
      if (loadBalancer?.simple && LB[loadBalancer.simple] && !loadBalancer.consistentHash) resolver.LoadBalancer = { Policy: LB[loadBalancer.simple] };
      else if (loadBalancer) notes.push(`policies.${name}.loadBalancer: ${JSON.stringify(loadBalancer)} has no service-resolver form here; left out`);
      const left = [...Object.keys(rest).filter((k) => (rest as Record<string, unknown>)[k] !== undefined), ...Object.keys(pool).map((k) => `connectionPool.${k}`), ...Object.keys(tcpRest).map((k) => `connectionPool.tcp.${k}`)];
      if (left.length) notes.push(`policies.${name}: ${left.join(', ')} ${left.length > 1 ? 'have' : 'has'} no form in ${name}'s own config entries (Consul sets limits and passive health checks per caller, in the caller's service-defaults UpstreamConfig); left out`);
    }
    if (Object.keys(resolver).length > 2) resolvers.push(resolver);
    const policies = (mesh.authorization ?? []).filter((p) => p.service === undefined || p.service === name);
    for (const p of policies) if (p.action !== 'ALLOW' && p.action !== 'DENY' && p.service === name) notes.push(`authorization ${p.name}: ${p.action} has no intention form; left out`);
    const sources = intentionsOf(name, policies, notes);
    if (sources.length) intentions.push({ Kind: 'service-intentions', Name: name, Sources: sources });
  }
  for (const name of Object.keys(mesh.policies ?? {})) {
    if (!(name in mesh.services)) notes.push(`policies.${name}: ${name} is external; Consul resolves catalog services only; left out`);
  }
  for (const p of mesh.authorization ?? []) if (p.service === undefined && p.action !== 'ALLOW' && p.action !== 'DENY') notes.push(`authorization ${p.name}: ${p.action} has no intention form; left out`);
  if (mesh.authorization?.length && Object.keys(mesh.services).some((s) => !intentions.some((e) => e.Name === s))) {
    notes.push('services without authorization policies get no service-intentions: Consul then follows its ACL default policy (deny when ACLs are on) where devmesh allows every caller');
  }
  const defaults: Entry[] = [];
  for (const [name, svc] of Object.entries(mesh.services)) {
    const d: Entry = { Kind: 'service-defaults', Name: name };
    if (l7.has(name)) {
      if (svc.protocol === 'tcp') notes.push(`services.${name}: protocol tcp, but Consul's service-router and service-splitter need an L7 protocol; written as http`);
      d.Protocol = svc.protocol && svc.protocol !== 'tcp' ? svc.protocol : 'http';
    }
    const mode = mtlsMode(mesh.serviceMtls?.[name] ?? svc.mtls, `serviceMtls.${name}`, notes);
    if (mode) d.MutualTLSMode = mode;
    if (Object.keys(d).length > 2) defaults.push(d);
  }
  const proxy: Entry = { Kind: 'proxy-defaults', Name: 'global' };
  const meshMode = mtlsMode(mesh.mtls, 'mtls', notes);
  if (meshMode) proxy.MutualTLSMode = meshMode;
  if (mesh.external && Object.keys(mesh.external).length) notes.push('external: services outside the mesh go through a terminating gateway in Consul, not a config entry of the service; left out');
  if (mesh.tracing !== undefined) notes.push('tracing: Consul sets trace sampling in the Envoy bootstrap (proxy-defaults Config), which devmesh does not write; left out');
  // A mesh-wide policy is written for each service: say what it loses once.
  return { entries: [...(meshMode ? [proxy] : []), ...defaults, ...resolvers, ...splitters, ...routers, ...intentions], notes: [...new Set(notes)] };
}

const DATA_KEYS = new Set(['Subsets', 'Set', 'Add', 'Meta']);

/** Consul's CamelCase → the CRDs' camelCase (HTTP → http), keys of data maps (subset names, headers) kept. */
function camel(value: unknown, parent = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => camel(v, parent));
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [DATA_KEYS.has(parent) ? k : k === 'HTTP' ? 'http' : k[0]!.toLowerCase() + k.slice(1), camel(v, DATA_KEYS.has(parent) ? '' : k)]));
}

export function crdOf(e: Entry): object {
  const { Kind, Name, ...body } = e;
  const spec = camel(body) as Record<string, unknown>;
  if (Kind === 'service-intentions') spec.destination = { name: Name };
  return { apiVersion: 'consul.hashicorp.com/v1alpha1', kind: CRD_KIND[Kind] ?? Kind, metadata: { name: Name, namespace: NS }, spec };
}

export function exportConsul(mesh: MeshFile, form: ConsulForm = 'hcl'): ExportResult {
  const { entries, notes } = consulEntries(mesh);
  if (form === 'crd') return { yaml: entries.map((e) => stringify(crdOf(e), { lineWidth: 0 })).join('---\n'), notes };
  const files = entries.map((e) => ({ name: `${e.Kind}-${e.Name}.hcl`, text: hclEntry(e) }));
  return { yaml: files.map((f) => `# ${f.name}\n${f.text}`).join('\n'), notes, files };
}
