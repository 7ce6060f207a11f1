// Consul config entries → devmesh. The same entry arrives as HCL, JSON with CamelCase or snake_case keys,
// or a consul-k8s CRD (camelCase under spec); keys are normalized (lower case, no underscores) before
// reading. Routers, splitters and resolvers chain as in Consul: router → splitter → resolver subsets.
import type { AuthorizationPolicySpec, HttpRouteSpec } from '../../config/mesh-schema.js';
import { devmeshDuration, type Path, type Resource, type Session } from '../context.js';
import { escapeRegex, percentWeights, regexProblem, splitRetryOn, type Match } from '../route-helpers.js';

const ENTRY_KINDS = new Set(['service-router', 'service-splitter', 'service-resolver', 'service-intentions', 'service-defaults', 'proxy-defaults', 'ingress-gateway', 'terminating-gateway', 'mesh', 'exported-services', 'api-gateway', 'http-route', 'tcp-route', 'inline-certificate', 'jwt-provider', 'sameness-group', 'control-plane-request-limit', 'file-system-certificate']);
const CRD_KINDS: Record<string, string> = {
  ServiceRouter: 'service-router', ServiceSplitter: 'service-splitter', ServiceResolver: 'service-resolver', ServiceIntentions: 'service-intentions',
  ServiceDefaults: 'service-defaults', ProxyDefaults: 'proxy-defaults', IngressGateway: 'ingress-gateway', TerminatingGateway: 'terminating-gateway',
  Mesh: 'mesh', ExportedServices: 'exported-services', SamenessGroup: 'sameness-group', JWTProvider: 'jwt-provider',
};

export function isConsulEntry(value: Record<string, unknown>): boolean {
  const k = value.Kind ?? value.kind;
  return typeof k === 'string' && ENTRY_KINDS.has(k);
}

/** Keys whose children are user data (subset names, header names, metadata), not schema fields. */
const DATA_MAPS = new Set(['subsets', 'meta', 'add', 'set', 'failover', 'config']);
/** Fields that are lists in Consul's schema; any other single-element list of maps is an HCL block. */
const LISTS = new Set(['routes', 'splits', 'sources', 'permissions', 'header', 'queryparam', 'methods', 'hashpolicies', 'overrides', 'targets', 'paths', 'remove', 'datacenters', 'services', 'listeners', 'hosts']);

function norm(key: string): string {
  return key.replace(/_/g, '').toLowerCase();
}

/** Consul spelling variants → one: keys lower-cased without underscores; HCL block lists unwrapped. */
export function normalizeEntry(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v) => normalizeEntry(v, key));
    if (!LISTS.has(key) && items.length === 1 && items[0] && typeof items[0] === 'object' && !Array.isArray(items[0])) return items[0];
    return items;
  }
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const nk = DATA_MAPS.has(key) ? k : norm(k);
    out[nk] = DATA_MAPS.has(key) ? normalizeEntry(v, '') : normalizeEntry(v, nk);
  }
  if (key === 'requestheaders' || key === 'responseheaders') return out;
  return out;
}

interface Entry {
  res: Resource;
  kind: string;
  name: string;
  /** Normalized body (CRD: spec plus the name). */
  body: Record<string, unknown>;
  /** Path prefix of the body in the source document. */
  at: Path;
  /** Original key spelling, for report paths: normalized key → source key, per object path. */
  src: Record<string, unknown>;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The source path of a normalized path (so the report points at the key as the user wrote it). */
function srcPath(e: Entry, p: Path): Path {
  const out: Path = [...e.at];
  let node: unknown = e.src;
  for (const seg of p) {
    if (typeof seg === 'number') {
      out.push(seg);
      node = Array.isArray(node) ? node[seg] : node;
      continue;
    }
    if (Array.isArray(node) && node.length === 1) {
      out.push(0); // an HCL block: a list of one object
      node = node[0];
    }
    const obj = (node && typeof node === 'object' ? node : {}) as Record<string, unknown>;
    const key = Object.keys(obj).find((k) => norm(k) === seg) ?? seg;
    out.push(key);
    node = obj[key];
  }
  return out;
}

function entryOf(res: Resource): Entry | null {
  const v = res.value;
  if (v.apiVersion) {
    const kind = CRD_KINDS[res.kind];
    const spec = (v.spec ?? {}) as Record<string, unknown>;
    if (!kind) return { res, kind: res.kind, name: res.name, body: {}, at: ['spec'], src: spec };
    return { res, kind, name: res.name, body: normalizeEntry(spec) as Record<string, unknown>, at: ['spec'], src: spec };
  }
  const body = normalizeEntry(v) as Record<string, unknown>;
  const name = str(body.name);
  if (!name) {
    res.fail([Object.keys(v).find((k) => norm(k) === 'name') ?? 'Name'], 'Required: the config entry needs a Name');
    return null;
  }
  return { res, kind: String(body.kind), name, body, at: [], src: v };
}

function versionOfFilter(filter: string): string | null {
  const m = /Service\.Meta\.version\s*==\s*"?([\w.-]+)"?/.exec(filter) ?? /Service\.Tags\s+contains\s+"?([\w.-]+)"?/.exec(filter);
  return m ? m[1]! : null;
}

export function translateConsul(resources: Resource[], session: Session): void {
  const entries = resources.map(entryOf).filter((e): e is Entry => e !== null);
  const mapped = (e: Entry, p: Path, d: string) => e.res.mapped(srcPath(e, p), d);
  const approx = (e: Entry, p: Path, d: string) => e.res.approx(srcPath(e, p), d);
  const ignored = (e: Entry, p: Path, d: string) => e.res.ignored(srcPath(e, p), d);
  const fail = (e: Entry, p: Path, d: string) => e.res.fail(srcPath(e, p), d);
  const local = (e: Entry, name: string, p: Path, primary = p.length === 1 || p[0] === 'destination'): string | null => {
    const t = session.target(name);
    if (!t || t.kind !== 'service') {
      if (primary) e.res.skip(srcPath(e, p), `${name} maps to no local service: not applied (use --map ${name}=LOCAL)`);
      else ignored(e, p, `${name} maps to no local service (use --map ${name}=LOCAL)`);
      return null;
    }
    return t.service;
  };

  // Resolver subsets: service → subset → local version.
  const subsets = new Map<string, Map<string, string | null>>();
  const defaultSubset = new Map<string, string>();
  for (const e of entries.filter((x) => x.kind === 'service-resolver')) {
    const svc = local(e, e.name, ['name']);
    if (!svc) continue;
    const versions = session.hosts.versionsOf(svc);
    const map = new Map<string, string | null>();
    for (const [name, sub] of Object.entries((e.body.subsets ?? {}) as Record<string, Record<string, unknown>>)) {
      const filter = str(sub?.filter) ?? '';
      const v = versionOfFilter(filter);
      const candidates = [v, v !== null ? `v${v}` : null, name].filter((x): x is string => !!x);
      const hit = versions === null ? candidates[0]! : candidates.find((c) => versions.includes(c));
      if (hit === undefined) {
        map.set(name, null);
        approx(e, ['subsets', name], versions && versions.length === 0 ? `${svc} has no versions locally: subset ${name} means all its instances` : `filter "${filter}" matches no local version of ${svc} (${(versions ?? []).join(', ')})`);
      } else {
        map.set(name, hit);
        if (v !== null && hit === v) mapped(e, ['subsets', name], `subset ${name} (${filter}) → version ${hit}`);
        else if (v !== null && hit === `v${v}`) approx(e, ['subsets', name], `filter "${filter}" → local version ${hit} (version ${v} written the devmesh way, v${v})`);
        else approx(e, ['subsets', name], `filter "${filter}" is not a version test: subset ${name} → the local version of the same name`);
      }
      if (sub?.onlypassing !== undefined) mapped(e, ['subsets', name, 'onlypassing'], 'devmesh only routes to healthy instances');
    }
    subsets.set(svc, map);
    if (str(e.body.defaultsubset)) {
      defaultSubset.set(svc, str(e.body.defaultsubset)!);
      mapped(e, ['defaultsubset'], 'the default route goes to this subset');
    }
    if (e.body.connecttimeout !== undefined) {
      const d = devmeshDuration(e.body.connecttimeout);
      if (d) {
        const p = session.policyFor(svc);
        p.connectionPool = { ...(p.connectionPool ?? {}), tcp: { ...(p.connectionPool?.tcp ?? {}), connectTimeout: d } };
        mapped(e, ['connecttimeout'], `policies.${svc}.connectionPool.tcp.connectTimeout`);
      } else fail(e, ['connecttimeout'], `invalid duration "${String(e.body.connecttimeout)}"`);
    }
    const lb = e.body.loadbalancer as Record<string, unknown> | undefined;
    if (lb) {
      const policy = str(lb.policy);
      const simple: Record<string, 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM'> = { round_robin: 'ROUND_ROBIN', least_request: 'LEAST_REQUEST', random: 'RANDOM' };
      if (policy && simple[policy]) {
        session.policyFor(svc).loadBalancer = { simple: simple[policy] };
        mapped(e, ['loadbalancer'], `loadBalancer ${simple[policy]}`);
      } else approx(e, ['loadbalancer'], `load balancing ${policy ?? '(unset)'}: hash policies are not applied locally`);
    }
    if (e.body.failover !== undefined) ignored(e, ['failover'], 'failover to other datacenters or peers: everything runs on one machine');
    if (e.body.redirect !== undefined) approx(e, ['redirect'], 'a resolver redirect is not applied: route to the other service explicitly');
    for (const k of ['kind', 'name', 'namespace', 'partition', 'meta', 'subsets', 'requesttimeout']) e.res.cover(srcPath(e, [k]));
  }
  const resolveSubset = (e: Entry, svc: string, subset: string | undefined, p: Path): { ok: boolean; version?: string } => {
    if (subset === undefined) return { ok: true };
    const v = subsets.get(svc)?.get(subset);
    if (v === null) return { ok: true }; // reported at the resolver: all instances
    if (v !== undefined) return { ok: true, version: v };
    const versions = session.hosts.versionsOf(svc);
    if (versions === null || versions.includes(subset)) return { ok: true, version: subset };
    approx(e, p, `subset ${subset} is not defined by a service-resolver in this import and is no local version of ${svc}: left out`);
    return { ok: false };
  };

  // Splitters: service → weighted destinations.
  const splits = new Map<string, NonNullable<HttpRouteSpec['route']>>();
  for (const e of entries.filter((x) => x.kind === 'service-splitter')) {
    const svc = local(e, e.name, ['name']);
    if (!svc) continue;
    const list = (e.body.splits ?? []) as Record<string, unknown>[];
    if (!Array.isArray(list) || list.length === 0) {
      fail(e, ['splits'], 'Required: at least one split');
      continue;
    }
    const dests: { d: NonNullable<HttpRouteSpec['route']>[number]; w: number }[] = [];
    list.forEach((s, i) => {
      const w = typeof s.weight === 'number' ? s.weight : NaN;
      if (!(w >= 0 && w <= 100)) return fail(e, ['splits', i, 'weight'], 'must be a number from 0 to 100');
      const target = str(s.service) ? local(e, str(s.service)!, ['splits', i, 'service']) : svc;
      if (!target) return;
      const sub = resolveSubset(e, target, str(s.servicesubset), ['splits', i, 'servicesubset']);
      if (!sub.ok) return;
      const d: NonNullable<HttpRouteSpec['route']>[number] = { destination: { ...(target !== svc ? { host: target } : {}), ...(sub.version ? { subset: sub.version } : {}) } };
      const rh = s.requestheaders as Record<string, unknown> | undefined;
      const sh = s.responseheaders as Record<string, unknown> | undefined;
      if (rh || sh) d.headers = { ...(rh ? { request: rh } : {}), ...(sh ? { response: sh } : {}) };
      dests.push({ d, w });
      e.res.cover(srcPath(e, ['splits', i]));
    });
    if (e.res.invalid) continue;
    const total = dests.reduce((a, x) => a + x.w, 0);
    const listed = list.reduce((a, s) => a + (typeof s.weight === 'number' ? s.weight : 0), 0);
    if (Math.abs(listed - 100) > 0.01) {
      fail(e, ['splits'], `the sum of all split weights must be 100, not ${listed}`);
      continue;
    }
    if (dests.length === 0) continue;
    const { percents, exact } = percentWeights(dests.map((x) => x.w));
    splits.set(svc, dests.map((x, i) => (dests.length > 1 ? { ...x.d, weight: percents[i]! } : x.d)));
    if (exact && total === 100) mapped(e, ['splits'], `the default route of ${svc}: ${percents.join('/')} percent`);
    else approx(e, ['splits'], `weights rounded to whole percents: ${percents.join('/')}`);
  }

  const defaultRoute = (svc: string): NonNullable<HttpRouteSpec['route']> => {
    const split = splits.get(svc);
    if (split) return structuredClone(split);
    const ds = defaultSubset.get(svc);
    const v = ds ? subsets.get(svc)?.get(ds) : undefined;
    return [{ destination: { ...(v ? { subset: v } : {}) } }];
  };
  const routed = new Set<string>();

  // Routers: ordered rules, then the default route (splitter or resolver).
  for (const e of entries.filter((x) => x.kind === 'service-router')) {
    const svc = local(e, e.name, ['name']);
    if (!svc) continue;
    const rules: HttpRouteSpec[] = [];
    ((e.body.routes ?? []) as Record<string, unknown>[]).forEach((r, i) => {
      const p: Path = ['routes', i];
      const http = ((r.match as Record<string, unknown> | undefined)?.http ?? {}) as Record<string, unknown>;
      const m: Match = {};
      const paths = ['pathexact', 'pathprefix', 'pathregex'].filter((k) => http[k] !== undefined);
      if (paths.length > 1) return fail(e, [...p, 'match', 'http'], 'set only one of PathExact, PathPrefix, PathRegex');
      if (str(http.pathexact)) m.uri = { exact: str(http.pathexact)! };
      if (str(http.pathprefix)) m.uri = { prefix: str(http.pathprefix)! };
      if (str(http.pathregex)) {
        const problem = regexProblem(str(http.pathregex)!);
        if (problem !== null) return fail(e, [...p, 'match', 'http', 'pathregex'], problem);
        m.uri = { regex: `^(?:${str(http.pathregex)})$` };
      }
      const methods = http.methods as string[] | undefined;
      if (methods?.length) m.method = methods.length === 1 ? { exact: methods[0]! } : { regex: `^(${methods.map(escapeRegex).join('|')})$` };
      for (const [field, target] of [['header', 'headers'], ['queryparam', 'queryParams']] as const) {
        ((http[field] ?? []) as Record<string, unknown>[]).forEach((h, j) => {
          const name = str(h.name);
          if (!name) return fail(e, [...p, 'match', 'http', field, j, 'name'], 'Required');
          let sm: { exact: string } | { prefix: string } | { regex: string } | Record<string, never> = {};
          if (h.present === true) sm = {};
          else if (str(h.exact) !== undefined) sm = { exact: str(h.exact)! };
          else if (str(h.prefix) !== undefined) sm = { prefix: str(h.prefix)! };
          else if (str(h.suffix) !== undefined) sm = { regex: `.*${escapeRegex(str(h.suffix)!)}$` };
          else if (str(h.regex) !== undefined) {
            const problem = regexProblem(str(h.regex)!);
            if (problem !== null) return fail(e, [...p, 'match', 'http', field, j, 'regex'], problem);
            sm = { regex: str(h.regex)! };
          }
          const key = field === 'header' ? name.toLowerCase() : name;
          const dest = h.invert === true && field === 'header' ? 'withoutHeaders' : target;
          (m[dest] ??= {})[key] = sm;
          if (h.invert === true && field !== 'header') approx(e, [...p, 'match', 'http', field, j], 'an inverted query match is not supported: matched as written');
          else e.res.cover(srcPath(e, [...p, 'match', 'http', field, j]));
        });
      }
      e.res.cover(srcPath(e, [...p, 'match']));
      const d = (r.destination ?? {}) as Record<string, unknown>;
      const target = str(d.service) ? local(e, str(d.service)!, [...p, 'destination', 'service']) : svc;
      if (!target) return;
      const rule: HttpRouteSpec = { ...(Object.keys(m).length ? { match: [m] } : {}) };
      const sub = resolveSubset(e, target, str(d.servicesubset), [...p, 'destination', 'servicesubset']);
      if (!sub.ok) return;
      rule.route = !str(d.servicesubset) && splits.has(target) ? defaultRoute(target).map((x) => (target !== svc ? { ...x, destination: { ...x.destination, host: x.destination.host ?? target } } : x)) : [{ destination: { ...(target !== svc ? { host: target } : {}), ...(sub.version ? { subset: sub.version } : {}) } }];
      if (str(d.prefixrewrite) !== undefined) rule.rewrite = { uri: str(d.prefixrewrite)! };
      const timeout = d.requesttimeout !== undefined ? devmeshDuration(d.requesttimeout) : null;
      if (timeout && !/^0(ms|s|m|h)$/.test(timeout)) rule.timeout = timeout;
      const retryOn: string[] = [];
      if (d.retryonconnectfailure === true) retryOn.push('connect-failure');
      for (const c of (d.retryonstatuscodes ?? []) as number[]) retryOn.push(String(c));
      const { kept, dropped } = splitRetryOn(((d.retryon ?? []) as string[]).join(','));
      retryOn.push(...kept);
      if (dropped.length) approx(e, [...p, 'destination', 'retryon'], `${dropped.join(', ')} not supported locally: dropped`);
      const n = typeof d.numretries === 'number' ? d.numretries : retryOn.length ? 1 : 0;
      rule.retries = { attempts: Math.min(n, 20), ...(retryOn.length ? { retryOn: [...new Set(retryOn)].join(',') } : {}) };
      if (n > 0 && retryOn.length === 0) approx(e, [...p, 'destination', 'numretries'], 'no retry condition given: devmesh retries on its default conditions (connection failures and 503)');
      const rh = d.requestheaders as Record<string, unknown> | undefined;
      const sh = d.responseheaders as Record<string, unknown> | undefined;
      if (rh || sh) rule.headers = { ...(rh ? { request: rh } : {}), ...(sh ? { response: sh } : {}) };
      if (d.idletimeout !== undefined) ignored(e, [...p, 'destination', 'idletimeout'], 'idle stream timeouts are not applied locally');
      for (const k of ['namespace', 'partition']) if (d[k] !== undefined) ignored(e, [...p, 'destination', k], 'devmesh has one namespace and partition');
      for (const k of ['service', 'servicesubset', 'prefixrewrite', 'requesttimeout', 'retryonconnectfailure', 'retryonstatuscodes', 'retryon', 'numretries', 'requestheaders', 'responseheaders']) e.res.cover(srcPath(e, [...p, 'destination', k]));
      rules.push(rule);
    });
    if (e.res.invalid) continue;
    rules.push({ name: 'default', route: defaultRoute(svc), retries: { attempts: 0 } });
    mapped(e, ['routes'], `routes.${svc}: ${rules.length - 1} rule(s), then the default route (no retries, as in Consul)`);
    session.addRules(svc, rules, `service-router ${e.name}`, e.res);
    routed.add(svc);
    for (const k of ['kind', 'name', 'namespace', 'partition', 'meta']) e.res.cover(srcPath(e, [k]));
  }
  // A splitter without a router (or a resolver's default subset) still needs a rule.
  for (const svc of new Set([...splits.keys(), ...defaultSubset.keys()])) {
    if (routed.has(svc)) continue;
    const e = entries.find((x) => (x.kind === 'service-splitter' || x.kind === 'service-resolver') && session.hosts.resolve(x.name)?.kind === 'service' && (session.hosts.resolve(x.name) as { service: string }).service === svc)!;
    session.addRules(svc, [{ name: 'default', route: defaultRoute(svc), retries: { attempts: 0 } }], `${e.kind} ${e.name}`, e.res);
  }
  for (const e of entries.filter((x) => x.kind === 'service-splitter')) for (const k of ['kind', 'name', 'namespace', 'partition', 'meta']) e.res.cover(srcPath(e, [k]));

  // Intentions: exact sources beat the wildcard, as Consul orders them by precedence.
  for (const e of entries.filter((x) => x.kind === 'service-intentions')) {
    const destName = e.res.value.apiVersion ? str((e.body.destination as Record<string, unknown> | undefined)?.name) : e.name;
    if (!destName) {
      fail(e, ['destination', 'name'], 'Required');
      continue;
    }
    const destPath: Path = e.res.value.apiVersion ? ['destination', 'name'] : ['name'];
    if (destName === '*') {
      approx(e, destPath, 'intentions for every destination: applied to every local service');
    }
    const svc = destName === '*' ? undefined : local(e, destName, destPath);
    if (destName !== '*' && !svc) continue;
    const allowSvc: string[] = [];
    const denySvc: string[] = [];
    let wildcard: 'allow' | 'deny' | null = null;
    const l7Allow: NonNullable<AuthorizationPolicySpec['rules']> = [];
    const l7Deny: NonNullable<AuthorizationPolicySpec['rules']> = [];
    ((e.body.sources ?? []) as Record<string, unknown>[]).forEach((s, i) => {
      const p: Path = ['sources', i];
      const name = str(s.name);
      if (!name) return fail(e, [...p, 'name'], 'Required');
      const action = str(s.action);
      const perms = s.permissions as Record<string, unknown>[] | undefined;
      if (action !== undefined && perms !== undefined) return fail(e, p, 'set Action or Permissions, not both');
      if (action !== undefined && action !== 'allow' && action !== 'deny') return fail(e, [...p, 'action'], `Unsupported value: "${action}": supported values: "allow", "deny"`);
      if (action === undefined && perms === undefined) return fail(e, p, 'needs Action or Permissions');
      const from = name === '*' ? undefined : session.hosts.resolve(name);
      if (name !== '*' && (!from || from.kind !== 'service')) {
        approx(e, [...p, 'name'], `source ${name} is no local service: it can never call (use --map ${name}=LOCAL)`);
        return;
      }
      const source = name === '*' ? undefined : (from as { service: string }).service;
      if (action) {
        if (source === undefined) wildcard = action as 'allow' | 'deny';
        else (action === 'allow' ? allowSvc : denySvc).push(source);
        mapped(e, p, `${action} from ${source ?? 'any service'}`);
      } else {
        perms!.forEach((perm, j) => {
          const http = (perm.http ?? {}) as Record<string, unknown>;
          const op: Record<string, string[]> = {};
          if (str(http.pathexact)) op.paths = [str(http.pathexact)!];
          else if (str(http.pathprefix)) op.paths = [`${str(http.pathprefix)!}*`];
          if (http.pathregex !== undefined) approx(e, [...p, 'permissions', j, 'http', 'pathregex'], 'path regexes are not supported by authorization rules: the path condition is dropped');
          if ((http.methods as string[] | undefined)?.length) op.methods = http.methods as string[];
          if ((http.header as unknown[] | undefined)?.length) approx(e, [...p, 'permissions', j, 'http', 'header'], 'header conditions of permissions are dropped');
          const rule = { ...(source ? { from: [{ source: { services: [source] } }] } : {}), to: [{ operation: op }] };
          (str(perm.action) === 'deny' ? l7Deny : l7Allow).push(rule);
          e.res.cover(srcPath(e, [...p, 'permissions', j]));
        });
        approx(e, [...p, 'permissions'], 'L7 permissions: Consul takes the first matching permission; devmesh applies DENY before ALLOW');
      }
      for (const k of ['namespace', 'partition', 'peer', 'samenessgroup']) if (s[k] !== undefined) ignored(e, [...p, k], 'devmesh has one namespace, partition and peer');
      for (const k of ['type', 'description', 'precedence', 'legacyid', 'legacymeta', 'legacycreatetime', 'legacyupdatetime']) e.res.cover(srcPath(e, [...p, k]));
    });
    if (e.res.invalid) continue;
    const base = `${destName === '*' ? 'all' : svc}-intentions`;
    const push = (p: AuthorizationPolicySpec) => session.authorization.push(svc ? { ...p, service: svc } : p);
    if (denySvc.length || l7Deny.length) {
      if (wildcard === 'allow' || wildcard === null || denySvc.length) push({ name: `${base}-deny`, action: 'DENY', rules: [...(denySvc.length ? [{ from: [{ source: { services: denySvc } }] }] : []), ...l7Deny] });
    }
    if (wildcard !== 'allow') {
      // Not allowed by an exact source (or a permission): denied, by the wildcard or by Consul's default-deny ACL policy.
      push({ name: `${base}-allow`, action: 'ALLOW', rules: [...(allowSvc.length ? [{ from: [{ source: { services: allowSvc } }] }] : []), ...l7Allow] });
      if (wildcard === null) approx(e, ['sources'], 'sources not listed are denied, as with Consul\'s default-deny ACL policy (intentions\' default follows acl default_policy)');
    } else if (l7Allow.length) push({ name: `${base}-allow`, action: 'ALLOW', rules: [{}, ...l7Allow] });
    for (const k of ['kind', 'name', 'namespace', 'partition', 'meta', 'destination', 'sources']) e.res.cover(srcPath(e, [k]));
  }

  // service-defaults and proxy-defaults.
  for (const e of entries.filter((x) => x.kind === 'service-defaults')) {
    const svc = local(e, e.name, ['name']);
    if (!svc) continue;
    const mode = str(e.body.mutualtlsmode);
    if (mode) {
      if (mode === 'strict' || mode === 'permissive') {
        session.serviceMtls.set(svc, mode.toUpperCase() as 'STRICT' | 'PERMISSIVE');
        mapped(e, ['mutualtlsmode'], `serviceMtls.${svc}: ${mode.toUpperCase()}`);
      } else if (mode !== '') fail(e, ['mutualtlsmode'], `Unsupported value: "${mode}": supported values: "", "strict", "permissive"`);
    }
    if (e.body.protocol !== undefined) approx(e, ['protocol'], 'the protocol is set per service in devmesh.yaml (services.<name>.protocol)');
    const up = (e.body.upstreamconfig ?? {}) as Record<string, unknown>;
    ((up.overrides ?? []) as Record<string, unknown>[]).forEach((o, i) => {
      const target = str(o.name) ? local(e, str(o.name)!, ['upstreamconfig', 'overrides', i, 'name']) : null;
      if (!target) return;
      const pol = session.policyFor(target);
      const limits = o.limits as Record<string, number> | undefined;
      if (limits) {
        pol.connectionPool = {
          ...(limits.maxconnections ? { tcp: { maxConnections: limits.maxconnections } } : {}),
          ...(limits.maxpendingrequests || limits.maxconcurrentrequests ? { http: { ...(limits.maxpendingrequests ? { http1MaxPendingRequests: limits.maxpendingrequests } : {}), ...(limits.maxconcurrentrequests ? { http2MaxRequests: limits.maxconcurrentrequests } : {}) } } : {}),
        };
      }
      const phc = o.passivehealthcheck as Record<string, unknown> | undefined;
      if (phc) {
        pol.outlierDetection = {
          ...(typeof phc.maxfailures === 'number' ? { consecutive5xxErrors: phc.maxfailures } : {}),
          ...(phc.interval !== undefined && devmeshDuration(phc.interval) ? { interval: devmeshDuration(phc.interval)! } : {}),
          ...(phc.baseejectiontime !== undefined && devmeshDuration(phc.baseejectiontime) ? { baseEjectionTime: devmeshDuration(phc.baseejectiontime)! } : {}),
          ...(typeof phc.maxejectionpercent === 'number' ? { maxEjectionPercent: phc.maxejectionpercent } : {}),
        };
      }
      approx(e, ['upstreamconfig', 'overrides', i], `limits for calls to ${target} applied for every caller of ${target}, not only ${svc}`);
    });
    if (up.defaults !== undefined) ignored(e, ['upstreamconfig', 'defaults'], 'defaults for every upstream of one service have no per-caller equivalent locally');
    for (const k of ['kind', 'name', 'namespace', 'partition', 'meta', 'upstreamconfig']) e.res.cover(srcPath(e, [k]));
  }
  for (const e of entries.filter((x) => x.kind === 'proxy-defaults')) {
    const mode = str(e.body.mutualtlsmode);
    if (mode === 'strict' || mode === 'permissive') {
      session.mtls = mode.toUpperCase() as 'STRICT' | 'PERMISSIVE';
      mapped(e, ['mutualtlsmode'], `mesh mtls ${session.mtls}`);
    }
    if (e.body.config !== undefined) ignored(e, ['config'], 'Envoy proxy configuration has no local equivalent');
    if (e.body.mode !== undefined) ignored(e, ['mode'], 'apps reach upstreams through their injected URLs locally');
    for (const k of ['kind', 'name', 'namespace', 'partition', 'meta']) e.res.cover(srcPath(e, [k]));
  }
  const handled = new Set(['service-router', 'service-splitter', 'service-resolver', 'service-intentions', 'service-defaults', 'proxy-defaults']);
  for (const e of entries) {
    if (!handled.has(e.kind)) {
      e.res.ignored([], `${e.kind} is not applied locally (gateways, peering and mesh-wide Consul settings have no local equivalent)`);
      e.res.cover(e.at.length ? e.at : []);
      continue;
    }
    e.res.finish(e.at, 'not used by devmesh');
  }
  for (const r of resources) if (!entries.some((e) => e.res === r)) r.finish([]);
}
