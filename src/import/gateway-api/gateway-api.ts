// Gateway API (gateway.networking.k8s.io v1, v1beta1, v1alpha2) HTTPRoute and GRPCRoute → devmesh routes.
// Routes attached to a Service (GAMMA) route that service for every caller; routes attached to a Gateway
// apply only at the local ingress. devmesh rules are first-match-wins, so every match of every route on a
// parent becomes its own rule, sorted by Gateway API's precedence (exact path, longest prefix, method,
// most headers, most query params, then oldest route, then namespace/name, then rule order).
import { z } from 'zod';
import type { HttpRouteSpec } from '../../config/mesh-schema.js';
import { devmeshDuration, parseDurationMs, type Path, type Resource, type Session } from '../context.js';
import { percentWeights, regexProblem, type Match, type RuleDestination, escapeRegex } from '../route-helpers.js';
import { linkerdRouteAnnotations } from '../linkerd/annotations.js';

const ParentRef = z.looseObject({ group: z.string().optional(), kind: z.string().optional(), name: z.string().min(1), namespace: z.string().optional(), sectionName: z.string().optional(), port: z.number().int().optional() });
const NameValue = z.looseObject({ type: z.string().optional(), name: z.string().min(1), value: z.string() });
const HeaderModifier = z.looseObject({ set: z.array(NameValue).optional(), add: z.array(NameValue).optional(), remove: z.array(z.string()).optional() });
const BackendRef = z.looseObject({ group: z.string().optional(), kind: z.string().optional(), name: z.string().min(1), namespace: z.string().optional(), port: z.number().int().optional(), weight: z.number().int().min(0).max(1_000_000).optional() });
const Filter = z.looseObject({
  type: z.string(),
  requestHeaderModifier: HeaderModifier.optional(),
  responseHeaderModifier: HeaderModifier.optional(),
  requestRedirect: z.looseObject({ scheme: z.enum(['http', 'https']).optional(), hostname: z.string().optional(), path: z.looseObject({ type: z.string(), replaceFullPath: z.string().optional(), replacePrefixMatch: z.string().optional() }).optional(), port: z.number().int().min(1).max(65535).optional(), statusCode: z.number().int().optional() }).optional(),
  urlRewrite: z.looseObject({ hostname: z.string().optional(), path: z.looseObject({ type: z.string(), replaceFullPath: z.string().optional(), replacePrefixMatch: z.string().optional() }).optional() }).optional(),
  requestMirror: z.looseObject({ backendRef: BackendRef, percent: z.number().min(0).max(100).optional(), fraction: z.looseObject({ numerator: z.number().int().min(0), denominator: z.number().int().min(1).optional() }).optional() }).optional(),
});
const HttpMatch = z.looseObject({
  path: z.looseObject({ type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).optional(), value: z.string().optional() }).optional(),
  headers: z.array(NameValue).optional(),
  queryParams: z.array(NameValue).optional(),
  method: z.string().optional(),
});
const GrpcMatch = z.looseObject({
  method: z.looseObject({ type: z.enum(['Exact', 'RegularExpression']).optional(), service: z.string().optional(), method: z.string().optional() }).optional(),
  headers: z.array(NameValue).optional(),
});
const Rule = z.looseObject({
  name: z.string().optional(),
  matches: z.array(z.looseObject({})).optional(),
  filters: z.array(Filter).optional(),
  backendRefs: z.array(BackendRef.extend({ filters: z.array(Filter).optional() })).optional(),
  timeouts: z.looseObject({ request: z.string().optional(), backendRequest: z.string().optional() }).optional(),
  retry: z.looseObject({ attempts: z.number().int().min(0).optional(), codes: z.array(z.number().int().min(400).max(599)).optional(), backoff: z.string().optional() }).optional(),
});
const RouteSpec = z.looseObject({ parentRefs: z.array(ParentRef).optional(), hostnames: z.array(z.string()).optional(), rules: z.array(Rule).optional() });
const GatewaySpec = z.looseObject({ listeners: z.array(z.looseObject({ name: z.string().optional(), port: z.number().int(), protocol: z.string().optional(), hostname: z.string().optional() })).optional() });
type Listener = { name?: string | undefined; hostname?: string | undefined };

/** The more specific of a route hostname and a listener hostname when they intersect (Gateway API), else null. */
function intersectHost(route: string, listener: string): string | null {
  const suffix = (h: string) => (h.startsWith('*.') ? h.slice(1) : null);
  const r = route.toLowerCase();
  const l = listener.toLowerCase();
  const rs = suffix(r);
  const ls = suffix(l);
  if (rs === null && ls === null) return r === l ? r : null;
  if (rs === null) return r.endsWith(ls!) ? r : null;
  if (ls === null) return l.endsWith(rs) ? l : null;
  return rs.endsWith(ls) ? r : ls.endsWith(rs) ? l : null;
}

/**
 * The hostnames a route answers on through one parent Gateway: its own hostnames intersected with those of
 * the listeners it attaches to (all, or the one its sectionName names). null: any host.
 */
function hostnamesThrough(routeHosts: string[] | undefined, listeners: Listener[] | undefined, section: string | undefined): string[] | null {
  const route = routeHosts && routeHosts.length ? routeHosts.map((h) => h.toLowerCase()) : null;
  const selected = (listeners ?? []).filter((l) => section === undefined || l.name === section);
  // A Gateway this import does not hold: the route's own hostnames.
  if (selected.length === 0) return route;
  const out = new Set<string>();
  for (const l of selected) {
    if (!l.hostname) {
      if (route === null) return null; // a listener for any host, a route for any host
      for (const h of route) out.add(h);
    } else if (route === null) out.add(l.hostname.toLowerCase());
    else for (const h of route) {
      const x = intersectHost(h, l.hostname);
      if (x) out.add(x);
    }
  }
  return [...out];
}

/** A hostname as an authority match: exact, or a wildcard's any-label prefix (*.example.com: one label or more). */
function authorityOf(host: string): { exact: string } | { regex: string } {
  return host.startsWith('*.') ? { regex: `^.+${escapeRegex(host.slice(1))}$` } : { exact: host };
}

type RuleIn = z.infer<typeof Rule>;
type FilterIn = z.infer<typeof Filter>;

const NOT_LOCAL: Record<string, string> = {
  GatewayClass: 'the local ingress is built in',
  ReferenceGrant: 'devmesh has one namespace: cross-namespace references need no grant',
  TCPRoute: 'devmesh routes HTTP: TCP routes are not applied',
  TLSRoute: 'devmesh routes HTTP: TLS routes are not applied',
  UDPRoute: 'devmesh routes HTTP: UDP routes are not applied',
  BackendTLSPolicy: 'sidecars always talk mTLS to each other',
  BackendLBPolicy: 'session persistence is not supported by the local sidecar',
};

interface Candidate {
  res: Resource;
  rulePath: Path;
  matchPath: Path | null;
  match: Match | null;
  /** Sort keys, Gateway API precedence. */
  pathRank: number;
  prefixLen: number;
  method: boolean;
  headers: number;
  query: number;
  ruleIndex: number;
  matchIndex: number;
  rule: HttpRouteSpec;
}

function isServiceParent(p: z.infer<typeof ParentRef>): boolean {
  return p.kind === 'Service' && (p.group === undefined || p.group === '' || p.group === 'core');
}

function headerModifier(m: z.infer<typeof HeaderModifier>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (m.set?.length) o.set = Object.fromEntries(m.set.map((h) => [h.name, h.value]));
  if (m.add?.length) o.add = Object.fromEntries(m.add.map((h) => [h.name, h.value]));
  if (m.remove?.length) o.remove = m.remove;
  return o;
}

/** The path modifier type of the rule's URLRewrite filter, if it has one. */
function rewriteType(rule: RuleIn): string | undefined {
  return rule.filters?.find((f) => f.type === 'URLRewrite')?.urlRewrite?.path?.type;
}

/**
 * Gateway API's PathPrefix matches whole path segments (/v2 matches /v2 and /v2/x, not /v2x); devmesh's
 * (Istio's) prefix is a string prefix. So a segment prefix becomes two match blocks: the exact path, and
 * the prefix with its slash. A ReplacePrefixMatch rewrite then needs the slash in its replacement for the
 * second (/prefix/x → /one/x, and / for /strip-prefix/x → /x): two rules. A ReplaceFullPath rewrite
 * replaces the whole path of any match but a prefix: there the second block matches by regex.
 */
function segmentPrefixRules(match: Match, segment: string | undefined, action: HttpRouteSpec, rewrite: string | undefined): { blocks: Match[]; rule: HttpRouteSpec }[] {
  if (segment === undefined) return [{ blocks: [match], rule: structuredClone(action) }];
  const exact: Match = { ...match, uri: { exact: segment } };
  const under: Match = { ...match, uri: { prefix: `${segment}/` } };
  const slashed = (s: string) => (s.endsWith('/') ? s : `${s}/`);
  if (action.rewrite?.uri !== undefined && rewrite === 'ReplacePrefixMatch') {
    const tail = structuredClone(action);
    tail.rewrite!.uri = slashed(action.rewrite.uri);
    return [
      { blocks: [exact], rule: structuredClone(action) },
      { blocks: [under], rule: tail },
    ];
  }
  if (action.redirect?.prefixRewrite !== undefined) {
    const tail = structuredClone(action);
    tail.redirect!.prefixRewrite = slashed(action.redirect.prefixRewrite);
    return [
      { blocks: [exact], rule: structuredClone(action) },
      { blocks: [under], rule: tail },
    ];
  }
  if (action.rewrite?.uri !== undefined) return [{ blocks: [exact, { ...match, uri: { regex: `^${escapeRegex(segment)}/.*` } }], rule: structuredClone(action) }];
  return [{ blocks: [exact, under], rule: structuredClone(action) }];
}

function translateMatch(res: Resource, raw: Record<string, unknown>, path: Path, grpc: boolean): { match: Match; pathRank: number; prefixLen: number; segment?: string } | null {
  const match: Match = {};
  let pathRank = 1;
  let prefixLen = 1;
  if (grpc) {
    const m = res.check(GrpcMatch, raw, path);
    if (!m) return null;
    if (m.method) {
      const svc = m.method.service;
      const meth = m.method.method;
      if (m.method.type === 'RegularExpression') {
        const problem = [svc, meth].map((re) => (re === undefined ? null : regexProblem(re))).find((p) => p !== null);
        if (problem) {
          res.fail([...path, 'method'], problem);
          return null;
        }
        match.uri = { regex: `^/${svc ?? '[^/]+'}/${meth ?? '[^/]+'}$` };
        pathRank = 2;
      } else if (svc && meth) {
        match.uri = { exact: `/${svc}/${meth}` };
        pathRank = 0;
      } else if (svc) {
        match.uri = { prefix: `/${svc}/` };
        prefixLen = svc.length + 2;
      } else if (meth) {
        match.uri = { regex: `^/[^/]+/${escapeRegex(meth)}$` };
        pathRank = 2;
      }
      res.mapped([...path, 'method'], 'gRPC method → request path /service/method');
    }
    headersOf(res, m.headers, [...path, 'headers'], match, 'headers');
    return { match, pathRank, prefixLen };
  }
  const m = res.check(HttpMatch, raw, path);
  if (!m) return null;
  if (m.path) {
    const type = m.path.type ?? 'PathPrefix';
    const value = m.path.value ?? '/';
    if (type === 'Exact') {
      match.uri = { exact: value };
      pathRank = 0;
      res.cover([...path, 'path']);
    } else if (type === 'RegularExpression') {
      const problem = regexProblem(value);
      if (problem !== null) {
        res.fail([...path, 'path', 'value'], problem);
        return null;
      }
      match.uri = { regex: value };
      pathRank = 2;
      res.ignored([...path, 'path', 'type'], 'regex precedence left to the implementation: placed after exact and prefix matches');
    } else {
      prefixLen = value.length;
      if (value !== '/') {
        const segment = value.replace(/\/+$/, '');
        match.uri = { prefix: segment };
        res.mapped([...path, 'path'], `PathPrefix ${value} matches whole path segments: ${segment} exactly, or under ${segment}/`);
        return { ...finishMatch(res, m, path, match), pathRank, prefixLen, segment };
      } else res.mapped([...path, 'path'], 'PathPrefix / matches every request');
    }
  }
  return { ...finishMatch(res, m, path, match), pathRank, prefixLen };
}

/** Method, headers and query parameters of an HTTP match. */
function finishMatch(res: Resource, m: z.infer<typeof HttpMatch>, path: Path, match: Match): { match: Match } {
  if (m.method) {
    match.method = { exact: m.method };
    res.cover([...path, 'method']);
  }
  headersOf(res, m.headers, [...path, 'headers'], match, 'headers');
  headersOf(res, m.queryParams, [...path, 'queryParams'], match, 'queryParams');
  return { match };
}

function headersOf(res: Resource, list: z.infer<typeof NameValue>[] | undefined, path: Path, match: Match, field: 'headers' | 'queryParams'): void {
  if (!list) return;
  const out: Record<string, { exact: string } | { regex: string }> = {};
  list.forEach((h, i) => {
    const key = field === 'headers' ? h.name.toLowerCase() : h.name;
    if (key in out) {
      res.mapped([...path, i], `repeated ${field === 'headers' ? 'header' : 'query parameter'} ${h.name}: the first one counts, as Gateway API specifies`);
      return;
    }
    if (h.type === 'RegularExpression') {
      const problem = regexProblem(h.value);
      if (problem !== null) return res.fail([...path, i, 'value'], problem);
      out[key] = { regex: h.value };
    } else out[key] = { exact: h.value };
    res.cover([...path, i]);
  });
  if (Object.keys(out).length) match[field] = out;
}

/** The rule's actions (route, redirect, filters, timeouts, retries), shared by all its matches. */
function translateRuleActions(res: Resource, session: Session, rule: RuleIn, path: Path, parentService: string | null, linkerdDefaults: Partial<HttpRouteSpec>): HttpRouteSpec | null {
  const out: HttpRouteSpec = {};
  if (rule.name) out.name = rule.name;
  res.cover([...path, 'name']);
  let redirect: HttpRouteSpec['redirect'];
  (rule.filters ?? []).forEach((f: FilterIn, i) => {
    const fp: Path = [...path, 'filters', i];
    switch (f.type) {
      case 'RequestHeaderModifier':
      case 'ResponseHeaderModifier': {
        const m = f.type === 'RequestHeaderModifier' ? f.requestHeaderModifier : f.responseHeaderModifier;
        if (!m) return res.fail(fp, `${f.type} needs its ${f.type === 'RequestHeaderModifier' ? 'requestHeaderModifier' : 'responseHeaderModifier'} field`);
        out.headers = { ...(out.headers ?? {}), [f.type === 'RequestHeaderModifier' ? 'request' : 'response']: headerModifier(m) };
        res.mapped(fp, `headers.${f.type === 'RequestHeaderModifier' ? 'request' : 'response'}`);
        return;
      }
      case 'RequestRedirect': {
        const r = f.requestRedirect;
        if (!r) return res.fail(fp, 'RequestRedirect needs its requestRedirect field');
        redirect = {};
        if (r.scheme) redirect.scheme = r.scheme;
        if (r.hostname) redirect.authority = r.hostname;
        if (r.port !== undefined) redirect.port = r.port;
        else if (r.scheme) redirect.port = r.scheme === 'https' ? 443 : 80;
        // "When empty, the port (if specified) of the request is used" (HTTPRequestRedirectFilter.port), as
        // Istio translates it: derivePort FROM_REQUEST_PORT, whether or not the hostname changes.
        else redirect.derivePort = 'FROM_REQUEST_PORT';
        const code = r.statusCode ?? 302;
        if (![301, 302, 303, 307, 308].includes(code)) return res.fail([...fp, 'requestRedirect', 'statusCode'], `Unsupported value: ${code}: supported values: 301, 302, 303, 307, 308`);
        redirect.redirectCode = code;
        if (r.path?.type === 'ReplaceFullPath' && r.path.replaceFullPath !== undefined) redirect.uri = r.path.replaceFullPath;
        else if (r.path?.type === 'ReplacePrefixMatch' && r.path.replacePrefixMatch !== undefined) redirect.prefixRewrite = r.path.replacePrefixMatch;
        res.mapped(fp, `redirect${r.scheme && r.port === undefined ? ` (port ${redirect.port}: the well-known port of ${r.scheme}, as Gateway API requires)` : ''}${r.statusCode === undefined ? ' (status 302, Gateway API\'s default)' : ''}`);
        return;
      }
      case 'URLRewrite': {
        const r = f.urlRewrite;
        if (!r) return res.fail(fp, 'URLRewrite needs its urlRewrite field');
        out.rewrite = {};
        if (r.hostname) out.rewrite.authority = r.hostname;
        if (r.path?.type === 'ReplacePrefixMatch' && r.path.replacePrefixMatch !== undefined) {
          out.rewrite.uri = r.path.replacePrefixMatch;
          res.mapped(fp, 'rewrite.uri replaces the matched path prefix (segment-wise: a rule for the exact path, one for the paths under it)');
        } else if (r.path?.type === 'ReplaceFullPath' && r.path.replaceFullPath !== undefined) {
          out.rewrite.uri = r.path.replaceFullPath;
          res.mapped(fp, 'ReplaceFullPath → rewrite.uri, replacing the whole path (a path prefix is matched exactly or by regex, so no prefix is replaced)');
        } else res.mapped(fp, 'rewrite');
        return;
      }
      case 'RequestMirror': {
        const r = f.requestMirror;
        if (!r) return res.fail(fp, 'RequestMirror needs its requestMirror field');
        const t = session.target(r.backendRef.name);
        if (!t) return res.ignored(fp, `mirror backend ${r.backendRef.name} maps to no local service: not mirrored`);
        if (out.mirror) return res.approx(fp, 'devmesh mirrors to one destination: only the first is kept');
        out.mirror = t.kind === 'service' ? { host: t.service, ...(t.subset ? { subset: t.subset } : {}) } : { host: t.name };
        if (r.percent !== undefined) out.mirrorPercentage = { value: r.percent };
        else if (r.fraction) out.mirrorPercentage = { value: (r.fraction.numerator * 100) / (r.fraction.denominator ?? 100) };
        res.mapped(fp, `mirror to ${out.mirror.host}${out.mirror.subset ? ` ${out.mirror.subset}` : ''}${out.mirrorPercentage ? ` (${out.mirrorPercentage.value}%)` : ''}`);
        return;
      }
      default:
        res.ignored(fp, `filter ${f.type} is not supported by the local sidecar`);
    }
  });
  if (res.invalid) return null;
  // backends
  const refs = rule.backendRefs ?? [];
  if (redirect) {
    out.redirect = redirect;
    if (refs.length) res.ignored([...path, 'backendRefs'], 'a redirect answers the request: backends are not used');
  } else if (refs.length === 0) {
    if (parentService) {
      out.route = [{ destination: { host: parentService } }];
      res.mapped(path, `no backendRefs: requests go to the parent Service ${parentService}`);
    } else {
      out.directResponse = { status: 500 };
      res.approx(path, 'no backendRefs and no redirect: answered with 500');
    }
  } else {
    const dests: (RuleDestination & { rawWeight: number })[] = [];
    refs.forEach((b, k) => {
      const bp: Path = [...path, 'backendRefs', k];
      if (b.kind !== undefined && b.kind !== 'Service') return res.ignored(bp, `backend kind ${b.kind}: only Services map to local services`);
      const t = session.target(b.name);
      if (!t) return res.ignored(bp, `backend ${b.name} maps to no local service: left out (use --map ${b.name}=LOCAL)`);
      const d: RuleDestination & { rawWeight: number } = { destination: t.kind === 'service' ? { host: t.service, ...(t.subset ? { subset: t.subset } : {}) } : { host: t.name }, rawWeight: b.weight ?? 1 };
      if (t.kind === 'service' && t.how === 'version-name') res.mapped([...bp, 'name'], `Service ${b.name} → version ${t.subset} of ${t.service}`);
      else res.cover([...bp, 'name']);
      res.cover([...bp, 'port']);
      res.cover([...bp, 'weight']);
      res.cover([...bp, 'namespace']);
      (b.filters ?? []).forEach((f, i) => {
        if (f.type === 'RequestHeaderModifier' && f.requestHeaderModifier) d.headers = { ...(d.headers ?? {}), request: headerModifier(f.requestHeaderModifier) };
        else if (f.type === 'ResponseHeaderModifier' && f.responseHeaderModifier) d.headers = { ...(d.headers ?? {}), response: headerModifier(f.responseHeaderModifier) };
        else return res.ignored([...bp, 'filters', i], `backend filter ${f.type} is not supported locally`);
        res.mapped([...bp, 'filters', i], 'per-destination headers');
      });
      dests.push(d);
    });
    if (dests.length === 0) {
      out.directResponse = { status: 500 };
      res.approx([...path, 'backendRefs'], 'no backend maps to a local service: answered with 500, as Gateway API does for invalid backends');
    } else if (dests.every((d) => d.rawWeight === 0)) {
      out.directResponse = { status: 500 };
      res.mapped([...path, 'backendRefs'], 'every backend weighs 0: answered with 500, as Gateway API specifies');
    } else {
      const { percents, exact } = percentWeights(dests.map((d) => d.rawWeight));
      out.route = dests.map(({ rawWeight: _, ...d }, i) => (dests.length > 1 ? { ...d, weight: percents[i]! } : d));
      if (dests.length > 1) {
        if (exact) res.mapped([...path, 'backendRefs'], `weights ${dests.map((d) => d.rawWeight).join('/')} → ${percents.join('/')} percent`);
        else res.approx([...path, 'backendRefs'], `weights ${dests.map((d) => d.rawWeight).join('/')} rounded to ${percents.join('/')} percent`);
      }
    }
  }
  // timeouts and retries
  const request = rule.timeouts?.request !== undefined ? parseDurationMs(rule.timeouts.request) : null;
  const backend = rule.timeouts?.backendRequest !== undefined ? parseDurationMs(rule.timeouts.backendRequest) : null;
  if (rule.timeouts?.request !== undefined && request === null) res.fail([...path, 'timeouts', 'request'], `invalid duration "${rule.timeouts.request}"`);
  if (rule.timeouts?.backendRequest !== undefined && backend === null) res.fail([...path, 'timeouts', 'backendRequest'], `invalid duration "${rule.timeouts.backendRequest}"`);
  if (res.invalid) return null;
  if (rule.retry) {
    const codes = rule.retry.codes ?? [500, 502, 503, 504];
    // HTTPRouteRetry: "Implementations SHOULD retry on connection errors (disconnect, reset, timeout, TCP
    // failure) if a retry stanza is configured" (apis/v1/httproute_types.go): Envoy's reset is "disconnect,
    // reset, read timeout" (a per-try timeout too), connect-failure the TCP failure. Istio's translation
    // (pilot/pkg/config/kube/gateway/conversion.go) leaves reset out, so a backendRequest timeout is not
    // retried there; the conformance test HTTPRouteRetryWithTimeouts expects it to be.
    out.retries = { attempts: Math.min(rule.retry.attempts ?? 1, 20), retryOn: ['connect-failure', 'refused-stream', 'reset', 'unavailable', 'cancelled', ...codes.map(String)].join(',') };
    if (backend) out.retries.perTryTimeout = devmeshDuration(rule.timeouts!.backendRequest)!;
    res.approx([...path, 'retry'], `retries on connection errors (connect failure, disconnect, reset, timeout) and ${codes.join(', ')}${rule.retry.codes ? '' : ' (codes unset: the usual 5xx set)'}${rule.retry.attempts === undefined ? '; attempts unset: 1' : ''}`);
    if (rule.retry.backoff) res.ignored([...path, 'retry', 'backoff'], 'the local sidecar uses its own short backoff');
    if (request) out.timeout = devmeshDuration(rule.timeouts!.request)!;
  } else if (linkerdDefaults.retries) {
    out.retries = linkerdDefaults.retries;
  } else if (!out.redirect && !out.directResponse) {
    out.retries = { attempts: 0 };
    res.cover([...path, 'retry']);
  }
  if (!rule.retry) {
    // One attempt: the per-backend-request timeout bounds the whole request too.
    const limits = [request, backend].filter((x): x is number => x !== null && x > 0);
    if (limits.length) {
      const min = Math.min(...limits);
      out.timeout = min === request ? devmeshDuration(rule.timeouts!.request)! : devmeshDuration(rule.timeouts!.backendRequest)!;
    } else if (linkerdDefaults.timeout) out.timeout = linkerdDefaults.timeout;
  }
  if (rule.timeouts) {
    if ((request === 0 || backend === 0) && !out.timeout) res.mapped([...path, 'timeouts'], 'a zero timeout disables it, as no timeout does locally');
    else res.mapped([...path, 'timeouts'], out.timeout ? `timeout ${out.timeout}${out.retries?.perTryTimeout ? `, per try ${out.retries.perTryTimeout}` : ''}` : 'no timeout');
  }
  if ((rule as Record<string, unknown>).sessionPersistence !== undefined) res.ignored([...path, 'sessionPersistence'], 'session persistence is not supported by the local sidecar');
  return out;
}

function creation(res: Resource): string {
  const t = (res.value.metadata as Record<string, unknown> | undefined)?.creationTimestamp;
  return typeof t === 'string' ? t : '';
}

/** HTTPRoutes and GRPCRoutes (and, for Linkerd, policy.linkerd.io HTTPRoutes on a Service). */
export function translateRoutes(routes: Resource[], session: Session, flavor: 'gateway-api' | 'linkerd', gateways: Map<string, Listener[]> = new Map()): Map<string, string[]> {
  const groups = new Map<string, Candidate[]>();
  const gatewayServices = new Map<string, string[]>();
  for (const res of routes) {
    const spec = res.check(RouteSpec, res.value.spec ?? {}, ['spec']);
    if (!spec) continue;
    const grpc = res.kind === 'GRPCRoute';
    const linkerd = flavor === 'linkerd' ? linkerdRouteAnnotations(res) : {};
    const parents = spec.parentRefs ?? [];
    if (parents.length === 0) {
      res.ignored(['spec', 'parentRefs'], 'attached to nothing: the route applies nowhere');
      continue;
    }
    if (spec.hostnames && !parents.some((p) => (p.kind ?? 'Gateway') === 'Gateway')) res.ignored(['spec', 'hostnames'], 'sidecars route by service: a mesh route\'s hostnames are not matched');
    parents.forEach((parent, pi) => {
      const pp: Path = ['spec', 'parentRefs', pi];
      let key: string;
      let ingress = false;
      let hosts: string[] | null = null;
      let parentService: string | null = null;
      if (isServiceParent(parent)) {
        const t = session.target(parent.name);
        if (!t || t.kind !== 'service') {
          res.ignored(pp, `parent Service ${parent.name} maps to no local service: the route is not applied (use --map ${parent.name}=LOCAL)`);
          return;
        }
        key = parentService = t.service;
        res.mapped(pp, `routes.${key} (a mesh route: every caller of ${key})`);
      } else if ((parent.kind ?? 'Gateway') === 'Gateway') {
        ingress = true;
        hosts = hostnamesThrough(spec.hostnames, gateways.get(parent.name), parent.sectionName);
        if (hosts !== null && hosts.length === 0) {
          res.mapped(pp, `no hostname of the route intersects those of gateway ${parent.name}'s listeners: the route is not attached to it`);
          return;
        }
        if (hosts !== null) res.mapped(['spec', 'hostnames'], `matched on the request's Host: ${hosts.join(', ')}`);
        const backends = new Set<string>();
        for (const r of spec.rules ?? []) for (const b of r.backendRefs ?? []) {
          const t = session.hosts.resolve(b.name);
          if (t?.kind === 'service') backends.add(t.service);
        }
        const ingressServices = session.hosts.local?.ingressServices ?? [];
        // Ingress traffic enters at the mesh's ingress service: its rules may send it anywhere.
        if (ingressServices.length === 1) key = ingressServices[0]!;
        else if (backends.size > 0) key = [...backends][0]!;
        else {
          res.approx(pp, `gateway ${parent.name}: none of the route's backends maps to a local service, so there is no local ingress to attach it to`);
          return;
        }
        gatewayServices.set(parent.name, [...(gatewayServices.get(parent.name) ?? []), key]);
        res.approx(pp, `gateway ${parent.name} → rules for traffic from the local ingress, on routes.${key}`);
      } else {
        res.ignored(pp, `parent kind ${parent.kind} is not supported locally`);
        return;
      }
      const groupKey = `${ingress ? 'ingress' : 'mesh'}\0${key}`;
      const list = groups.get(groupKey) ?? [];
      groups.set(groupKey, list);
      (spec.rules ?? []).forEach((rule, ri) => {
        const rp: Path = ['spec', 'rules', ri];
        const action = translateRuleActions(res, session, rule, rp, parentService, linkerd);
        if (!action) return;
        for (const d of action.route ?? []) if (d.destination.host === key) delete d.destination.host;
        const matches = rule.matches && rule.matches.length ? rule.matches : [null];
        matches.forEach((raw, mi) => {
          const mp: Path = [...rp, 'matches', mi];
          const m = raw ? translateMatch(res, raw, mp, grpc) : { match: {} as Match, pathRank: 1, prefixLen: 1 };
          if (!m) return;
          const match = { ...m.match };
          if (ingress) match.sourceLabels = { app: 'ingress' };
          const name = action.name ?? (matches.length > 1 ? `${res.name}.${ri}.${mi}` : `${res.name}.${ri}`);
          for (const { blocks, rule: out } of segmentPrefixRules(match, m.segment, action, rewriteType(rule))) {
            if (!out.name) out.name = name;
            const hosted = hosts === null ? blocks : blocks.flatMap((b) => hosts!.map((h) => ({ ...b, authority: authorityOf(h) })));
            if (Object.keys(match).length || hosts !== null) out.match = hosted;
            list.push({
              res, rulePath: rp, matchPath: raw ? mp : null, match, pathRank: m.pathRank, prefixLen: m.prefixLen,
              method: !!match.method, headers: Object.keys(match.headers ?? {}).length, query: Object.keys(match.queryParams ?? {}).length,
              ruleIndex: ri, matchIndex: mi, rule: out,
            });
          }
        });
        res.cover([...rp, 'matches']);
        res.cover([...rp, 'backendRefs']);
        res.cover([...rp, 'filters']);
      });
    });
    res.cover(['spec', 'rules']);
  }
  for (const [groupKey, list] of groups) {
    const [scope, key] = groupKey.split('\0') as [string, string];
    list.sort(
      (a, b) =>
        a.pathRank - b.pathRank ||
        b.prefixLen - a.prefixLen ||
        Number(b.method) - Number(a.method) ||
        b.headers - a.headers ||
        b.query - a.query ||
        creation(a.res).localeCompare(creation(b.res)) ||
        `${a.res.namespace ?? ''}/${a.res.name}`.localeCompare(`${b.res.namespace ?? ''}/${b.res.name}`) ||
        a.ruleIndex - b.ruleIndex ||
        a.matchIndex - b.matchIndex,
    );
    const byRes = new Map<Resource, HttpRouteSpec[]>();
    const rules = list.map((c) => c.rule);
    const first = list[0];
    if (!first) continue;
    for (const c of list) byRes.set(c.res, [...(byRes.get(c.res) ?? []), c.rule]);
    const from = [...byRes.keys()].map((r) => `${r.kind} ${r.name}`).join(' + ');
    session.addRules(key, rules, from, first.res, scope === 'ingress');
    if (byRes.size > 1) for (const r of byRes.keys()) r.mapped(['spec', 'rules'], `merged with the other routes on ${key} in Gateway API precedence order`);
    else if (list.length > 1) first.res.mapped(['spec', 'rules'], 'one devmesh rule per match, ordered by Gateway API precedence (exact path, longest prefix, method, most headers, most query params)');
  }
  return gatewayServices;
}

export function translateGatewayApi(resources: Resource[], session: Session, flavor: 'gateway-api' | 'linkerd' = 'gateway-api'): void {
  const routes = resources.filter((r) => r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute');
  // Listener hostnames narrow the hosts of the routes attached to them.
  const gateways = new Map<string, Listener[]>();
  for (const res of resources.filter((r) => r.kind === 'Gateway')) {
    const listeners = GatewaySpec.safeParse(res.value.spec ?? {}).data?.listeners;
    if (listeners) gateways.set(res.name, listeners);
  }
  const gatewayServices = translateRoutes(routes, session, flavor, gateways);
  for (const res of resources.filter((r) => r.kind === 'Gateway')) {
    const spec = res.check(GatewaySpec, res.value.spec ?? {}, ['spec']);
    if (!spec) continue;
    const services = [...new Set(gatewayServices.get(res.name) ?? [])];
    const port = spec.listeners?.[0]?.port ?? null;
    if (services.length === 0) res.ignored(['spec'], 'no route in this import attaches to this Gateway');
    for (const service of services) {
      session.ingress.push({ service, port, from: `Gateway ${res.name}` });
      const has = session.hosts.local?.ingressServices.includes(service);
      res.approx(['spec', 'listeners'], has ? `ingress: the mesh file's ingress for ${service} plays this Gateway's role (its port is kept)` : `ingress: add "- { port: ${port ?? 0}, service: ${service} }" under ingress: in devmesh.yaml (a policy file cannot open listeners)`);
    }
    res.cover(['spec', 'gatewayClassName']);
  }
  for (const res of resources) {
    if (res.kind === 'HTTPRoute' || res.kind === 'GRPCRoute' || res.kind === 'Gateway') continue;
    res.ignored([], NOT_LOCAL[res.kind] ?? `${res.kind} is not a Gateway API kind devmesh imports`);
    res.cover(['spec']);
  }
  for (const r of resources) r.finish(['spec']);
}
