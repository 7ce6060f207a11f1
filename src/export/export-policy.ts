// `devmesh export`: the local policy (the mesh file with its includes) as production configuration. Istio gets
// everything the mesh file says (VirtualService, DestinationRule with a subset per version,
// PeerAuthentication, AuthorizationPolicy, ServiceEntry, and Telemetry when tracing.sampling is set);
// Gateway API gets the routes, as GAMMA HTTPRoutes on each Service with a Service per version
// (reviews-v2), and notes what it cannot express. Linkerd (linkerd.ts) and Consul (consul.ts) have files of
// their own.
import type { HttpRouteSpec, MeshFile } from '../config/mesh-schema.js';
import { ISTIO_DEFAULT_RETRIES, ISTIO_REDIRECT_CODE, ISTIO_RETRIABLE_STATUS_CODE, ISTIO_TRACE_SAMPLING_PERCENT } from '../mesh-semantics/defaults.js';
import { retryOnTokens } from '../mesh-semantics/retry-on.js';

/** Said of an exported retry whose conditions leave out disconnects, resets and per-try timeouts. */
export const WIDER_RETRY_NOTE = 'a Gateway API retry also retries a disconnect, a reset or a per-try timeout (its connection errors)';
import { backendName, backendRefs, docs, headerMod, NS, versionServices, type ConsulForm, type ExportFormat, type ExportResult } from './common.js';
import { exportConsul } from './consul.js';
import { exportLinkerd } from './linkerd.js';

export { CONSUL_FORMS, EXPORT_FORMATS, type ConsulForm, type ExportFormat, type ExportResult } from './common.js';

function hostOf(mesh: MeshFile, name: string): string {
  const ext = mesh.external?.[name];
  if (!ext) return name;
  const h = new URL(ext.url).hostname;
  return /^[\d.]+$|^\[/.test(h) ? `${name}.external` : h;
}

function principal(service: string): string {
  return `cluster.local/ns/${NS}/sa/${service}`;
}

export function exportIstio(mesh: MeshFile): ExportResult {
  const notes: string[] = [];
  const out: object[] = [];
  const meta = (name: string, namespace = NS) => ({ name, namespace });
  out.push({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: meta('default', 'istio-system'), spec: { mtls: { mode: mesh.mtls } } });
  if (mesh.tracing !== undefined) {
    out.push({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: meta('mesh-default', 'istio-system'), spec: { tracing: [{ randomSamplingPercentage: mesh.tracing.sampling }] } });
  } else {
    // Tracing every request suits a laptop, not production: only a sampling the mesh file sets goes out.
    notes.push(`tracing: devmesh traces every request by default; no Telemetry is written, so the cluster keeps its own sampling (Istio's default is ${ISTIO_TRACE_SAMPLING_PERCENT}%). Set tracing.sampling to export one`);
  }
  for (const name of Object.keys(mesh.services)) {
    const setting = mesh.serviceMtls?.[name] ?? mesh.services[name]!.mtls;
    if (setting === undefined) continue;
    const spec: Record<string, unknown> = { selector: { matchLabels: { app: name } } };
    if (typeof setting === 'string') spec.mtls = { mode: setting };
    else {
      if (setting.mode) spec.mtls = { mode: setting.mode };
      if (setting.portLevelMtls) spec.portLevelMtls = setting.portLevelMtls;
    }
    out.push({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: meta(name), spec });
  }
  for (const [name, ext] of Object.entries(mesh.external ?? {})) {
    const u = new URL(ext.url);
    const secure = u.protocol === 'https:';
    const port = Number(u.port || (secure ? 443 : 80));
    const host = hostOf(mesh, name);
    const ip = host !== u.hostname;
    out.push({
      apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: meta(name),
      spec: { hosts: [host], location: 'MESH_EXTERNAL', ports: [{ number: port, name: secure ? 'https' : 'http', protocol: secure ? 'HTTPS' : 'HTTP' }], resolution: ip ? 'STATIC' : 'DNS', ...(ip ? { endpoints: [{ address: u.hostname }] } : {}) },
    });
    if (u.pathname !== '/') notes.push(`external ${name}: the path ${u.pathname} of its URL has no ServiceEntry equivalent`);
  }
  for (const [name, svc] of Object.entries(mesh.services)) {
    const policy = mesh.policies?.[name];
    const versions = Object.keys(svc.versions ?? {});
    if (!policy && versions.length === 0) continue;
    const { subsets: subPolicies, retryBudget, ...trafficPolicy } = policy ?? {};
    if (retryBudget) notes.push(`policies.${name}.retryBudget: Istio has no retry budget (Linkerd does); left out`);
    const spec: Record<string, unknown> = { host: name };
    if (Object.keys(trafficPolicy).length) spec.trafficPolicy = trafficPolicy;
    if (versions.length) {
      spec.subsets = versions.map((v) => {
        const sp = subPolicies?.[v];
        if (sp?.retryBudget) notes.push(`policies.${name}.subsets.${v}.retryBudget: Istio has no retry budget; left out`);
        const { retryBudget: _, ...rest } = sp ?? {};
        return { name: v, labels: { version: v }, ...(sp && Object.keys(rest).length ? { trafficPolicy: rest } : {}) };
      });
    }
    out.push({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta(name), spec });
  }
  for (const [name, policy] of Object.entries(mesh.policies ?? {})) {
    if (name in mesh.services) continue;
    const { subsets: _s, retryBudget: _r, ...trafficPolicy } = policy;
    out.push({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: meta(name), spec: { host: hostOf(mesh, name), trafficPolicy } });
  }
  for (const [key, rules] of Object.entries(mesh.routes ?? {})) {
    const http = rules.map((r) => {
      const rule = structuredClone(r) as Record<string, unknown> & HttpRouteSpec;
      for (const d of rule.route ?? []) (d.destination as { host?: string }).host = hostOf(mesh, d.destination.host ?? key);
      if (rule.mirror) rule.mirror.host = hostOf(mesh, rule.mirror.host ?? key);
      return rule;
    });
    out.push({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: meta(key), spec: { hosts: [hostOf(mesh, key)], http } });
  }
  for (const p of mesh.authorization ?? []) {
    const rules = p.rules?.map((r) => ({
      ...(r.from ? {
        from: r.from.map((f) => {
          const { services, notServices, ...s } = f.source;
          const src: Record<string, unknown> = { ...s };
          if (services?.length) src.principals = [...(s.principals ?? []), ...services.map(principal)];
          if (notServices?.length) src.notPrincipals = [...(s.notPrincipals ?? []), ...notServices.map(principal)];
          return { source: src };
        }),
      } : {}),
      ...(r.to ? { to: r.to } : {}),
      ...(r.when ? { when: r.when } : {}),
    }));
    out.push({
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: meta(p.name),
      spec: { ...(p.service ? { selector: { matchLabels: { app: p.service } } } : {}), action: p.action, ...(rules ? { rules } : {}) },
    });
  }
  return { yaml: docs(out), notes };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export function exportGatewayApi(mesh: MeshFile): ExportResult {
  const notes: string[] = [];
  const out: object[] = [];
  const portOf = (svc: string) => mesh.services[svc]?.port ?? 80;
  for (const key of Object.keys(mesh.routes ?? {})) {
    if (!(key in mesh.services)) {
      notes.push(`routes.${key}: routes to an external destination have no GAMMA form; left out`);
      continue;
    }
    const rules: object[] = [];
    mesh.routes![key]!.forEach((r, i) => {
      const where = `routes.${key}[${i}]${r.name ? ` (${r.name})` : ''}`;
      if (r.directResponse) return notes.push(`${where}: directResponse has no Gateway API equivalent; left out`);
      if (r.fault) notes.push(`${where}: fault injection has no Gateway API equivalent; left out`);
      const matches: object[] = [];
      for (const m of r.match ?? []) {
        const gm: Record<string, unknown> = {};
        if (m.uri) gm.path = 'exact' in m.uri ? { type: 'Exact', value: m.uri.exact } : 'prefix' in m.uri ? { type: 'PathPrefix', value: m.uri.prefix } : { type: 'RegularExpression', value: m.uri.regex };
        if (m.method) {
          if ('exact' in m.method) gm.method = m.method.exact;
          else notes.push(`${where}: a method ${Object.keys(m.method)[0]} match has no Gateway API form; dropped`);
        }
        for (const [field, target] of [['headers', 'headers'], ['queryParams', 'queryParams']] as const) {
          const entries = Object.entries(m[field] ?? {});
          if (!entries.length) continue;
          gm[target] = entries.map(([name, sm]) =>
            'exact' in sm ? { name, value: sm.exact } : 'regex' in sm ? { type: 'RegularExpression', name, value: sm.regex } : 'prefix' in sm ? { type: 'RegularExpression', name, value: `^${escapeRegex(sm.prefix)}.*` } : { type: 'RegularExpression', name, value: '.*' },
          );
        }
        for (const f of ['withoutHeaders', 'authority', 'sourceLabels'] as const) if (m[f]) notes.push(`${where}: ${f} matches have no Gateway API form; dropped`);
        matches.push(gm);
      }
      const rule: Record<string, unknown> = {};
      if (r.name) rule.name = r.name;
      if (matches.length) rule.matches = matches;
      const filters: object[] = [];
      if (r.headers?.request) filters.push({ type: 'RequestHeaderModifier', requestHeaderModifier: headerMod(r.headers.request) });
      if (r.headers?.response) filters.push({ type: 'ResponseHeaderModifier', responseHeaderModifier: headerMod(r.headers.response) });
      if (r.redirect) {
        const red = r.redirect;
        filters.push({ type: 'RequestRedirect', requestRedirect: { ...(red.scheme ? { scheme: red.scheme } : {}), ...(red.authority ? { hostname: red.authority } : {}), ...(red.port ? { port: red.port } : {}), ...(red.uri ? { path: { type: 'ReplaceFullPath', replaceFullPath: red.uri } } : {}), ...(red.prefixRewrite !== undefined ? { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: red.prefixRewrite } } : {}), statusCode: red.redirectCode ?? ISTIO_REDIRECT_CODE } });
      }
      if (r.rewrite) {
        const prefix = (r.match ?? []).some((m) => m.uri && 'prefix' in m.uri);
        filters.push({ type: 'URLRewrite', urlRewrite: { ...(r.rewrite.authority ? { hostname: r.rewrite.authority } : {}), ...(r.rewrite.uri !== undefined ? { path: prefix ? { type: 'ReplacePrefixMatch', replacePrefixMatch: r.rewrite.uri } : { type: 'ReplaceFullPath', replaceFullPath: r.rewrite.uri } } : {}) } });
      }
      if (r.mirror) {
        const host = r.mirror.host ?? key;
        filters.push({ type: 'RequestMirror', requestMirror: { backendRef: { name: backendName(host, r.mirror.subset), port: portOf(host) }, ...(r.mirrorPercentage ? { percent: Math.round(r.mirrorPercentage.value) } : {}) } });
      }
      if (filters.length) rule.filters = filters;
      if (r.route) {
        rule.backendRefs = backendRefs(r.route, key, portOf);
        const retries: NonNullable<HttpRouteSpec['retries']> = r.fault ? { attempts: 0 } : r.retries ?? { ...ISTIO_DEFAULT_RETRIES };
        if (!r.retries && !r.fault) notes.push(`${where}: no retries block means Istio's default (2 retries on 503 and connection errors); written out, as Gateway API does not retry by default`);
        if (retries.attempts > 0) {
          const codes = retryOnTokens(retries.retryOn ?? ISTIO_DEFAULT_RETRIES.retryOn).flatMap((c) => (/^\d{3}$/.test(c) ? [Number(c)] : c === 'retriable-status-codes' ? [ISTIO_RETRIABLE_STATUS_CODE] : c === '5xx' ? [500, 502, 503, 504] : c === 'gateway-error' ? [502, 503, 504] : []));
          rule.retry = { attempts: retries.attempts, codes: [...new Set(codes)] };
          // Istio's default conditions are connection errors and 503, which Gateway API retries cover too.
          const covered = retryOnTokens(ISTIO_DEFAULT_RETRIES.retryOn);
          const loose = retryOnTokens(retries.retryOn ?? '').filter((c) => !/^\d{3}$/.test(c) && !covered.includes(c));
          if (loose.length) notes.push(`${where}: retryOn ${loose.join(', ')} written as status codes; Gateway API retries also cover connection errors`);
          // HTTPRouteRetry: "Implementations SHOULD retry on connection errors (disconnect, reset, timeout,
          // TCP failure)", so the route also retries what Envoy's reset names, which these conditions leave out.
          const all = retryOnTokens(retries.retryOn ?? ISTIO_DEFAULT_RETRIES.retryOn);
          if (!all.some((c) => c === 'reset' || c === '5xx' || c === 'gateway-error')) notes.push(`${where}: ${WIDER_RETRY_NOTE}, which ${r.retries ? 'its retryOn does' : "Istio's default does"} not`);
        }
        const timeouts: Record<string, string> = {};
        if (r.timeout && !r.fault) timeouts.request = r.timeout;
        if (retries.attempts > 0 && retries.perTryTimeout) timeouts.backendRequest = retries.perTryTimeout;
        if (Object.keys(timeouts).length) rule.timeouts = timeouts;
      }
      rules.push(rule);
    });
    out.push({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: key, namespace: NS },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: key, port: portOf(key) }], rules },
    });
  }
  out.push(...versionServices(mesh));
  for (const s of ['policies', 'authorization', 'serviceMtls', 'external', 'tracing'] as const) {
    if (mesh[s] && Object.keys(mesh[s]!).length) notes.push(`${s}: Gateway API has no form for it (use --to istio); left out`);
  }
  return { yaml: docs(out), notes };
}

export function exportPolicy(mesh: MeshFile, to: ExportFormat, opts: { consul?: ConsulForm } = {}): ExportResult {
  switch (to) {
    case 'istio':
      return exportIstio(mesh);
    case 'gateway-api':
      return exportGatewayApi(mesh);
    case 'linkerd':
      return exportLinkerd(mesh);
    case 'consul':
      return exportConsul(mesh, opts.consul ?? 'hcl');
  }
}
