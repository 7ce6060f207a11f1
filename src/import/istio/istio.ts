// Istio (networking.istio.io v1alpha3/v1beta1/v1, security.istio.io v1beta1/v1) → devmesh policy.
import { z } from 'zod';
import type { AuthorizationPolicySpec, HttpRouteSpec, TrafficPolicySpec } from '../../config/mesh-schema.js';
import { devmeshDuration, servicesOfLabels, type Path, type Resource, type Session } from '../context.js';
import { isName } from '../hosts.js';
import { expandDelegate, translateHttpRule, VirtualServiceSpec, type HttpRuleIn, type VsContext } from './virtual-service.js';

export const ISTIO_GROUPS = ['networking.istio.io', 'security.istio.io', 'telemetry.istio.io', 'extensions.istio.io'];

const NOT_LOCAL: Record<string, string> = {
  Sidecar: 'devmesh sidecars reach every service of the mesh; Sidecar egress/ingress scoping is not applied locally',
  EnvoyFilter: 'raw Envoy configuration has no meaning for the local TypeScript sidecar',
  WorkloadEntry: 'local workloads come from devmesh.yaml',
  WorkloadGroup: 'local workloads come from devmesh.yaml',
  RequestAuthentication: 'request authentication with JWKS (JWT validation) is not available locally',
  ProxyConfig: 'Envoy proxy settings have no local equivalent',
  WasmPlugin: 'Wasm plugins cannot run in the local sidecar',
};

// ---- DestinationRule ----

const TrafficPolicyIn = z.looseObject({
  loadBalancer: z.looseObject({}).optional(),
  connectionPool: z.looseObject({}).optional(),
  outlierDetection: z.looseObject({}).optional(),
  tls: z.looseObject({ mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional() }).optional(),
  portLevelSettings: z.array(z.looseObject({})).optional(),
});
const DestinationRuleSpec = z.looseObject({
  host: z.string().min(1),
  trafficPolicy: TrafficPolicyIn.optional(),
  subsets: z.array(z.looseObject({ name: z.string().min(1), labels: z.record(z.string(), z.string()).optional(), trafficPolicy: TrafficPolicyIn.optional() })).optional(),
});

type PolicyFields = Omit<TrafficPolicySpec, 'subsets'>;

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** trafficPolicy → devmesh policy fields; reports each field under `path`. */
function trafficPolicy(res: Resource, tp: Record<string, unknown>, path: Path, external: boolean): PolicyFields {
  const out: PolicyFields = {};
  const lb = tp.loadBalancer as Record<string, unknown> | undefined;
  if (lb) {
    const simple = lb.simple as string | undefined;
    if (simple !== undefined) {
      if (['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'PASSTHROUGH', 'UNSPECIFIED'].includes(simple)) out.loadBalancer = { simple: simple as never };
      else if (simple === 'LEAST_CONN') {
        out.loadBalancer = { simple: 'LEAST_REQUEST' };
        res.mapped([...path, 'loadBalancer', 'simple'], 'LEAST_CONN is the deprecated name of LEAST_REQUEST');
      } else res.fail([...path, 'loadBalancer', 'simple'], `Unsupported value: "${simple}"`);
      res.cover([...path, 'loadBalancer', 'simple']);
    }
    const ch = lb.consistentHash as Record<string, unknown> | undefined;
    if (ch) {
      const hash: Record<string, unknown> = {};
      if (typeof ch.httpHeaderName === 'string') hash.httpHeaderName = ch.httpHeaderName;
      else if (ch.httpCookie && typeof ch.httpCookie === 'object') {
        const c = ch.httpCookie as Record<string, unknown>;
        hash.httpCookie = { name: String(c.name), ...(typeof c.path === 'string' ? { path: c.path } : {}), ...(c.ttl !== undefined && devmeshDuration(c.ttl) ? { ttl: devmeshDuration(c.ttl) } : {}) };
      } else if (ch.useSourceIp === true) hash.useSourceIp = true;
      else if (typeof ch.httpQueryParameterName === 'string') hash.httpQueryParameterName = ch.httpQueryParameterName;
      if (Object.keys(hash).length === 1) {
        out.loadBalancer = { ...(out.loadBalancer ?? {}), consistentHash: hash as never };
        for (const k of ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName']) res.cover([...path, 'loadBalancer', 'consistentHash', k]);
      }
      for (const k of ['minimumRingSize', 'ringHash', 'maglev']) if (ch[k] !== undefined) res.ignored([...path, 'loadBalancer', 'consistentHash', k], 'hash ring tuning has no effect on a handful of local endpoints');
    }
    if (lb.localityLbSetting !== undefined) res.ignored([...path, 'loadBalancer', 'localityLbSetting'], 'locality load balancing: everything runs on one machine');
    if (lb.warmupDurationSecs !== undefined) res.ignored([...path, 'loadBalancer', 'warmupDurationSecs'], 'slow start is not implemented by the local sidecar');
  }
  const cp = tp.connectionPool as Record<string, Record<string, unknown> | undefined> | undefined;
  if (cp) {
    const pool: NonNullable<PolicyFields['connectionPool']> = {};
    if (cp.tcp) {
      const t: Record<string, unknown> = {};
      if (num(cp.tcp.maxConnections) !== undefined) t.maxConnections = cp.tcp.maxConnections;
      const ct = cp.tcp.connectTimeout !== undefined ? devmeshDuration(cp.tcp.connectTimeout) : null;
      if (ct) t.connectTimeout = ct;
      res.cover([...path, 'connectionPool', 'tcp', 'maxConnections']);
      res.cover([...path, 'connectionPool', 'tcp', 'connectTimeout']);
      if (cp.tcp.tcpKeepalive !== undefined) res.ignored([...path, 'connectionPool', 'tcp', 'tcpKeepalive'], 'loopback connections need no keepalive probes');
      if (Object.keys(t).length) pool.tcp = t;
    }
    if (cp.http) {
      const h: Record<string, unknown> = {};
      for (const k of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries']) {
        if (num(cp.http[k]) !== undefined) h[k] = cp.http[k];
        res.cover([...path, 'connectionPool', 'http', k]);
      }
      const it = cp.http.idleTimeout !== undefined ? devmeshDuration(cp.http.idleTimeout) : null;
      if (it) h.idleTimeout = it;
      res.cover([...path, 'connectionPool', 'http', 'idleTimeout']);
      for (const k of ['h2UpgradePolicy', 'useClientProtocol', 'maxConcurrentStreams']) if (cp.http[k] !== undefined) res.ignored([...path, 'connectionPool', 'http', k], 'the local sidecar speaks HTTP/1.1 to apps and between sidecars');
      if (Object.keys(h).length) pool.http = h;
    }
    if (pool.tcp || pool.http) out.connectionPool = pool;
  }
  const od = tp.outlierDetection as Record<string, unknown> | undefined;
  if (od) {
    const o: Record<string, unknown> = {};
    for (const k of ['consecutive5xxErrors', 'consecutiveGatewayErrors', 'maxEjectionPercent', 'minHealthPercent']) {
      if (num(od[k]) !== undefined) o[k] = od[k];
      res.cover([...path, 'outlierDetection', k]);
    }
    if (num(od.consecutiveErrors) !== undefined && o.consecutive5xxErrors === undefined) {
      o.consecutive5xxErrors = od.consecutiveErrors;
      res.approx([...path, 'outlierDetection', 'consecutiveErrors'], 'deprecated consecutiveErrors → consecutive5xxErrors');
    }
    for (const k of ['interval', 'baseEjectionTime']) {
      const d = od[k] !== undefined ? devmeshDuration(od[k]) : null;
      if (d) o[k] = d;
      res.cover([...path, 'outlierDetection', k]);
    }
    for (const k of ['splitExternalLocalOriginErrors', 'consecutiveLocalOriginFailures']) if (od[k] !== undefined) res.ignored([...path, 'outlierDetection', k], 'local-origin failure accounting is not separated locally');
    out.outlierDetection = o;
  }
  const tls = tp.tls as Record<string, unknown> | undefined;
  if (tls) {
    const mode = tls.mode as string | undefined;
    if (mode === 'ISTIO_MUTUAL') res.mapped([...path, 'tls'], 'devmesh sidecars always talk mTLS with mesh certificates');
    else if (mode === 'DISABLE' && !external) res.approx([...path, 'tls'], 'devmesh sidecars always talk mTLS to each other; whether plaintext is accepted is the destination\'s serviceMtls');
    else if ((mode === 'SIMPLE' || mode === 'MUTUAL') && external) res.approx([...path, 'tls'], 'TLS origination to an external destination: its URL uses https; client certificates and SAN checks are not applied');
    else res.ignored([...path, 'tls'], `tls mode ${mode ?? 'unset'} has no local equivalent`);
  }
  return out;
}

function translateDestinationRule(res: Resource, session: Session, vs: VsContext): void {
  const spec = res.check(DestinationRuleSpec, res.value.spec, ['spec']);
  if (!spec) return;
  const t = session.target(spec.host);
  if (!t) {
    res.skip(['spec', 'host'], `host ${spec.host} maps to no local service: not applied (use --map ${spec.host}=LOCAL)`);
    return;
  }
  const name = t.kind === 'service' ? t.service : t.name;
  res.mapped(['spec', 'host'], `policies.${name}`);
  const external = t.kind === 'external';
  const policy = session.policyFor(name);
  if (spec.trafficPolicy) {
    Object.assign(policy, trafficPolicy(res, spec.trafficPolicy, ['spec', 'trafficPolicy'], external));
    const pls = spec.trafficPolicy.portLevelSettings;
    pls?.forEach((pl, i) => {
      const p: Path = ['spec', 'trafficPolicy', 'portLevelSettings', i];
      const tls = (pl.tls as { mode?: string } | undefined)?.mode;
      if (external && (tls === 'SIMPLE' || tls === 'MUTUAL')) {
        res.approx(p, `TLS origination on port ${String((pl.port as { number?: number } | undefined)?.number)}: the external URL uses https`);
        const ext = session.external.get(name);
        if (ext) ext.url = ext.url.replace(/^http:\/\/([^/:]+)(:80)?(?=\/|$)/, 'https://$1');
      } else res.approx(p, 'devmesh services listen on one port: port-level settings are not applied');
    });
  }
  const versions = t.kind === 'service' ? session.hosts.versionsOf(t.service) : [];
  spec.subsets?.forEach((s, i) => {
    const p: Path = ['spec', 'subsets', i];
    const version = s.labels?.version;
    const others = Object.keys(s.labels ?? {}).filter((k) => k !== 'version');
    if (t.kind === 'external') {
      res.ignored(p, 'external destinations have no versions');
      return;
    }
    if (version === undefined) res.approx(p, `subset ${s.name} selects no version label: routes to it use the local version named ${s.name}, if any`);
    else if (versions === null || versions.includes(version)) res.mapped(p, `subset ${s.name} → version ${version} of ${t.service}${others.length ? ` (labels ${others.join(', ')} ignored)` : ''}`);
    else if (versions.length === 0) res.approx(p, `${t.service} has no versions locally: subset ${s.name} means all its instances`);
    else res.approx(p, `label version=${version} matches no local version of ${t.service} (${versions.join(', ')})`);
    if (s.trafficPolicy) {
      const key = version ?? s.name;
      const sub = trafficPolicy(res, s.trafficPolicy, [...p, 'trafficPolicy'], false);
      if ((versions === null || versions.includes(key)) && isName(key)) policy.subsets = { ...(policy.subsets ?? {}), [key]: sub };
      else res.approx([...p, 'trafficPolicy'], `no local version ${key}: the subset's traffic policy is not applied`);
    }
  });
  const known = new Set(['host', 'trafficPolicy', 'subsets']);
  for (const k of Object.keys(res.value.spec as object)) if (!known.has(k)) res.ignored(['spec', k], k === 'exportTo' ? 'namespace visibility: devmesh has one namespace' : k === 'workloadSelector' ? 'the policy applies to every local caller' : 'not used by devmesh');
  void vs;
}

// ---- ServiceEntry ----

const ServiceEntrySpec = z.looseObject({
  hosts: z.array(z.string()).min(1),
  ports: z.array(z.looseObject({ number: z.number().int().min(1).max(65535), name: z.string().optional(), protocol: z.string().optional(), targetPort: z.number().optional() })).optional(),
  resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']).optional(),
  location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
  endpoints: z.array(z.looseObject({ address: z.string().optional(), ports: z.record(z.string(), z.number()).optional() })).optional(),
});

function externalName(res: Resource, host: string, single: boolean): string {
  if (single && isName(res.name)) return res.name;
  return host.replace(/^\*\./, '').replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'external';
}

function translateServiceEntry(res: Resource, session: Session): void {
  const spec = res.check(ServiceEntrySpec, res.value.spec, ['spec']);
  if (!spec) return;
  const httpPort = spec.ports?.find((p) => /^(HTTPS|TLS)$/i.test(p.protocol ?? '')) ?? spec.ports?.find((p) => /^(HTTP|HTTP2|GRPC)$/i.test(p.protocol ?? ''));
  let applied = 0;
  spec.hosts.forEach((host, i) => {
    const p: Path = ['spec', 'hosts', i];
    if (host.includes('*')) {
      res.ignored(p, `wildcard host ${host}: an external destination needs one address`);
      return;
    }
    const local = session.hosts.local && session.hosts.resolve(host);
    if (local && local.kind === 'service') {
      res.ignored(p, `${host} is the local service ${local.service}: the ServiceEntry is not needed locally`);
      return;
    }
    if (!httpPort) {
      res.ignored(p, `no HTTP, HTTPS or TLS port (${(spec.ports ?? []).map((x) => `${x.number}/${x.protocol ?? '?'}`).join(', ') || 'none'}): devmesh routes HTTP only`);
      return;
    }
    const secure = /^(HTTPS|TLS)$/i.test(httpPort.protocol ?? '');
    let address = host;
    let port = httpPort.number;
    const ep = spec.resolution === 'STATIC' || (spec.endpoints && spec.endpoints.length) ? spec.endpoints?.[0] : undefined;
    if (ep?.address) {
      if (ep.address.startsWith('unix://')) {
        res.ignored(p, 'unix domain socket endpoints are not supported by the local sidecar');
        return;
      }
      address = ep.address;
      port = (httpPort.name && ep.ports?.[httpPort.name]) || port;
      if ((spec.endpoints?.length ?? 0) > 1) res.approx(['spec', 'endpoints'], `devmesh calls one address per external destination: ${address}:${port} (the first endpoint)`);
    }
    const scheme = secure ? 'https' : 'http';
    const url = `${scheme}://${address}${(secure && port === 443) || (!secure && port === 80) ? '' : `:${port}`}`;
    const name = externalName(res, host, spec.hosts.length === 1);
    session.external.set(name, { url });
    session.hosts.importedExternals.set(host.toLowerCase(), name);
    res.mapped(p, `external.${name}: ${url}`);
    applied++;
  });
  if (applied === 0) return res.skip(['spec', 'hosts'], 'no host becomes an external destination: nothing of the ServiceEntry applies');
  res.cover(['spec', 'ports']);
  res.cover(['spec', 'resolution']);
  res.cover(['spec', 'endpoints']);
  if (spec.ports && spec.ports.length > 1) res.approx(['spec', 'ports'], `devmesh reaches an external destination on one port: ${httpPort?.number ?? 'none'} is used`);
  if (spec.location !== undefined) res.mapped(['spec', 'location'], 'external destinations are outside the mesh: no mTLS to them');
  if ((res.value.spec as Record<string, unknown>).addresses !== undefined) res.ignored(['spec', 'addresses'], 'virtual IPs: apps reach externals through their sidecar by name');
  if ((res.value.spec as Record<string, unknown>).exportTo !== undefined) res.ignored(['spec', 'exportTo'], 'namespace visibility: devmesh has one namespace');
}

// ---- PeerAuthentication ----

const MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const;
const PeerAuthSpec = z.looseObject({
  selector: z.looseObject({ matchLabels: z.record(z.string(), z.string()).optional() }).optional(),
  mtls: z.looseObject({ mode: z.enum(MODES).optional() }).optional(),
  portLevelMtls: z.record(z.string(), z.looseObject({ mode: z.enum(MODES).optional() })).optional(),
});

function translatePeerAuthentication(res: Resource, session: Session, rootNamespace: string): void {
  const spec = res.check(PeerAuthSpec, res.value.spec ?? {}, ['spec']);
  if (!spec) return;
  // Istio's validation rules (pkg/config/validation): ports are numbers 1-65535; port-level needs a selector.
  if (spec.portLevelMtls !== undefined) {
    const labels = spec.selector?.matchLabels ?? {};
    if (!spec.selector || Object.keys(labels).length === 0) res.fail(['spec', 'portLevelMtls'], 'portLevelMtls requires selector');
    if (Object.keys(spec.portLevelMtls).length === 0) res.fail(['spec', 'portLevelMtls'], 'spec.portLevelMtls in body should have at least 1 properties');
    for (const port of Object.keys(spec.portLevelMtls)) {
      if (!/^\d+$/.test(port)) res.fail(['spec', 'portLevelMtls', port], `type conversion error from "${port}" to port number`);
      else if (Number(port) < 1 || Number(port) > 65535) res.fail(['spec', 'portLevelMtls', port], 'port must be between 1-65535');
    }
  }
  if (res.invalid) return;
  const mode = spec.mtls?.mode ?? 'UNSET';
  const sel = servicesOfLabels(session, spec.selector?.matchLabels);
  const portLevel = spec.portLevelMtls ? Object.fromEntries(Object.entries(spec.portLevelMtls).map(([p, m]) => [p, { mode: m.mode ?? 'UNSET' }])) : undefined;
  if (sel === 'all') {
    const scope = res.namespace === undefined || res.namespace === rootNamespace ? 'mesh-wide' : `namespace ${res.namespace}`;
    if (mode === 'UNSET') {
      res.mapped(['spec'], `${scope} mode UNSET: inherits, nothing to apply`);
      return;
    }
    session.mtls = mode;
    if (scope === 'mesh-wide') res.mapped(['spec', 'mtls', 'mode'], `mesh mtls: ${mode}`);
    else res.approx(['spec', 'mtls', 'mode'], `${scope} policy applied to the whole local mesh (devmesh has one namespace): mtls ${mode}`);
    res.cover(['spec', 'selector']);
    return;
  }
  if (sel.services.length === 0) {
    res.ignored(['spec', 'selector'], `selector ${Object.entries(spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')} selects no local service (devmesh selects by app)`);
    return;
  }
  const service = sel.services[0]!;
  const setting = portLevel ? { ...(mode !== 'UNSET' ? { mode } : {}), portLevelMtls: portLevel } : mode === 'UNSET' ? undefined : mode;
  if (setting === undefined) {
    res.mapped(['spec'], `${service}: mode UNSET inherits, nothing to apply`);
    return;
  }
  session.serviceMtls.set(service, setting as never);
  res.mapped(['spec', 'selector'], `serviceMtls.${service}`);
  if (sel.version) res.approx(['spec', 'selector', 'matchLabels', 'version'], `devmesh sets mTLS per service: applied to every version of ${service}`);
  if (sel.otherLabels.length) res.approx(['spec', 'selector', 'matchLabels'], `labels ${sel.otherLabels.join(', ')} are not matched locally`);
  res.cover(['spec', 'mtls']);
  if (portLevel) res.mapped(['spec', 'portLevelMtls'], 'per app port');
}

// ---- AuthorizationPolicy ----

const Source = z.looseObject({});
const AuthzSpec = z.looseObject({
  selector: z.looseObject({ matchLabels: z.record(z.string(), z.string()).optional() }).optional(),
  action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).optional(),
  provider: z.looseObject({}).optional(),
  rules: z
    .array(
      z.looseObject({
        from: z.array(z.looseObject({ source: Source.optional() })).optional(),
        to: z.array(z.looseObject({ operation: z.looseObject({}).optional() })).optional(),
        when: z.array(z.looseObject({ key: z.string(), values: z.array(z.string()).optional(), notValues: z.array(z.string()).optional() })).optional(),
      }),
    )
    .optional(),
});

const KEPT_SOURCE = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'] as const;
const OPERATION = ['methods', 'notMethods', 'paths', 'notPaths', 'ports', 'notPorts', 'hosts', 'notHosts'] as const;
const WHEN_KEPT = /^(request\.headers\[.+\]|source\.namespace|source\.principal|destination\.port|request\.method|request\.path)$/;

/** "cluster.local/ns/default/sa/reviews" (or spiffe://…) → the local service, when its account is one. */
function principalService(session: Session, principal: string): string | null {
  const m = /^(?:spiffe:\/\/)?[^/]+\/ns\/[^/]+\/sa\/([^/]+)$/.exec(principal);
  if (!m || m[1]!.includes('*')) return null;
  const t = session.hosts.local ? session.hosts.resolve(m[1]!) : { kind: 'service' as const, service: m[1]!, how: 'name' as const };
  return t && t.kind === 'service' ? t.service : null;
}

function translateAuthorizationPolicy(res: Resource, session: Session): void {
  const spec = res.check(AuthzSpec, res.value.spec ?? {}, ['spec']);
  if (!spec) return;
  (spec.rules ?? []).forEach((r, i) =>
    (r.from ?? []).forEach((f, j) => {
      const s = (f.source ?? {}) as Record<string, unknown>;
      if (s.serviceAccounts !== undefined && (s.namespaces !== undefined || s.principals !== undefined)) {
        res.fail(['spec', 'rules', i, 'from', j, 'source'], 'Cannot set serviceAccounts with namespaces or principals');
      }
    }),
  );
  if (res.invalid) return;
  const action = spec.action ?? 'ALLOW';
  if (action === 'AUDIT' || action === 'CUSTOM') {
    res.skip(['spec', 'action'], action === 'AUDIT' ? 'AUDIT only marks requests for an audit log: not enforced locally' : 'CUSTOM delegates to an external authorizer (provider): not enforced locally');
    return;
  }
  const sel = servicesOfLabels(session, spec.selector?.matchLabels);
  let service: string | undefined;
  if (sel !== 'all') {
    if (sel.services.length === 0) {
      res.skip(['spec', 'selector'], `selector ${Object.entries(spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')} selects no local service (devmesh selects by app)${action === 'DENY' ? ': this DENY is not enforced' : ''}`);
      return;
    }
    service = sel.services[0]!;
    res.mapped(['spec', 'selector'], `applies to ${service}`);
    if (sel.version) res.approx(['spec', 'selector', 'matchLabels', 'version'], `devmesh authorizes per service: applied to every version of ${service}`);
    if (sel.otherLabels.length) res.approx(['spec', 'selector', 'matchLabels'], `labels ${sel.otherLabels.join(', ')} are not matched locally`);
  } else if (res.namespace !== undefined && res.namespace !== 'istio-system') {
    res.approx(['metadata', 'namespace'], `namespace-wide policy (${res.namespace}) applied to every local service: devmesh has one namespace`);
  }
  const rules: NonNullable<AuthorizationPolicySpec['rules']> = [];
  (spec.rules ?? []).forEach((r, i) => {
    const rp: Path = ['spec', 'rules', i];
    const rule: NonNullable<AuthorizationPolicySpec['rules']>[number] = {};
    if (r.from) {
      rule.from = r.from.map((f, j) => {
        const sp: Path = [...rp, 'from', j, 'source'];
        const s = (f.source ?? {}) as Record<string, string[] | undefined>;
        const src: Record<string, string[]> = {};
        for (const k of KEPT_SOURCE) {
          const list = s[k];
          if (!list) continue;
          if (k === 'principals' || k === 'notPrincipals') {
            const services: string[] = [];
            const rest: string[] = [];
            for (const p of list) {
              const svc = principalService(session, p);
              if (svc) services.push(svc);
              else rest.push(p);
            }
            if (services.length) src[k === 'principals' ? 'services' : 'notServices'] = services;
            if (rest.length) src[k] = rest;
            if (rest.some((p) => !p.includes('*') && !/\/sa\//.test(p))) res.approx([...sp, k], `principals ${rest.filter((p) => !/\/sa\//.test(p)).join(', ')} are kept as written; local identities are spiffe://<mesh>/ns/default/sa/<service>`);
            else res.mapped([...sp, k], services.length ? `calling services ${services.join(', ')}` : 'kept');
          } else {
            src[k] = list;
            res.cover([...sp, k]);
          }
        }
        if (s.serviceAccounts) {
          const services = s.serviceAccounts.map((a) => a.split('/').pop()!).map((a) => session.hosts.resolve(a)).filter((t) => t?.kind === 'service').map((t) => (t as { service: string }).service);
          src.services = [...(src.services ?? []), ...services];
          if (services.length === s.serviceAccounts.length) res.mapped([...sp, 'serviceAccounts'], `calling services ${services.join(', ')}`);
          else res.approx([...sp, 'serviceAccounts'], 'accounts that are no local service can never match and are left out');
        }
        for (const [k, why] of [
          ['requestPrincipals', 'request authentication (JWT) is not available locally: the condition is dropped'],
          ['notRequestPrincipals', 'request authentication (JWT) is not available locally: the condition is dropped'],
          ['ipBlocks', 'every local caller is on 127.0.0.1: the condition is dropped'],
          ['notIpBlocks', 'every local caller is on 127.0.0.1: the condition is dropped'],
          ['remoteIpBlocks', 'every local caller is on 127.0.0.1: the condition is dropped'],
          ['notRemoteIpBlocks', 'every local caller is on 127.0.0.1: the condition is dropped'],
          ['trustDomains', 'the local mesh has one trust domain: the condition is dropped'],
          ['notTrustDomains', 'the local mesh has one trust domain: the condition is dropped'],
        ] as const) {
          if (s[k] !== undefined) res.approx([...sp, k], why);
        }
        return { source: src };
      });
    }
    if (r.to) {
      rule.to = r.to.map((t, j) => {
        const op = (t.operation ?? {}) as Record<string, string[] | undefined>;
        const o: Record<string, string[]> = {};
        for (const k of OPERATION) if (op[k]) o[k] = op[k]!;
        res.cover([...rp, 'to', j, 'operation']);
        return { operation: o };
      });
    }
    if (r.when) {
      const when: NonNullable<typeof rule.when> = [];
      r.when.forEach((w, j) => {
        if (WHEN_KEPT.test(w.key)) {
          when.push({ key: w.key, ...(w.values ? { values: w.values } : {}), ...(w.notValues ? { notValues: w.notValues } : {}) });
          res.cover([...rp, 'when', j]);
        } else res.approx([...rp, 'when', j], `condition on ${w.key} cannot be evaluated locally: dropped`);
      });
      if (when.length) rule.when = when;
    }
    rules.push(rule);
  });
  const out: AuthorizationPolicySpec = { name: res.name, action, ...(service ? { service } : {}) };
  if (spec.rules !== undefined) out.rules = rules;
  if (spec.rules === undefined && action === 'ALLOW') res.mapped(['spec'], 'ALLOW without rules: allows nothing');
  session.authorization.push(out);
  res.mapped(['spec', 'action'], `authorization ${action} ${res.name}`);
  res.cover(['spec', 'rules']);
  if (spec.provider) res.ignored(['spec', 'provider'], 'only used by CUSTOM');
}

// ---- Telemetry ----

const TelemetrySpec = z.looseObject({
  selector: z.looseObject({ matchLabels: z.record(z.string(), z.string()).optional() }).optional(),
  targetRef: z.looseObject({}).optional(),
  targetRefs: z.array(z.looseObject({})).optional(),
  tracing: z
    .array(
      z.looseObject({
        match: z.looseObject({ mode: z.enum(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER']).optional() }).optional(),
        randomSamplingPercentage: z.number().min(0, 'randomSamplingPercentage must be in range [0.0, 100.0]').max(100, 'randomSamplingPercentage must be in range [0.0, 100.0]').optional(),
        disableSpanReporting: z.boolean().optional(),
      }),
    )
    .optional(),
});

/**
 * Telemetry's tracing sampling → the mesh's `tracing.sampling`. devmesh samples per mesh, so a resource
 * with a workload selector (or targetRefs) does not apply; a namespace's resource overrides the root
 * namespace's, as in Istio (devmesh has one namespace). Metrics, access logs, providers and custom tags
 * have no local setting: devmesh always records every request's metrics and logs, into its own stores.
 */
function translateTelemetry(res: Resource, session: Session, rootNamespace: string): void {
  const spec = res.check(TelemetrySpec, res.value.spec ?? {}, ['spec']);
  if (!spec) return;
  const workload = ['selector', 'targetRef', 'targetRefs'].find((k) => (res.value.spec as Record<string, unknown>)[k] !== undefined);
  if (workload !== undefined) {
    res.skip(['spec', workload], 'workload-scoped Telemetry: devmesh samples traces for the whole mesh (tracing.sampling), not per workload; not applied');
    return;
  }
  const meshWide = res.namespace === undefined || res.namespace === rootNamespace;
  // Istio's hierarchy: a namespace's Telemetry overrides the root namespace's (namespace ones come first).
  const overridden = meshWide && session.tracingFrom === 'namespace';
  let sampling: number | undefined;
  (spec.tracing ?? []).forEach((t, i) => {
    const path = ['spec', 'tracing', i];
    const value = t.disableSpanReporting === true ? 0 : t.randomSamplingPercentage;
    if (value === undefined) return;
    if (sampling !== undefined) {
      res.ignored(path, `an earlier tracing entry already set the sampling (${sampling}%); devmesh has one sampling rate`);
      return;
    }
    sampling = value;
    const field = t.disableSpanReporting === true ? 'disableSpanReporting' : 'randomSamplingPercentage';
    if (t.disableSpanReporting === true && t.randomSamplingPercentage !== undefined) res.cover([...path, 'randomSamplingPercentage']);
    if (overridden) {
      res.ignored([...path, field], `a namespace's Telemetry in this import overrides this mesh-wide one (tracing.sampling ${session.tracing?.sampling})`);
    } else if (t.disableSpanReporting === true) {
      res.approx([...path, field], 'tracing.sampling: 0 — no new trace is recorded; Istio would still sample and propagate the decision downstream while reporting nothing here');
    } else if (!meshWide) {
      res.approx([...path, field], `namespace ${res.namespace} policy applied to the whole local mesh (devmesh has one namespace): tracing.sampling ${value}`);
    } else {
      res.mapped([...path, field], `tracing.sampling: ${value}`);
    }
    const mode = t.match?.mode;
    if (mode === 'CLIENT' || mode === 'SERVER') res.approx([...path, 'match', 'mode'], `devmesh samples where a trace starts, on either side: the ${mode} mode applies to both`);
    else res.cover([...path, 'match']);
  });
  (spec.tracing ?? []).forEach((t, i) => {
    if (t.providers !== undefined) res.ignored(['spec', 'tracing', i, 'providers'], "spans go to devmesh's trace store (and on through its OTLP forwarder when set), not to named providers");
    if (t.customTags !== undefined) res.ignored(['spec', 'tracing', i, 'customTags'], "spans carry devmesh's own attributes; custom tags are not added");
  });
  if (spec.metrics !== undefined) res.ignored(['spec', 'metrics'], "devmesh always records Istio's standard metrics for every request; overrides are not applied");
  if (spec.accessLogging !== undefined) res.ignored(['spec', 'accessLogging'], "devmesh always keeps every service's logs; access-log settings are not applied");
  if (sampling === undefined || overridden) return;
  if (!meshWide && session.tracingFrom === 'namespace') res.approx(['spec', 'tracing'], `several namespaces set a sampling; devmesh has one namespace, so this one (the last) replaces ${session.tracing?.sampling}%`);
  session.tracing = { sampling };
  session.tracingFrom = meshWide ? 'root' : 'namespace';
}

// ---- Gateway ----

const GatewaySpec = z.looseObject({ servers: z.array(z.looseObject({ port: z.looseObject({ number: z.number().int() }).optional(), hosts: z.array(z.string()).optional() })).optional() });

function translateGateway(res: Resource, session: Session, vs: VsContext): void {
  const spec = res.check(GatewaySpec, res.value.spec ?? {}, ['spec']);
  if (!spec) return;
  const services = [...(vs.gatewayServices.get(res.name) ?? []), ...(res.namespace ? vs.gatewayServices.get(`${res.namespace}/${res.name}`) ?? [] : [])];
  const port = spec.servers?.[0]?.port?.number ?? null;
  if (services.length === 0) {
    res.ignored(['spec'], 'no VirtualService in this import is bound to this gateway');
    return;
  }
  for (const service of new Set(services)) {
    session.ingress.push({ service, port, from: `${res.kind} ${res.name}` });
    const has = session.hosts.local?.ingressServices.includes(service);
    res.approx(['spec', 'servers'], has
      ? `ingress: the mesh file's ingress for ${service} plays this gateway's role (its port is kept)`
      : `ingress: add "- { port: ${port ?? 0}, service: ${service} }" under ingress: in devmesh.yaml (a policy file cannot open listeners)`);
  }
  res.cover(['spec', 'selector']);
}

// ---- VirtualService ----

function translateVirtualService(res: Resource, session: Session, vs: VsContext): void {
  const spec = res.check(VirtualServiceSpec, res.value.spec ?? {}, ['spec']);
  if (!spec) return;
  const hosts = spec.hosts ?? [];
  if (hosts.length === 0) {
    const used = [...vs.delegates.values()].some((d) => d.res === res && (d as { used?: boolean }).used);
    if (used) res.mapped(['spec'], 'delegate VirtualService: its rules are inlined into the VirtualService that delegates to it');
    else res.ignored(['spec'], 'no hosts: a delegate that no VirtualService in this import delegates to');
    res.cover(['spec', 'http']);
    return;
  }
  const gateways = spec.gateways ?? ['mesh'];
  const meshBound = gateways.includes('mesh');
  const others = gateways.filter((g) => g !== 'mesh');
  if (!meshBound) res.approx(['spec', 'gateways'], `bound to gateways ${others.join(', ')} only (not mesh): applies only to traffic entering through the local ingress`);
  else if (others.length) res.mapped(['spec', 'gateways'], `mesh, and gateways ${others.join(', ')}: the local ingress goes through the same rules`);
  else res.cover(['spec', 'gateways']);

  // Expand delegates first, so each rule below is a plain one.
  const expanded: { rule: HttpRuleIn; path: Path }[] = [];
  (spec.http ?? []).forEach((rule, i) => {
    if (rule.delegate) {
      const e = expandDelegate(vs, res, rule, ['spec', 'http', i]);
      if (e) {
        for (const d of vs.delegates.values()) if (d.res === e.child) (d as { used?: boolean }).used = true;
        e.rules.forEach((r) => expanded.push({ rule: r, path: ['spec', 'http', i] }));
      }
    } else expanded.push({ rule, path: ['spec', 'http', i] });
  });

  // Which local services the hosts name. A gateway-only VS for "*" is keyed by its destinations.
  const keys = new Set<string>();
  // Gateway-only rules are for traffic entering at the local ingress, which enters at the mesh's ingress
  // service: with one, the rules go there whatever the hosts (as the Gateway API importer attaches a
  // Gateway's routes), so a redirect-only rule for "*" is not lost for want of a destination.
  const ingressServices = session.hosts.local?.ingressServices ?? [];
  const atIngress = !meshBound && ingressServices.length === 1;
  if (atIngress) {
    const key = ingressServices[0]!;
    keys.add(key);
    hosts.forEach((h, i) => res.approx(['spec', 'hosts', i], `host ${h} at the gateway: the local ingress enters at ${key}, so the rules go to routes.${key}`));
  } else hosts.forEach((h, i) => {
    if (h === '*' || h.startsWith('*.')) {
      if (meshBound) res.approx(['spec', 'hosts', i], `wildcard host ${h}: devmesh routes by destination service; the rules are keyed by their destinations`);
      else res.cover(['spec', 'hosts', i]);
      return;
    }
    const t = session.target(h);
    if (!t) res.ignored(['spec', 'hosts', i], `host ${h} maps to no local service: its rules are not applied (use --map ${h}=LOCAL)`);
    else {
      const k = t.kind === 'service' ? t.service : t.name;
      keys.add(k);
      res.mapped(['spec', 'hosts', i], `routes.${k}`);
    }
  });
  if (keys.size === 0 && !hosts.some((h) => h === '*' || h.startsWith('*.'))) {
    res.skip(['spec', 'hosts'], 'no host maps to a local service: the VirtualService is not applied');
    return;
  }
  if (!atIngress && hosts.some((h) => h === '*' || h.startsWith('*.'))) {
    for (const { rule } of expanded) for (const d of rule.route ?? []) {
      const t = session.hosts.resolve(d.destination.host);
      if (t) keys.add(t.kind === 'service' ? t.service : t.name);
    }
  }
  for (const key of keys) {
    const rules: HttpRouteSpec[] = [];
    for (const { rule, path } of expanded) {
      const r = translateHttpRule(vs, res, key, rule, path, meshBound);
      if (res.invalid) return;
      if (r) {
        // Fill in the rule's own host: devmesh's destination host defaults to the key.
        for (const d of r.route ?? []) if (d.destination.host === key) delete d.destination.host;
        if (r.mirror?.host === key) delete r.mirror.host;
        res.mapped(path, `routes.${key}[${rules.length}]${r.name ? ` (${r.name})` : ''}`);
        rules.push(r);
      }
    }
    if (rules.length) session.addRules(key, rules, `${res.kind} ${res.name}`, res, !meshBound);
    if (!meshBound) for (const g of others) {
      const set = vs.gatewayServices.get(g) ?? new Set<string>();
      set.add(key);
      vs.gatewayServices.set(g, set);
    }
  }
  if (spec.tcp) res.ignored(['spec', 'tcp'], 'devmesh routes HTTP: TCP routes are not applied');
  if (spec.tls) res.ignored(['spec', 'tls'], 'devmesh routes HTTP: TLS (SNI) routes are not applied');
  if ((spec.tcp || spec.tls) && !spec.http?.length) res.skip(['spec'], 'TCP and TLS routes only: nothing of the VirtualService applies');
  if ((res.value.spec as Record<string, unknown>).exportTo !== undefined) res.ignored(['spec', 'exportTo'], 'namespace visibility: devmesh has one namespace');
}

/** Translates every Istio resource, in the order their references need: DR subsets and SEs before VSs, VSs before Gateways. */
export function translateIstio(resources: Resource[], session: Session): void {
  const vs: VsContext = { session, subsets: new Map(), delegates: new Map(), gatewayServices: new Map() };
  const byKind = (k: string) => resources.filter((r) => r.kind === k);
  for (const r of byKind('ServiceEntry')) translateServiceEntry(r, session);
  for (const r of byKind('DestinationRule')) {
    const spec = DestinationRuleSpec.safeParse(r.value.spec);
    if (!spec.success) continue;
    const t = session.hosts.resolve(spec.data.host);
    if (!t || t.kind !== 'service') continue;
    const map = vs.subsets.get(t.service) ?? new Map<string, Record<string, string>>();
    for (const s of spec.data.subsets ?? []) map.set(s.name, s.labels ?? {});
    vs.subsets.set(t.service, map);
  }
  for (const r of byKind('VirtualService')) {
    const spec = VirtualServiceSpec.safeParse(r.value.spec ?? {});
    if (spec.success && (spec.data.hosts ?? []).length === 0) {
      const entry = { res: r, http: spec.data.http ?? [] };
      vs.delegates.set(r.name, entry);
      if (r.namespace) vs.delegates.set(`${r.namespace}/${r.name}`, entry);
    }
  }
  for (const r of byKind('DestinationRule')) translateDestinationRule(r, session, vs);
  const rootVs = byKind('VirtualService').filter((r) => ((r.value.spec as { hosts?: unknown[] } | undefined)?.hosts ?? []).length > 0);
  const delegateVs = byKind('VirtualService').filter((r) => !rootVs.includes(r));
  for (const r of rootVs) translateVirtualService(r, session, vs);
  for (const r of delegateVs) translateVirtualService(r, session, vs);
  for (const r of byKind('Gateway')) translateGateway(r, session, vs);
  for (const r of byKind('PeerAuthentication')) translatePeerAuthentication(r, session, 'istio-system');
  for (const r of byKind('AuthorizationPolicy')) translateAuthorizationPolicy(r, session);
  // Namespace-scoped first: a namespace's sampling overrides the root namespace's (the report says so on the latter).
  const rootLast = (r: Resource) => (r.namespace === undefined || r.namespace === 'istio-system' ? 1 : 0);
  for (const r of byKind('Telemetry').sort((a, b) => rootLast(a) - rootLast(b))) translateTelemetry(r, session, 'istio-system');
  const handled = new Set(['ServiceEntry', 'DestinationRule', 'VirtualService', 'Gateway', 'PeerAuthentication', 'AuthorizationPolicy', 'Telemetry']);
  for (const r of resources) {
    if (handled.has(r.kind)) continue;
    r.ignored([], NOT_LOCAL[r.kind] ?? `${r.kind} is not an Istio kind devmesh imports`);
    r.cover(['spec']);
  }
  for (const r of resources) r.finish(['spec']);
}
