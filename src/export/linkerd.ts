// `devmesh export --to linkerd`: the local policy as Linkerd (2.16 and later) writes it.
// - Routes: policy.linkerd.io/v1beta3 HTTPRoutes on each Service (the group that carries `timeouts` in every
//   Linkerd since 2.14), a Service per version (reviews-v2) as backend; rule filters RequestHeaderModifier
//   and RequestRedirect, backend filters those and ResponseHeaderModifier, as Linkerd's CRD
//   (charts/linkerd-crds) has them. Retries are the annotations retry.linkerd.io/http, /limit and /timeout
//   (/grpc is for GRPCRoutes), which apply to a whole HTTPRoute: rules that retry differently get an
//   HTTPRoute each.
//   The request timeout is the rule's timeouts.request (Linkerd's reference: it is used as
//   timeout.linkerd.io/request).
// - Authorization: a Server per service that ALLOW policies protect, an AuthorizationPolicy per rule with a
//   MeshTLSAuthentication of the calling service accounts, and an HTTPRoute on the Server when the rule
//   names paths or methods. A Server nothing authorizes denies everything, as an ALLOW policy without rules.
// Everything Linkerd has no form for is a located note.
import type { AuthorizationPolicySpec, HttpRouteSpec, MeshFile } from '../config/mesh-schema.js';
import { effectiveRetryOn } from '../mesh-semantics/retry-on.js';
import { escapeRegex } from '../import/route-helpers.js';
import { methodAlternatives } from './canonical.js';
import { backendRefs, docs, headerMod, k8sName, NS, ruleRetries, ruleWhere, versionServices, wholeDuration, type ExportResult } from './common.js';

const HTTP_CONDITION = /^(5xx|gateway-error|\d{3})$/;
const GRPC_CONDITIONS = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);
const POLICY_GROUP = 'policy.linkerd.io';
/** Limits of Linkerd's HTTPRoute CRD (charts/linkerd-crds/templates/policy/httproute.yaml, v1beta3). */
const MAX_MATCHES = 8;
const MAX_RULES = 16;
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const ROUTE_API = 'policy.linkerd.io/v1beta3';

type Match = NonNullable<HttpRouteSpec['match']>[number];

/** A rule with more matches than the CRD allows, as several rules with the same actions (an OR either way). */
function splitMatches(rule: Record<string, unknown>): Record<string, unknown>[] {
  const matches = rule.matches as object[] | undefined;
  if (!matches || matches.length <= MAX_MATCHES) return [rule];
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < matches.length; i += MAX_MATCHES) out.push({ ...rule, matches: matches.slice(i, i + MAX_MATCHES) });
  return out;
}

/** Gateway API's precedence of one match (what the importer, and Linkerd, sort rules by). */
function precedence(m: Match | undefined): number[] {
  const uri = m?.uri;
  const pathRank = uri && 'exact' in uri ? 0 : uri && 'regex' in uri ? 2 : 1;
  const prefixLen = uri && 'prefix' in uri ? uri.prefix.length : 1;
  return [pathRank, -prefixLen, m?.method ? 0 : 1, -Object.keys(m?.headers ?? {}).length, -Object.keys(m?.queryParams ?? {}).length];
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function matchOf(m: Match, where: string, notes: string[]): object[] {
  const gm: Record<string, unknown> = {};
  if (m.uri) {
    if ('exact' in m.uri) gm.path = { type: 'Exact', value: m.uri.exact };
    else if ('prefix' in m.uri) {
      gm.path = { type: 'PathPrefix', value: m.uri.prefix };
      const p = m.uri.prefix;
      const stem = p.replace(/\/$/, '');
      if (p !== '/') notes.push(`${where}: prefix ${p} is a string prefix locally; Linkerd's PathPrefix matches whole path segments (${stem} and ${stem}/x, not ${stem}x)${p.endsWith('/') ? `, and reads back as prefix ${stem}` : ''}`);
    } else gm.path = { type: 'RegularExpression', value: m.uri.regex };
  }
  for (const f of ['headers', 'queryParams'] as const) {
    const entries = Object.entries(m[f] ?? {});
    if (entries.length) {
      gm[f] = entries.map(([name, sm]) =>
        'exact' in sm ? { name, value: sm.exact } : 'regex' in sm ? { type: 'RegularExpression', name, value: sm.regex } : 'prefix' in sm ? { type: 'RegularExpression', name, value: `${escapeRegex(sm.prefix)}.*` } : { type: 'RegularExpression', name, value: '.*' },
      );
    }
  }
  for (const f of ['withoutHeaders', 'authority', 'sourceLabels'] as const) if (m[f]) notes.push(`${where}: ${f} matches have no Linkerd HTTPRoute form; dropped`);
  if (!m.method) return [gm];
  if ('exact' in m.method) return [{ ...gm, method: m.method.exact }];
  const alts = 'regex' in m.method ? methodAlternatives(m.method.regex) : null;
  if (alts) return alts.map((method) => ({ ...gm, method }));
  notes.push(`${where}: a method ${Object.keys(m.method)[0]} match has no HTTPRoute form; dropped`);
  return [gm];
}

/**
 * The retry annotations of one rule (an empty map: Linkerd does not retry). Linkerd's retries reference
 * (linkerd.io/2.16/reference/retries): retry.linkerd.io/http takes 5xx, gateway-error and status codes and
 * is valid on HTTPRoutes; retry.linkerd.io/grpc is valid on GRPCRoutes and Services only; limit defaults to 1.
 */
function retryAnnotations(r: HttpRouteSpec, where: string, notes: string[]): Record<string, string> {
  if (r.redirect || r.directResponse) return {};
  const retries = ruleRetries(r);
  if (retries.attempts === 0) return {};
  const tokens = [...new Set(effectiveRetryOn(retries.retryOn))];
  const http = tokens.filter((t) => HTTP_CONDITION.test(t));
  const grpc = tokens.filter((t) => GRPC_CONDITIONS.has(t));
  const lost = tokens.filter((t) => !HTTP_CONDITION.test(t) && !GRPC_CONDITIONS.has(t));
  const implicit = r.retries === undefined ? " (no retries block: Istio's default, 2 retries)" : '';
  if (lost.length || grpc.length) {
    const why = [...(lost.length ? [`${lost.join(', ')} have no Linkerd annotation`] : []), ...(grpc.length ? [`gRPC statuses ${grpc.join(', ')} go in retry.linkerd.io/grpc, which is not valid on an HTTPRoute`] : [])];
    notes.push(`${where}: retry conditions${implicit}: ${why.join('; ')}; ${http.length ? 'left out' : 'so Linkerd does not retry'}`);
  }
  if (!http.length) return {};
  const a: Record<string, string> = { 'retry.linkerd.io/http': http.join(','), 'retry.linkerd.io/limit': String(retries.attempts) };
  if (retries.perTryTimeout) a['retry.linkerd.io/timeout'] = wholeDuration(retries.perTryTimeout);
  return a;
}

function ruleOf(mesh: MeshFile, key: string, r: HttpRouteSpec, where: string, notes: string[]): Record<string, unknown> | null {
  if (r.directResponse) {
    notes.push(`${where}: directResponse has no Linkerd form; the rule is left out`);
    return null;
  }
  const portOf = (svc: string) => mesh.services[svc]?.port ?? 80;
  if (r.fault) notes.push(`${where}: fault injection has no Linkerd form; left out`);
  if (r.mirror) notes.push(`${where}: Linkerd does not mirror requests (no RequestMirror filter); left out`);
  if (r.rewrite) notes.push(`${where}: Linkerd's outbound policy has no URLRewrite filter; the rewrite is left out`);
  const rule: Record<string, unknown> = {};
  const matches = (r.match ?? []).flatMap((m) => matchOf(m, where, notes));
  if (matches.length) rule.matches = matches;
  const filters: object[] = [];
  if (r.headers?.request) filters.push({ type: 'RequestHeaderModifier', requestHeaderModifier: headerMod(r.headers.request) });
  // Linkerd's HTTPRoute takes ResponseHeaderModifier on a backend only (its CRD's rule filters are
  // RequestHeaderModifier and RequestRedirect).
  if (r.headers?.response) notes.push(`${where}: response header changes on a whole rule have no Linkerd HTTPRoute form (only per backend); left out`);
  if (r.redirect) {
    const red = r.redirect;
    if (red.scheme && !red.port) notes.push(`${where}: a redirect that sets the scheme and keeps the port has no HTTPRoute form (Gateway API then uses the scheme's well-known port)`);
    filters.push({ type: 'RequestRedirect', requestRedirect: { ...(red.scheme ? { scheme: red.scheme } : {}), ...(red.authority ? { hostname: red.authority } : {}), ...(red.port ? { port: red.port } : {}), ...(red.uri ? { path: { type: 'ReplaceFullPath', replaceFullPath: red.uri } } : {}), statusCode: red.redirectCode ?? 301 } });
  }
  if (filters.length) rule.filters = filters;
  if (r.route) {
    const external = r.route.filter((d) => d.destination.host && !(d.destination.host in mesh.services));
    if (external.length) {
      notes.push(`${where}: destinations ${external.map((d) => d.destination.host).join(', ')} are external: Linkerd routes to Services only; the rule is left out`);
      return null;
    }
    rule.backendRefs = backendRefs(r.route, key, portOf);
    if (r.timeout && !r.fault) rule.timeouts = { request: wholeDuration(r.timeout) };
  }
  return rule;
}

/**
 * The HTTPRoute's name: the importer names a rule `<route>.<index>`, so rules named that way (all of them,
 * in order) get their route's name back and keep their names through export and import.
 */
function routeName(key: string, names: (string | undefined)[]): string {
  const stems = names.map((n, i) => (n?.endsWith(`.${i}`) ? n.slice(0, -`.${i}`.length) : null));
  const stem = stems[0];
  return stem && /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(stem) && stems.every((x) => x === stem) ? stem : key;
}

function exportRoutes(mesh: MeshFile, notes: string[]): object[] {
  const out: object[] = [];
  for (const [key, rules] of Object.entries(mesh.routes ?? {})) {
    if (!(key in mesh.services)) {
      notes.push(`routes.${key}: ${key} is external; Linkerd attaches HTTPRoutes to Services in the cluster only; left out`);
      continue;
    }
    const built: { rule: Record<string, unknown>; annotations: Record<string, string>; keys: number[][]; where: string; name: string | undefined }[] = [];
    rules.forEach((r, i) => {
      const where = ruleWhere(key, i, r);
      const rule = ruleOf(mesh, key, r, where, notes);
      if (!rule) return;
      const keys = (r.match?.length ? r.match : [undefined]).map(precedence);
      built.push({ rule, annotations: retryAnnotations(r, where, notes), keys, where, name: r.name });
    });
    if (!built.length) continue;
    // Linkerd (Gateway API) sorts matches by precedence, not by list order: say where that reorders rules.
    for (let i = 0; i < built.length; i++) {
      for (let j = i + 1; j < built.length; j++) {
        if (built[j]!.keys.some((kj) => built[i]!.keys.every((ki) => compareKeys(kj, ki) < 0))) {
          notes.push(`routes.${key}: Linkerd orders rules by match precedence (exact path, longest prefix, method, most headers, most query parameters), so ${built[j]!.where} is tried before ${built[i]!.where}`);
        }
      }
    }
    const pieces = built.flatMap((b) => splitMatches(b.rule).map((rule) => ({ ...b, rule })));
    const sameRetries = pieces.length <= MAX_RULES && built.every((b) => JSON.stringify(b.annotations) === JSON.stringify(built[0]!.annotations));
    const parentRefs = [{ group: 'core', kind: 'Service', name: key, port: mesh.services[key]?.port ?? 80 }];
    const route = (name: string, annotations: Record<string, string>, rs: object[]) => ({
      apiVersion: ROUTE_API, kind: 'HTTPRoute', metadata: { name, namespace: NS, ...(Object.keys(annotations).length ? { annotations } : {}) }, spec: { parentRefs, rules: rs },
    });
    if (sameRetries) out.push(route(pieces.length === built.length ? routeName(key, built.map((b) => b.name)) : key, built[0]!.annotations, pieces.map((b) => b.rule)));
    // Retry annotations are per HTTPRoute; ties in precedence go by name, so the names keep the list order.
    else pieces.forEach((b, i) => out.push(route(`${key}-${String(i).padStart(Math.max(2, String(pieces.length - 1).length), '0')}`, b.annotations, [b.rule])));
  }
  return out;
}

type Rule = NonNullable<AuthorizationPolicySpec['rules']>[number];

/** `cluster.local/ns/<ns>/sa/<sa>` → the local service it names, or the Linkerd identity. */
function principalOf(mesh: MeshFile, p: string): { service: string } | { identity: string } | null {
  const m = /^[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(p);
  if (!m) return null;
  if (m[1] === NS && m[2]! in mesh.services) return { service: m[2]! };
  return { identity: `${m[2]}.${m[1]}.serviceaccount.identity.linkerd.cluster.local` };
}

function exportAuthorization(mesh: MeshFile, notes: string[]): object[] {
  const out: object[] = [];
  const policies = mesh.authorization ?? [];
  for (const p of policies) {
    const where = `authorization ${p.name}`;
    if (p.action === 'DENY') notes.push(`${where}: Linkerd has no deny policy (it authorizes by allowing); left out`);
    else if (p.action !== 'ALLOW') notes.push(`${where}: ${p.action} policies have no Linkerd form; left out`);
  }
  for (const [svc, spec] of Object.entries(mesh.services)) {
    const allow = policies.filter((p) => p.action === 'ALLOW' && (p.service === undefined || p.service === svc));
    if (!allow.length) continue;
    const server = k8sName(svc, 'http');
    const proxyProtocol = { http: 'HTTP/1', http2: 'HTTP/2', grpc: 'gRPC', tcp: 'opaque' }[spec.protocol ?? 'http'];
    out.push({ apiVersion: `${POLICY_GROUP}/v1beta3`, kind: 'Server', metadata: { name: server, namespace: NS }, spec: { podSelector: { matchLabels: { app: svc } }, port: spec.port ?? 'http', proxyProtocol } });
    for (const p of allow) {
      (p.rules ?? []).forEach((rule: Rule, k) => {
        const where = `authorization ${p.name}.rules[${k}]`;
        const name = k8sName(p.name, ...(p.service === undefined ? [svc] : []), ...((p.rules?.length ?? 0) > 1 ? [String(k)] : []));
        // Who: the calling services' accounts and other identities; nobody named: any meshed caller.
        const accounts: string[] = [];
        const identities: string[] = [];
        for (const f of rule.from ?? []) {
          const { services, principals, ...rest } = f.source;
          accounts.push(...(services ?? []));
          for (const pr of principals ?? []) {
            const id = principalOf(mesh, pr);
            if (!id) notes.push(`${where}: principal ${pr} is not an Istio-style cluster.local/ns/…/sa/… identity; dropped`);
            else if ('service' in id) accounts.push(id.service);
            else identities.push(id.identity);
          }
          const dropped = Object.keys(rest).filter((x) => (rest as Record<string, unknown>)[x] !== undefined);
          if (dropped.length) notes.push(`${where}: source ${dropped.join(', ')} has no Linkerd form; dropped`);
        }
        if (rule.when) notes.push(`${where}: when conditions have no Linkerd form; dropped`);
        if (rule.from?.length && !accounts.length && !identities.length) {
          notes.push(`${where}: no caller Linkerd can name is left; the rule is left out (rather than allowing every caller)`);
          return;
        }
        // What: paths and methods become an HTTPRoute on the Server, which the policy targets.
        const matches: object[] = [];
        for (const t of rule.to ?? []) {
          const { paths, methods, ...rest } = t.operation;
          const dropped = Object.keys(rest).filter((x) => (rest as Record<string, unknown>)[x] !== undefined);
          if (dropped.length) notes.push(`${where}: operation ${dropped.join(', ')} has no Linkerd form; dropped`);
          const ps = (paths ?? ['*']).map((path) => {
            if (path === '*') return null;
            if (!path.includes('*')) return { type: 'Exact', value: path };
            if (/^[^*]*\*$/.test(path) && !path.endsWith('/*')) return { type: 'PathPrefix', value: path.slice(0, -1) };
            notes.push(`${where}: path ${path} has no HTTPRoute form (PathPrefix matches whole segments); written as PathPrefix ${path.replace(/\/?\*.*$/, '') || '/'}`);
            return { type: 'PathPrefix', value: path.replace(/\/?\*.*$/, '') || '/' };
          });
          for (const path of ps) {
            for (const method of methods ?? ['*']) {
              if (method !== '*' && !HTTP_METHODS.has(method)) {
                notes.push(`${where}: method ${method} is no HTTP method Linkerd's HTTPRoute accepts; that operation is left out`);
                continue;
              }
              matches.push({ ...(path ? { path } : {}), ...(method !== '*' ? { method } : {}) });
            }
          }
        }
        if (rule.to?.length && !matches.length) {
          notes.push(`${where}: no operation Linkerd can say is left; the rule is left out`);
          return;
        }
        if (matches.length > MAX_MATCHES * MAX_RULES) notes.push(`${where}: ${matches.length} operations, more than one HTTPRoute holds (${MAX_MATCHES * MAX_RULES}); the rest are left out`);
        const rules: object[] = [];
        for (let i = 0; i < Math.min(matches.length, MAX_MATCHES * MAX_RULES); i += MAX_MATCHES) rules.push({ matches: matches.slice(i, i + MAX_MATCHES) });
        const authn = { apiVersion: `${POLICY_GROUP}/v1alpha1`, kind: 'MeshTLSAuthentication', metadata: { name: `${name}-authn`, namespace: NS }, spec: accounts.length || identities.length ? { ...(accounts.length ? { identityRefs: [...new Set(accounts)].map((a) => ({ kind: 'ServiceAccount', name: a })) } : {}), ...(identities.length ? { identities } : {}) } : { identities: ['*'] } };
        out.push(authn);
        let targetRef = { group: POLICY_GROUP, kind: 'Server', name: server };
        if (matches.length) {
          out.push({ apiVersion: ROUTE_API, kind: 'HTTPRoute', metadata: { name: `${name}-route`, namespace: NS }, spec: { parentRefs: [{ group: POLICY_GROUP, kind: 'Server', name: server }], rules } });
          targetRef = { group: POLICY_GROUP, kind: 'HTTPRoute', name: `${name}-route` };
        }
        out.push({ apiVersion: `${POLICY_GROUP}/v1alpha1`, kind: 'AuthorizationPolicy', metadata: { name, namespace: NS }, spec: { targetRef, requiredAuthenticationRefs: [{ group: POLICY_GROUP, kind: 'MeshTLSAuthentication', name: `${name}-authn` }] } });
      });
    }
  }
  return out;
}

export function exportLinkerd(mesh: MeshFile): ExportResult {
  const notes: string[] = [];
  const out = [...exportRoutes(mesh, notes), ...exportAuthorization(mesh, notes)];
  if (out.some((d) => (d as { kind: string }).kind === 'HTTPRoute')) out.push(...versionServices(mesh));
  if (mesh.mtls !== 'STRICT') notes.push(`mtls: ${mesh.mtls}: Linkerd always uses mTLS between meshed pods; no setting is written`);
  for (const [svc, setting] of Object.entries(mesh.serviceMtls ?? {})) notes.push(`serviceMtls.${svc}: ${JSON.stringify(setting)}: Linkerd has no per-service mTLS mode; left out`);
  for (const [svc, p] of Object.entries(mesh.policies ?? {})) {
    const fields = Object.keys(p).filter((k) => (p as Record<string, unknown>)[k] !== undefined);
    if (fields.length) notes.push(`policies.${svc}: ${fields.join(', ')} ${fields.length > 1 ? 'have' : 'has'} no Linkerd HTTPRoute form (a retry budget lives only in ServiceProfiles, which override HTTPRoutes); left out`);
  }
  if (mesh.external && Object.keys(mesh.external).length) notes.push(`external: Linkerd has no form for services outside the cluster; left out`);
  if (mesh.tracing !== undefined) notes.push('tracing: Linkerd sets trace sampling in its install (linkerd-jaeger), not in policy; left out');
  // A mesh-wide policy is written for each service: say what it loses once.
  return { yaml: docs(out), notes: [...new Set(notes)] };
}
