// Linkerd → devmesh: ServiceProfiles (per-route retries and timeouts, retry budget, traffic split by
// dstOverrides), policy.linkerd.io Servers and their authorizations (ServerAuthorization,
// AuthorizationPolicy with MeshTLSAuthentication / NetworkAuthentication / ServiceAccount), HTTPRoutes
// (on a Service: routing, as in Gateway API; on a Server: the scope of an authorization), and the
// retry/timeout annotations.
import { z } from 'zod';
import type { AuthorizationPolicySpec, HttpRouteSpec } from '../../config/mesh-schema.js';
import { LINKERD_ROUTE_TIMEOUT } from '../../mesh-semantics/defaults.js';
import { devmeshDuration, servicesOfLabels, type Path, type Resource, type Session } from '../context.js';
import { translateRoutes } from '../gateway-api/gateway-api.js';
import { percentWeights, validRegex, type Match } from '../route-helpers.js';
import { isLinkerdAnnotated as annotated, linkerdRouteAnnotations } from './annotations.js';

export const isLinkerdAnnotated = annotated;

/** Kubernetes quantities as Linkerd writes weights: "500m" = 0.5, "1" = 1, "1k" = 1000. */
export function parseQuantity(q: unknown): number | null {
  if (typeof q === 'number') return Number.isFinite(q) && q >= 0 ? q : null;
  if (typeof q !== 'string') return null;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(q.trim());
  if (!m) return null;
  const mult: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1);
}

const Condition: z.ZodType<Record<string, unknown>> = z.lazy(() =>
  z.looseObject({ method: z.string().optional(), pathRegex: z.string().optional(), all: z.array(Condition).optional(), any: z.array(Condition).optional(), not: Condition.optional() }),
);
const ServiceProfileSpec = z.looseObject({
  routes: z.array(z.looseObject({ name: z.string(), condition: Condition, isRetryable: z.boolean().optional(), timeout: z.string().optional(), responseClasses: z.array(z.looseObject({})).optional() })).optional(),
  retryBudget: z.looseObject({ retryRatio: z.number().min(0), minRetriesPerSecond: z.number().int().min(0), ttl: z.string() }).optional(),
  dstOverrides: z.array(z.looseObject({ authority: z.string(), weight: z.union([z.string(), z.number()]) })).optional(),
});

/** A ServiceProfile condition → OR of match blocks; null where it cannot be expressed. */
function conditionMatches(c: Record<string, unknown>): Match[] | null {
  if (c.any) {
    const parts = (c.any as Record<string, unknown>[]).map(conditionMatches);
    return parts.some((p) => p === null) ? null : parts.flat() as Match[];
  }
  const m: Match = {};
  if (typeof c.method === 'string') m.method = { exact: c.method };
  if (typeof c.pathRegex === 'string') {
    const re = `^(?:${c.pathRegex})$`;
    if (!validRegex(re)) return null;
    m.uri = { regex: re };
  }
  if (c.all) {
    for (const part of c.all as Record<string, unknown>[]) {
      const sub = conditionMatches(part);
      if (!sub || sub.length !== 1) return null;
      Object.assign(m, sub[0]);
    }
  }
  if (c.not) return null;
  return [m];
}

function translateServiceProfile(res: Resource, session: Session): void {
  const spec = res.check(ServiceProfileSpec, res.value.spec ?? {}, ['spec']);
  if (!spec) return;
  const t = session.target(res.name);
  if (!t || t.kind !== 'service') {
    res.ignored(['metadata', 'name'], `${res.name} maps to no local service (use --map)`);
    return;
  }
  const svc = t.service;
  let split: NonNullable<HttpRouteSpec['route']> | undefined;
  if (spec.dstOverrides?.length) {
    const parts = spec.dstOverrides.map((o, i) => ({ o, i, w: parseQuantity(o.weight), t: session.target(o.authority.replace(/:\d+$/, '')) }));
    for (const p of parts) if (p.w === null) res.fail(['spec', 'dstOverrides', p.i, 'weight'], `"${String(p.o.weight)}" is not a quantity such as 1, 500m or 0.5`);
    if (res.invalid) return;
    const usable = parts.filter((p) => p.t?.kind === 'service');
    for (const p of parts) if (!usable.includes(p)) res.ignored(['spec', 'dstOverrides', p.i], `${p.o.authority} maps to no local service: left out (use --map)`);
    if (usable.length) {
      const { percents, exact } = percentWeights(usable.map((p) => p.w!));
      split = usable.map((p, k) => {
        const tt = p.t as { service: string; subset?: string };
        return { destination: { ...(tt.service !== svc ? { host: tt.service } : {}), ...(tt.subset ? { subset: tt.subset } : {}) }, ...(usable.length > 1 ? { weight: percents[k]! } : {}) };
      });
      (exact ? res.mapped : res.approx).call(res, ['spec', 'dstOverrides'], `traffic split ${usable.map((p, k) => `${p.o.authority} ${String(p.o.weight)} → ${percents[k]}%`).join(', ')}${exact ? '' : ' (rounded)'}`);
    }
  }
  const rules: HttpRouteSpec[] = [];
  (spec.routes ?? []).forEach((r, i) => {
    const p: Path = ['spec', 'routes', i];
    const matches = conditionMatches(r.condition);
    if (!matches) {
      res.approx([...p, 'condition'], 'a condition with "not" (or an invalid regex) cannot be expressed as devmesh matches: the route is left out');
      return;
    }
    res.mapped([...p, 'condition'], 'match (pathRegex anchored to the whole path)');
    const rule: HttpRouteSpec = { name: r.name, match: matches, route: split ? structuredClone(split) : [{ destination: {} }] };
    if (r.isRetryable) {
      rule.retries = { attempts: 3, retryOn: '5xx' };
      res.approx([...p, 'isRetryable'], 'Linkerd retries while the retry budget allows; devmesh retries up to 3 times on 5xx, within the retry budget');
    } else {
      rule.retries = { attempts: 0 };
      res.mapped([...p, 'isRetryable'], 'not retryable: no retries');
    }
    const timeout = r.timeout !== undefined ? devmeshDuration(r.timeout) : LINKERD_ROUTE_TIMEOUT;
    if (timeout === null) return res.fail([...p, 'timeout'], `invalid duration "${r.timeout}"`);
    rule.timeout = timeout;
    if (r.timeout === undefined) res.mapped(p, `timeout ${LINKERD_ROUTE_TIMEOUT} (Linkerd's default for a ServiceProfile route)`);
    else res.cover([...p, 'timeout']);
    if (r.responseClasses) res.approx([...p, 'responseClasses'], 'response classes only feed Linkerd metrics here; devmesh counts 5xx as failures');
    res.cover([...p, 'name']);
    rules.push(rule);
  });
  if (res.invalid) return;
  // Requests that match no route: no retries, no timeout (and the split, if any).
  rules.push({ name: 'default', route: split ? structuredClone(split) : [{ destination: {} }], retries: { attempts: 0 } });
  session.addRules(svc, rules, `${res.kind} ${res.name}`, res);
  if (spec.retryBudget) {
    const ttl = devmeshDuration(spec.retryBudget.ttl);
    session.policyFor(svc).retryBudget = { retryRatio: Math.min(spec.retryBudget.retryRatio, 1), minRetriesPerSecond: spec.retryBudget.minRetriesPerSecond, ...(ttl ? { ttl } : {}) };
    res.mapped(['spec', 'retryBudget'], `policies.${svc}.retryBudget`);
  }
  if ((res.value.spec as Record<string, unknown>).opaquePorts !== undefined) res.ignored(['spec', 'opaquePorts'], 'protocol is declared per service in devmesh.yaml');
}

// ---- policy ----

interface ServerInfo {
  res: Resource;
  services: string[];
  admin: boolean;
  labels: Record<string, string>;
}

const ADMIN_PORTS = /^(linkerd-admin|admin|admin-http|prom|prometheus|metrics|\d{4,5}-admin)$/;

function serverInfo(res: Resource, session: Session): ServerInfo | null {
  const spec = res.value.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') {
    res.fail(['spec'], 'Required');
    return null;
  }
  const port = spec.port;
  if (port === undefined) res.fail(['spec', 'port'], 'Required');
  if (res.invalid) return null;
  const labels = ((res.value.metadata as Record<string, unknown>).labels ?? {}) as Record<string, string>;
  const admin = typeof port === 'string' && ADMIN_PORTS.test(port);
  const services = new Set<string>();
  const sel = (spec.podSelector ?? spec.selector) as { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined;
  const ml = sel?.matchLabels ?? {};
  const exprs = sel?.matchExpressions ?? [];
  if (Object.keys(ml).length === 0 && exprs.length === 0) Object.keys(session.hosts.local?.services ?? {}).forEach((s) => services.add(s));
  const fromLabels = servicesOfLabels(session, ml);
  if (fromLabels !== 'all') fromLabels.services.forEach((s) => services.add(s));
  for (const e of exprs) {
    if ((e.key === 'app' || e.key === 'app.kubernetes.io/name') && e.operator === 'In') {
      for (const v of e.values ?? []) {
        const t = session.hosts.resolve(v);
        if (t?.kind === 'service') services.add(t.service);
      }
    }
  }
  res.cover(['spec', 'podSelector']);
  res.cover(['spec', 'selector']);
  res.cover(['spec', 'port']);
  res.cover(['spec', 'proxyProtocol']);
  if (spec.accessPolicy !== undefined) res.cover(['spec', 'accessPolicy']);
  return { res, services: [...services], admin, labels };
}

type Sources = NonNullable<NonNullable<AuthorizationPolicySpec['rules']>[number]['from']>;

/** meshTLS / unauthenticated clients → devmesh sources; null = anyone. */
function clientSources(session: Session, res: Resource, client: Record<string, unknown>, path: Path): Sources | null {
  if (client.unauthenticated === true) {
    res.mapped([...path, 'unauthenticated'], 'any caller');
    if (client.networks) res.approx([...path, 'networks'], 'every local caller is on 127.0.0.1: networks are not checked');
    return null;
  }
  const mtls = (client.meshTLS ?? {}) as { serviceAccounts?: { name: string; namespace?: string }[]; identities?: string[]; unauthenticatedTLS?: boolean };
  const services: string[] = [];
  const principals: string[] = [];
  (mtls.serviceAccounts ?? []).forEach((sa, i) => {
    const t = session.hosts.resolve(sa.name);
    if (t?.kind === 'service') services.push(t.service);
    else res.approx([...path, 'meshTLS', 'serviceAccounts', i], `service account ${sa.name} is no local service: it can never call`);
  });
  for (const id of mtls.identities ?? []) {
    if (id === '*') return null;
    const m = /^([^.*]+)\.[^.]+\.serviceaccount\.identity\./.exec(id);
    const t = m ? session.hosts.resolve(m[1]!) : null;
    if (t?.kind === 'service') services.push(t.service);
    else principals.push(id);
  }
  if (mtls.identities?.length) {
    if (principals.some((p) => p.includes('*'))) res.approx([...path, 'meshTLS', 'identities'], `identities ${principals.join(', ')}: Linkerd identity patterns are kept as principals; local identities are spiffe://<mesh>/ns/default/sa/<service>`);
    else res.mapped([...path, 'meshTLS', 'identities'], 'calling services');
  }
  if (mtls.serviceAccounts) res.cover([...path, 'meshTLS', 'serviceAccounts']);
  if (client.networks) res.approx([...path, 'networks'], 'every local caller is on 127.0.0.1: networks are not checked');
  const src: Record<string, string[]> = {};
  if (services.length) src.services = services;
  if (principals.length) src.principals = principals;
  return [{ source: src }];
}

export function translateLinkerd(resources: Resource[], session: Session): void {
  const of = (k: string) => resources.filter((r) => r.kind === k);
  for (const r of of('ServiceProfile')) translateServiceProfile(r, session);
  // Routing HTTPRoutes: gateway.networking.k8s.io ones (annotated), and policy.linkerd.io ones on a Service.
  const routes = of('HTTPRoute').filter((r) => {
    const parents = ((r.value.spec as { parentRefs?: { kind?: string }[] } | undefined)?.parentRefs ?? []);
    return parents.length === 0 || parents.some((p) => p.kind === 'Service' || p.kind === undefined || p.kind === 'Gateway');
  });
  translateRoutes(routes, session, 'linkerd');
  // Kubernetes Services with retry/timeout annotations: a default rule for the service.
  for (const r of of('Service')) {
    const t = session.target(r.name);
    if (!t || t.kind !== 'service') {
      r.ignored([], `Service ${r.name} maps to no local service`);
      continue;
    }
    const d = linkerdRouteAnnotations(r);
    if (d.retries || d.timeout) session.addRules(t.service, [{ name: 'linkerd-annotations', route: [{ destination: {} }], retries: d.retries ?? { attempts: 0 }, ...(d.timeout ? { timeout: d.timeout } : {}) }], `Service ${r.name}`, r);
    r.cover(['spec']);
  }
  const servers = new Map<string, ServerInfo>();
  for (const r of of('Server')) {
    const info = serverInfo(r, session);
    if (!info) continue;
    servers.set(r.name, info);
    // A Server that selects nothing local (or an admin port) applies nowhere: nothing of it is mapped.
    if (info.admin) r.skip(['spec', 'port'], `port ${String((r.value.spec as Record<string, unknown>).port)} is an admin/metrics port: devmesh authorizes the app port only`);
    else if (info.services.length === 0) r.skip(['spec', 'podSelector'], 'selects no local service (devmesh selects by app; use --map)');
    else {
      r.mapped(['spec'], `inbound of ${info.services.join(', ')}: only what an authorization allows gets in`);
      if ((r.value.spec as Record<string, unknown>).proxyProtocol !== undefined) r.mapped(['spec', 'proxyProtocol'], 'the protocol is declared per service in devmesh.yaml');
    }
  }
  const authns = new Map<string, Resource>();
  for (const k of ['MeshTLSAuthentication', 'NetworkAuthentication']) for (const r of of(k)) authns.set(`${k}/${r.name}`, r);
  const policyRoutes = new Map(of('HTTPRoute').filter((r) => !routes.includes(r)).map((r) => [r.name, r]));
  const authorized = new Set<string>();
  const allow = (server: ServerInfo, name: string, rule: NonNullable<AuthorizationPolicySpec['rules']>[number], res: Resource, path: Path) => {
    if (server.admin) {
      res.ignored(path, `targets ${server.res.name}, an admin/metrics port: not applied`);
      return;
    }
    for (const service of server.services) {
      session.authorization.push({ name: server.services.length > 1 ? `${name}-${service}` : name, service, action: 'ALLOW', rules: [rule] });
      authorized.add(`${server.res.name}/${service}`);
    }
    if (server.services.length) res.mapped(path, `authorization ALLOW on ${server.services.join(', ')}`);
    else res.ignored(path, `server ${server.res.name} selects no local service`);
  };
  for (const r of of('ServerAuthorization')) {
    const spec = r.value.spec as { server?: { name?: string; selector?: { matchLabels?: Record<string, string> } }; client?: Record<string, unknown> } | undefined;
    if (!spec?.server || !spec.client) {
      r.fail(['spec', spec?.server ? 'client' : 'server'], 'Required');
      continue;
    }
    const targets = spec.server.name
      ? [servers.get(spec.server.name)].filter((s): s is ServerInfo => !!s)
      : [...servers.values()].filter((s) => Object.entries(spec.server!.selector?.matchLabels ?? {}).every(([k, v]) => s.labels[k] === v));
    if (targets.length === 0) {
      r.ignored(['spec', 'server'], 'no Server in this import matches: nothing to authorize');
      continue;
    }
    r.cover(['spec', 'server']);
    const from = clientSources(session, r, spec.client, ['spec', 'client']);
    for (const s of targets) allow(s, r.name, from ? { from } : {}, r, ['spec', 'client']);
  }
  for (const r of of('AuthorizationPolicy')) {
    const spec = r.value.spec as { targetRef?: { kind?: string; name?: string }; requiredAuthenticationRefs?: { kind?: string; name?: string; namespace?: string }[] } | undefined;
    if (!spec?.targetRef?.kind || !spec.targetRef.name) {
      r.fail(['spec', 'targetRef'], 'Required: kind and name');
      continue;
    }
    let from: Sources | null = null;
    const refs = spec.requiredAuthenticationRefs ?? [];
    const services: string[] = [];
    const principals: string[] = [];
    let anyone = refs.length === 0;
    refs.forEach((ref, i) => {
      const p: Path = ['spec', 'requiredAuthenticationRefs', i];
      if (ref.kind === 'ServiceAccount') {
        const t = session.hosts.resolve(ref.name ?? '');
        if (t?.kind === 'service') services.push(t.service);
        else r.approx(p, `service account ${ref.name}${ref.namespace ? ` (namespace ${ref.namespace})` : ''} is no local service: it can never call`);
        r.cover(p);
      } else if (ref.kind === 'NetworkAuthentication') {
        const a = authns.get(`NetworkAuthentication/${ref.name}`);
        if (a) {
          a.approx(['spec', 'networks'], 'every local caller is on 127.0.0.1: the network always matches');
          anyone = true;
          r.mapped(p, 'any caller (network authentication)');
        } else r.approx(p, `NetworkAuthentication ${ref.name} is not in this import: assumed to allow any network`);
        anyone = true;
      } else if (ref.kind === 'MeshTLSAuthentication') {
        const a = authns.get(`MeshTLSAuthentication/${ref.name}`);
        if (!a) return r.approx(p, `MeshTLSAuthentication ${ref.name} is not in this import: nobody matches`);
        const s = clientSources(session, a, { meshTLS: { identities: (a.value.spec as { identities?: string[] })?.identities, serviceAccounts: ((a.value.spec as { identityRefs?: { kind?: string; name: string }[] })?.identityRefs ?? []).filter((x) => x.kind === 'ServiceAccount') } }, ['spec']);
        if (!s) anyone = true;
        else for (const x of s) {
          services.push(...(x.source.services ?? []));
          principals.push(...(x.source.principals ?? []));
        }
        a.cover(['spec']);
        r.mapped(p, 'mesh identities');
      } else r.ignored(p, `authentication kind ${ref.kind} is not supported locally`);
    });
    if (!anyone) from = [{ source: { ...(services.length ? { services } : {}), ...(principals.length ? { principals } : {}) } }];
    const rule: NonNullable<AuthorizationPolicySpec['rules']>[number] = from ? { from } : {};
    const kind = spec.targetRef.kind;
    if (kind === 'Server') {
      const s = servers.get(spec.targetRef.name);
      if (!s) r.skip(['spec', 'targetRef'], `Server ${spec.targetRef.name} is not in this import: not applied`);
      else allow(s, r.name, rule, r, ['spec', 'targetRef']);
    } else if (kind === 'HTTPRoute') {
      const route = policyRoutes.get(spec.targetRef.name);
      const parent = (route?.value.spec as { parentRefs?: { kind?: string; name: string }[] } | undefined)?.parentRefs?.find((p) => p.kind === 'Server');
      const s = parent ? servers.get(parent.name) : undefined;
      const ops = ((route?.value.spec as { rules?: { matches?: { path?: { value?: string; type?: string }; method?: string }[] }[] } | undefined)?.rules ?? []).flatMap((x) => x.matches ?? []);
      const to = ops.map((m) => ({ operation: { ...(m.path?.value ? { paths: [m.path.type === 'PathPrefix' ? `${m.path.value.replace(/\/$/, '')}*` : m.path.value] } : {}), ...(m.method ? { methods: [m.method] } : {}) } }));
      const scoped = { ...rule, ...(to.length ? { to } : {}) };
      if (route && parent) {
        const svcs = s?.services ?? [];
        const server: ServerInfo = s ?? { res: route, services: svcs, admin: false, labels: {} };
        if (!s) r.skip(['spec', 'targetRef'], `route ${route.name}'s Server ${parent.name} (which names the service) is not in this import: not applied`);
        else allow(server, r.name, scoped, r, ['spec', 'targetRef']);
        route.mapped(['spec'], `scopes authorization ${r.name} to ${to.map((t) => `${t.operation.methods?.join('|') ?? '*'} ${t.operation.paths?.join('|') ?? '*'}`).join(', ')}`);
      } else r.skip(['spec', 'targetRef'], `HTTPRoute ${spec.targetRef.name} (on a Server) is not in this import: not applied`);
    } else if (kind === 'Namespace') {
      session.authorization.push({ name: r.name, action: 'ALLOW', rules: [rule] });
      r.approx(['spec', 'targetRef'], 'namespace-wide: applied to every local service');
    } else r.skip(['spec', 'targetRef'], `target kind ${kind} is not supported locally: not applied`);
  }
  // A Server that nothing authorizes denies everything (Linkerd's default for a Server).
  for (const s of servers.values()) {
    if (s.admin) continue;
    for (const service of s.services) {
      if (authorized.has(`${s.res.name}/${service}`)) continue;
      const accessPolicy = (s.res.value.spec as Record<string, unknown>).accessPolicy as string | undefined;
      if (accessPolicy && accessPolicy !== 'deny') {
        s.res.approx(['spec', 'accessPolicy'], `accessPolicy ${accessPolicy}: no local deny policy is added`);
        continue;
      }
      session.authorization.push({ name: `${s.res.name}-default-deny`, service, action: 'ALLOW' });
      s.res.mapped(['spec'], `no authorization targets it: ${service} accepts nobody (ALLOW policy without rules)`);
    }
  }
  for (const r of [...of('MeshTLSAuthentication'), ...of('NetworkAuthentication')]) r.cover(['spec']);
  for (const r of policyRoutes.values()) r.cover(['spec']);
  const handled = new Set(['ServiceProfile', 'HTTPRoute', 'GRPCRoute', 'Service', 'Server', 'ServerAuthorization', 'AuthorizationPolicy', 'MeshTLSAuthentication', 'NetworkAuthentication']);
  for (const r of resources) {
    if (!handled.has(r.kind)) {
      r.ignored([], `${r.kind} is not a Linkerd kind devmesh imports`);
      r.cover(['spec']);
    }
    if (r.kind === 'HTTPRoute' && routes.includes(r)) continue; // finished by translateRoutes' caller below
  }
  for (const r of resources) r.finish(['spec']);
}
