// Istio VirtualService → devmesh routes. The local route model is Istio's own http rule, so most fields
// map one to one; what changes is naming (hosts and subsets become local services and versions) and
// what a laptop does not have (ports, namespaces, gateways other than the local ingress).
import { z } from 'zod';
import type { HttpRouteSpec } from '../../config/mesh-schema.js';
import { devmeshDuration, getIn, type Path, type Resource, type Session } from '../context.js';
import { escapeRegex, failStringMatch, localDestination, segmentPrefixRules, splitRetryOn, stringMatch, withAuthorities, type Match, type RuleDestination } from '../route-helpers.js';

const Dest = z.looseObject({ host: z.string().min(1), subset: z.string().optional(), port: z.looseObject({ number: z.number().int().min(1).max(65535).optional() }).optional() });
const HeaderOps = z.looseObject({ set: z.record(z.string(), z.string()).optional(), add: z.record(z.string(), z.string()).optional(), remove: z.array(z.string()).optional() });
const Headers = z.looseObject({ request: HeaderOps.optional(), response: HeaderOps.optional() });
const Percent = z.looseObject({ value: z.number().min(0).max(100) });

export const HttpRuleSchema = z.looseObject({
  name: z.string().optional(),
  match: z.array(z.looseObject({})).optional(),
  route: z.array(z.looseObject({ destination: Dest.extend({ host: z.string().min(1).optional() }), weight: z.number().int().min(0).max(100).optional(), headers: Headers.optional() })).optional(),
  redirect: z.looseObject({ uri: z.string().optional(), prefixRewrite: z.string().optional(), authority: z.string().optional(), port: z.number().int().min(1).max(65535).optional(), derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(), scheme: z.string().optional(), redirectCode: z.number().int().optional() }).optional(),
  directResponse: z.looseObject({ status: z.number().int().min(200).max(599), body: z.looseObject({ string: z.string().optional(), bytes: z.string().optional() }).optional() }).optional(),
  delegate: z.looseObject({ name: z.string(), namespace: z.string().optional() }).optional(),
  rewrite: z.looseObject({ uri: z.string().optional(), authority: z.string().optional(), uriRegexRewrite: z.looseObject({ match: z.string(), rewrite: z.string() }).optional() }).optional(),
  timeout: z.string().optional(),
  retries: z.looseObject({ attempts: z.number().int().min(0).optional(), perTryTimeout: z.string().optional(), retryOn: z.string().optional(), retryRemoteLocalities: z.boolean().optional() }).optional(),
  fault: z
    .looseObject({
      delay: z.looseObject({ fixedDelay: z.string().optional(), percentage: Percent.optional(), percent: z.number().optional() }).optional(),
      abort: z.looseObject({ httpStatus: z.number().int().min(200).max(599).optional(), grpcStatus: z.string().optional(), percentage: Percent.optional() }).optional(),
    })
    .optional(),
  mirror: Dest.optional(),
  mirrorPercentage: Percent.optional(),
  mirrorPercent: z.number().optional(),
  mirrors: z.array(z.looseObject({ destination: Dest, percentage: Percent.optional() })).optional(),
  headers: Headers.optional(),
});

export const VirtualServiceSpec = z.looseObject({
  hosts: z.array(z.string()).optional(),
  gateways: z.array(z.string()).optional(),
  http: z.array(HttpRuleSchema).optional(),
});

export type HttpRuleIn = z.infer<typeof HttpRuleSchema>;

export interface VsContext {
  session: Session;
  /** service → subset name → labels, from the DestinationRules of this import. */
  subsets: Map<string, Map<string, Record<string, string>>>;
  /** Delegate VirtualServices by "namespace/name" and by name. */
  delegates: Map<string, { res: Resource; http: HttpRuleIn[] }>;
  /** Gateway name → services whose ingress rules it carries. */
  gatewayServices: Map<string, Set<string>>;
  /** Istio Gateway "namespace/name" (and name) → its namespace and the hosts of its HTTP servers. */
  gatewayServers: Map<string, { namespace: string | undefined; hosts: string[] }>;
}

/** A subset name → the local version key, via the DestinationRule's labels; reports how. */
export function subsetResolver(ctx: VsContext, res: Resource) {
  return (service: string, subset: string, path: Path): string | null | undefined => {
    const versions = ctx.session.hosts.versionsOf(service);
    const labels = ctx.subsets.get(service)?.get(subset);
    const wanted = labels?.version ?? subset;
    if (versions === null) return wanted; // no local mesh to check against
    if (versions.includes(wanted)) {
      if (!labels) res.mapped(path, `subset ${subset} → version ${wanted} of ${service} (no DestinationRule in this import defines it; matched by name)`);
      else if (wanted !== subset) res.mapped(path, `subset ${subset} (version=${wanted}) → version ${wanted} of ${service}`);
      return wanted;
    }
    if (versions.length === 0) {
      res.approx(path, `${service} has no versions locally: subset ${subset}${labels ? ` (${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(', ')})` : ''} routes to all its instances`);
      return undefined;
    }
    res.approx(path, `subset ${subset}${labels ? ` (labels ${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(', ')})` : ''} matches no local version of ${service} (${versions.join(', ')}): this destination is left out`);
    return null;
  };
}

const KNOWN_MATCH = new Set(['name', 'uri', 'method', 'authority', 'headers', 'withoutHeaders', 'queryParams', 'sourceLabels', 'port', 'gateways', 'ignoreUriCase', 'sourceNamespace', 'scheme', 'statPrefix']);

/** One match block; null when it can never match locally (so the block is left out). */
function translateMatch(ctx: VsContext, res: Resource, m: Record<string, unknown>, path: Path, meshBound: boolean): Match | null {
  const out: Match = {};
  if (typeof m.name === 'string') out.name = m.name;
  res.cover([...path, 'name']);
  for (const field of ['uri', 'method', 'authority'] as const) {
    if (m[field] === undefined) continue;
    const sm = stringMatch(m[field]);
    if (!sm || Object.keys(sm).length === 0) {
      failStringMatch(res, [...path, field], m[field], 'must be exactly one of exact, prefix, regex (a regex RE2 accepts)');
      return null;
    }
    out[field] = sm as never;
    res.cover([...path, field]);
  }
  for (const field of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    const v = m[field];
    if (v === undefined) continue;
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      res.fail([...path, field], 'must be a map of name → string match');
      return null;
    }
    const entries: [string, NonNullable<Match['headers']>[string]][] = [];
    for (const [k, raw] of Object.entries(v)) {
      const sm = stringMatch(raw);
      if (!sm) {
        failStringMatch(res, [...path, field, k], raw, 'must be exactly one of exact, prefix, regex (a regex RE2 accepts), or {} for presence');
        return null;
      }
      entries.push([field === 'queryParams' ? k : k.toLowerCase(), sm]);
    }
    out[field] = Object.fromEntries(entries);
    res.cover([...path, field]);
  }
  if (m.sourceLabels !== undefined) {
    const labels = (m.sourceLabels ?? {}) as Record<string, string>;
    const sl: NonNullable<Match['sourceLabels']> = {};
    if (labels.app === 'ingress') sl.app = 'ingress'; // devmesh's own name for the ingress
    else if (labels.app !== undefined) {
      const t = ctx.session.hosts.resolve(String(labels.app));
      if (!t || t.kind !== 'service') {
        res.approx([...path, 'sourceLabels'], `app=${labels.app} is no local service: this match block can never match locally and is left out`);
        return null;
      }
      sl.app = t.service;
    }
    if (labels.version !== undefined) sl.version = String(labels.version);
    const others = Object.keys(labels).filter((k) => k !== 'app' && k !== 'version');
    if (others.length) res.approx([...path, 'sourceLabels'], `labels ${others.join(', ')} have no local meaning: only app and version are matched`);
    else res.cover([...path, 'sourceLabels']);
    if (sl.app !== undefined || sl.version !== undefined) out.sourceLabels = sl;
  }
  if (m.port !== undefined) res.approx([...path, 'port'], `devmesh services listen on one port: the port ${String(m.port)} condition is dropped, so this block matches on every port`);
  if (m.ignoreUriCase === true) res.approx([...path, 'ignoreUriCase'], 'uri is matched case-sensitively locally');
  else res.cover([...path, 'ignoreUriCase']);
  if (m.sourceNamespace !== undefined) res.approx([...path, 'sourceNamespace'], 'devmesh has one namespace: the condition is dropped');
  if (m.scheme !== undefined) res.approx([...path, 'scheme'], 'sidecar-to-app traffic is plain HTTP locally: the scheme condition is dropped');
  if (m.statPrefix !== undefined) res.ignored([...path, 'statPrefix'], 'stat prefixes are an Envoy metrics detail');
  if (Array.isArray(m.gateways)) {
    const gws = m.gateways as string[];
    if (!gws.includes('mesh')) {
      out.sourceLabels = { ...(out.sourceLabels ?? {}), app: 'ingress' };
      res.approx([...path, 'gateways'], `applies only at gateways ${gws.join(', ')}: matched for traffic from the local ingress`);
    } else res.cover([...path, 'gateways']);
  } else if (!meshBound) {
    out.sourceLabels = { ...(out.sourceLabels ?? {}), app: 'ingress' };
  }
  for (const k of Object.keys(m)) if (!KNOWN_MATCH.has(k)) res.ignored([...path, k], 'unknown match field');
  return out;
}

function headerOps(v: unknown): NonNullable<HttpRouteSpec['headers']> | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const out: NonNullable<HttpRouteSpec['headers']> = {};
  for (const side of ['request', 'response'] as const) {
    const ops = (v as Record<string, Record<string, unknown> | undefined>)[side];
    if (!ops) continue;
    const o: Record<string, unknown> = {};
    if (ops.set) o.set = ops.set;
    if (ops.add) o.add = ops.add;
    if (ops.remove) o.remove = ops.remove;
    if (Object.keys(o).length) out[side] = o;
  }
  return Object.keys(out).length ? out : undefined;
}

/** One http rule of `service`'s VirtualService; null when nothing of it can apply locally. */
export function translateHttpRule(ctx: VsContext, res: Resource, service: string, rule: HttpRuleIn, path: Path, meshBound: boolean): HttpRouteSpec | null {
  const out: HttpRouteSpec = {};
  const resolveSubset = subsetResolver(ctx, res);
  if (rule.name !== undefined) out.name = rule.name;
  res.cover([...path, 'name']);
  // match
  if (rule.match && rule.match.length > 0) {
    const blocks: Match[] = [];
    rule.match.forEach((m, j) => {
      const b = translateMatch(ctx, res, m, [...path, 'match', j], meshBound);
      if (b) blocks.push(b);
    });
    if (res.invalid) return null;
    if (blocks.length === 0) {
      res.approx([...path, 'match'], 'no match block can match locally: the rule is left out');
      return null;
    }
    out.match = blocks;
    res.cover([...path, 'match']);
  } else if (!meshBound) {
    out.match = [{ sourceLabels: { app: 'ingress' } }];
  }
  // actions
  if (rule.route) {
    const dests: RuleDestination[] = [];
    let dropped = 0;
    // Under gateway route semantics a destination Envoy has no cluster for is answered with 500
    // (route.go, applyHTTPRouteDestination: ClusterNotFoundResponseCode INTERNAL_SERVER_ERROR); Istio
    // writes a backend it refuses as a destination without host.
    const gatewaySemantics = isGatewaySemantics(res);
    rule.route.forEach((d, k) => {
      const p = [...path, 'route', k];
      const host = d.destination.host;
      if (host === undefined) {
        if (!gatewaySemantics) return res.fail([...p, 'destination', 'host'], 'required: the destination service');
        res.approx([...p, 'destination'], 'no host (a backend Istio refused): Istio answers its share with 500; locally it is left out');
        dropped++;
        return;
      }
      const local = localDestination(ctx.session, res, [...p, 'destination'], host, d.destination.subset, resolveSubset);
      if (!local) {
        dropped++;
        return;
      }
      const dest: RuleDestination = { destination: { host: local.host, ...(local.subset ? { subset: local.subset } : {}) } };
      if (d.destination.port?.number !== undefined) res.approx([...p, 'destination', 'port'], `devmesh services listen on one port: port ${d.destination.port.number} is not needed`);
      if (d.weight !== undefined) dest.weight = d.weight;
      const h = headerOps(d.headers);
      if (h) dest.headers = h;
      res.cover(p);
      dests.push(dest);
    });
    if (res.invalid) return null;
    if (dests.length === 0 && gatewaySemantics) {
      out.directResponse = { status: 500 };
      res.approx([...path, 'route'], 'no destination maps to a local service: answered with 500, as Istio does under gateway route semantics');
    } else if (dests.length === 0) {
      res.approx([...path, 'route'], 'no destination maps to a local service: the rule is left out');
      return null;
    }
    if (dropped > 0 && dests.length > 1) {
      const sum = dests.reduce((a, d) => a + (d.weight ?? 0), 0);
      if (sum > 0 && sum !== 100) {
        let left = 100;
        dests.forEach((d, i) => {
          d.weight = i === dests.length - 1 ? left : Math.round(((d.weight ?? 0) * 100) / sum);
          left -= d.weight;
        });
        res.approx([...path, 'route'], 'weights of the remaining destinations rescaled to add up to 100');
      }
    }
    if (dests.length === 1 && dropped > 0) delete dests[0]!.weight;
    if (dests.length) out.route = dests;
  } else if (rule.redirect) {
    const r = rule.redirect;
    const red: NonNullable<HttpRouteSpec['redirect']> = {};
    if (r.uri !== undefined) red.uri = r.uri;
    // prefixRewrite (HTTPRedirect; Istio writes it for Gateway API's ReplacePrefixMatch): Envoy's
    // prefix_rewrite, as route.go ApplyRedirect sets it. With uri as well, Istio takes prefixRewrite.
    if (r.prefixRewrite !== undefined) {
      red.prefixRewrite = r.prefixRewrite;
      if (r.uri !== undefined) {
        delete red.uri;
        res.approx([...path, 'redirect', 'uri'], 'prefixRewrite is set too, and Istio uses it: uri is dropped');
      }
    }
    if (r.authority !== undefined) red.authority = r.authority;
    if (r.port !== undefined) red.port = r.port;
    if (r.scheme === 'http' || r.scheme === 'https') red.scheme = r.scheme;
    else if (r.scheme !== undefined) res.approx([...path, 'redirect', 'scheme'], `scheme ${r.scheme} is not http or https: dropped`);
    // derivePort (Istio HTTPRedirect): FROM_PROTOCOL_DEFAULT is the scheme's port (80, or 443 for https; the
    // local ingress is plain HTTP, so 80 when no scheme is set); FROM_REQUEST_PORT keeps the request's port,
    // which a redirect without a port does.
    if (r.derivePort === 'FROM_PROTOCOL_DEFAULT' && r.port === undefined) red.port = red.scheme === 'https' ? 443 : 80;
    if (r.redirectCode !== undefined) {
      if (r.redirectCode >= 300 && r.redirectCode <= 399) red.redirectCode = r.redirectCode;
      else res.fail([...path, 'redirect', 'redirectCode'], 'must be a 3xx status');
    }
    for (const k of Object.keys(r)) if (!['uri', 'prefixRewrite', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode'].includes(k)) res.ignored([...path, 'redirect', k], 'not supported by the local sidecar');
    res.cover([...path, 'redirect']);
    out.redirect = red;
  } else if (rule.directResponse) {
    const d = rule.directResponse;
    out.directResponse = { status: d.status };
    if (d.body?.string !== undefined) out.directResponse.body = { string: d.body.string };
    else if (d.body?.bytes !== undefined) {
      out.directResponse.body = { string: Buffer.from(d.body.bytes, 'base64').toString('utf8') };
      res.approx([...path, 'directResponse', 'body', 'bytes'], 'bytes decoded to a UTF-8 string body');
    }
    res.cover([...path, 'directResponse']);
  } else if (rule.delegate) {
    return null; // expanded by the caller
  } else {
    res.fail(path, 'needs one of route, redirect, directResponse, delegate');
    return null;
  }
  if (rule.rewrite) {
    const rw: NonNullable<HttpRouteSpec['rewrite']> = {};
    if (rule.rewrite.uri !== undefined) rw.uri = rule.rewrite.uri;
    if (rule.rewrite.authority !== undefined) rw.authority = rule.rewrite.authority;
    const full = fullPathRewrite(rule);
    // Istio uses uriRegexRewrite before uri (route.go, applyHTTPRouteDestination).
    if (full !== undefined) {
      rw.uri = full;
      res.mapped([...path, 'rewrite', 'uriRegexRewrite'], `a regex that takes the whole path: the path becomes ${full}`);
    }
    for (const k of Object.keys(rule.rewrite)) if (k !== 'uri' && k !== 'authority' && !(k === 'uriRegexRewrite' && full !== undefined)) res.ignored([...path, 'rewrite', k], 'regex rewrites are not supported by the local sidecar');
    res.cover([...path, 'rewrite', 'uri']);
    res.cover([...path, 'rewrite', 'authority']);
    if (Object.keys(rw).length) out.rewrite = rw;
  }
  const h = headerOps(rule.headers);
  if (h) {
    out.headers = h;
    res.cover([...path, 'headers']);
  }
  // mirror
  // mirror: devmesh mirrors to one destination, the first that maps to a local one (as the Gateway API
  // importer keeps the first RequestMirror that does).
  const mirrorsIn = rule.mirror ? [{ destination: rule.mirror, percentage: rule.mirrorPercentage, path: [...path, 'mirror'] }] : (rule.mirrors ?? []).map((m, i) => ({ ...m, path: [...path, 'mirrors', i] }));
  for (const mirrorIn of mirrorsIn) {
    const mp = rule.mirror ? mirrorIn.path : [...mirrorIn.path, 'destination'];
    const m = localDestination(ctx.session, res, mp, mirrorIn.destination.host, mirrorIn.destination.subset, resolveSubset);
    if (!m) continue;
    out.mirror = { host: m.host, ...(m.subset ? { subset: m.subset } : {}) };
    res.cover(mp);
    const pct = mirrorIn.percentage;
    if (pct) {
      out.mirrorPercentage = { value: pct.value };
      res.cover(rule.mirror ? [...path, 'mirrorPercentage'] : [...mirrorIn.path, 'percentage']);
    } else if (rule.mirror && rule.mirrorPercent !== undefined) {
      out.mirrorPercentage = { value: rule.mirrorPercent };
      res.mapped([...path, 'mirrorPercent'], 'deprecated mirrorPercent → mirrorPercentage');
    }
    if (mirrorsIn.length > 1) res.approx([...path, 'mirrors'], `devmesh mirrors to one destination: only ${m.host} is kept`);
    break;
  }
  // fault
  if (rule.fault) {
    const f: NonNullable<HttpRouteSpec['fault']> = {};
    const d = rule.fault.delay;
    if (d) {
      const fixed = devmeshDuration(d.fixedDelay);
      if (fixed === null) res.approx([...path, 'fault', 'delay'], 'only fixedDelay is supported: the delay is dropped');
      else {
        f.delay = { fixedDelay: fixed };
        if (d.percentage) f.delay.percentage = { value: d.percentage.value };
        else if (d.percent !== undefined) {
          f.delay.percentage = { value: d.percent };
          res.mapped([...path, 'fault', 'delay', 'percent'], 'deprecated percent → percentage');
        }
        res.cover([...path, 'fault', 'delay', 'fixedDelay']);
        res.cover([...path, 'fault', 'delay', 'percentage']);
      }
    }
    const a = rule.fault.abort;
    if (a) {
      if ((a.httpStatus === undefined) === (a.grpcStatus === undefined)) res.approx([...path, 'fault', 'abort'], 'needs exactly one of httpStatus, grpcStatus locally: the abort is dropped');
      else {
        f.abort = a.httpStatus !== undefined ? { httpStatus: a.httpStatus } : { grpcStatus: a.grpcStatus! };
        if (a.percentage) f.abort.percentage = { value: a.percentage.value };
        res.cover([...path, 'fault', 'abort', 'httpStatus']);
        res.cover([...path, 'fault', 'abort', 'grpcStatus']);
        res.cover([...path, 'fault', 'abort', 'percentage']);
      }
    }
    if (f.delay || f.abort) out.fault = f;
  }
  // retries and timeout
  if (rule.retries) {
    const r = rule.retries;
    out.retries = { attempts: Math.min(r.attempts ?? 0, 20) };
    if ((r.attempts ?? 0) > 20) res.approx([...path, 'retries', 'attempts'], `devmesh allows at most 20 attempts: ${r.attempts} → 20`);
    else res.cover([...path, 'retries', 'attempts']);
    if (r.perTryTimeout !== undefined) {
      const d = devmeshDuration(r.perTryTimeout);
      if (d === null) res.fail([...path, 'retries', 'perTryTimeout'], `invalid duration "${r.perTryTimeout}"`);
      else out.retries.perTryTimeout = d;
    }
    if (r.retryOn !== undefined) {
      const { kept, dropped } = splitRetryOn(r.retryOn);
      if (kept.length) out.retries.retryOn = kept.join(',');
      if (dropped.length) res.approx([...path, 'retries', 'retryOn'], `${dropped.join(', ')} not supported locally: retrying on ${kept.join(',') || 'the default conditions'}`);
      else res.cover([...path, 'retries', 'retryOn']);
    }
    if (r.retryRemoteLocalities !== undefined) out.retries.retryRemoteLocalities = r.retryRemoteLocalities;
    res.cover([...path, 'retries', 'retryRemoteLocalities']);
  }
  if (rule.timeout !== undefined) {
    const ms = devmeshDuration(rule.timeout);
    if (ms === null) res.fail([...path, 'timeout'], `invalid duration "${rule.timeout}"`);
    else if (/^0(\.0+)?(ms|s|m|h)?$/.test(ms)) res.mapped([...path, 'timeout'], 'a zero timeout disables it, as no timeout does locally');
    else {
      out.timeout = ms;
      res.cover([...path, 'timeout']);
    }
  }
  if (getIn(rule, ['corsPolicy']) !== undefined) res.ignored([...path, 'corsPolicy'], 'the local sidecar does not answer CORS preflights; the app\'s own CORS headers apply');
  return out;
}

/** Expands `delegate` rules of a root VirtualService: the parent's match ANDs into each child rule's. */
export function expandDelegate(ctx: VsContext, res: Resource, rule: HttpRuleIn, path: Path): { rules: HttpRuleIn[]; child: Resource } | null {
  const d = rule.delegate!;
  const key = d.namespace ? `${d.namespace}/${d.name}` : d.name;
  const child = ctx.delegates.get(key) ?? ctx.delegates.get(d.name);
  if (!child) {
    res.approx([...path, 'delegate'], `delegate VirtualService ${key} is not in this import: the rule is left out`);
    return null;
  }
  res.mapped([...path, 'delegate'], `rules of delegate ${key} inlined here, each ANDed with this rule's match`);
  const parents = rule.match && rule.match.length ? rule.match : [{}];
  const rules = child.http.map((c) => {
    const kids = c.match && c.match.length ? c.match : [{}];
    const merged = parents.flatMap((p) =>
      kids.map((k) => {
        const m: Record<string, unknown> = { ...p, ...k };
        for (const f of ['headers', 'withoutHeaders', 'queryParams', 'sourceLabels']) {
          const a = (p as Record<string, unknown>)[f];
          const b = (k as Record<string, unknown>)[f];
          if (a || b) m[f] = { ...((a as object) ?? {}), ...((b as object) ?? {}) };
        }
        return m;
      }),
    );
    return { ...c, match: merged.some((m) => Object.keys(m).length) ? merged : undefined } as HttpRuleIn;
  });
  return { rules, child: child.res };
}

/**
 * The path of a `uriRegexRewrite` whose regex takes the whole path (`/.*`, as Istio writes Gateway API's
 * ReplaceFullPath: pilot/pkg/config/kube/gateway/conversion.go, createRewriteFilter) into a replacement
 * without capture groups: a full-path rewrite. undefined for any other rewrite.
 */
export function fullPathRewrite(rule: HttpRuleIn): string | undefined {
  const r = rule.rewrite?.uriRegexRewrite;
  return r && /^\^?\/\.\*\$?$/.test(r.match) && !/\\\d/.test(r.rewrite) ? r.rewrite : undefined;
}

/** Istio's annotation for a VirtualService it wrote from Gateway API routes (pkg/config/constants: InternalRouteSemantics). */
const ROUTE_SEMANTICS = 'internal.istio.io/route-semantics';

/** Whether Istio runs this VirtualService with gateway route semantics (pilot/pkg/model/virtualservice.go, UseGatewaySemantics). */
export function isGatewaySemantics(res: Resource): boolean {
  return (res.value.metadata as { annotations?: Record<string, unknown> } | undefined)?.annotations?.[ROUTE_SEMANTICS] === 'gateway';
}

/**
 * One translated http rule as Istio runs it, in devmesh rules. Under gateway route semantics (the
 * `internal.istio.io/route-semantics: gateway` annotation) a uri `prefix` other than "/" is a
 * path-separated prefix, its trailing slash trimmed (istio/istio pilot/pkg/networking/core/route/route.go,
 * translateRouteMatch: `RouteMatch_PathSeparatedPrefix` when UseIngressSemantics or UseGatewaySemantics),
 * and a rewrite (or redirect prefixRewrite) replaces that prefix segment-wise (route.go: a rewrite uri "/"
 * strips it with `^prefix(/?)(.*)` → `/\2`; another is Envoy's prefix_rewrite of the segment): the same
 * blocks and rules the Gateway API importer writes for a PathPrefix. `hosts` (a gateway-bound
 * VirtualService's virtual-host domains; null for any) become an authority condition on every block.
 */
export function asIstioRuns(res: Resource, rule: HttpRouteSpec, path: Path, gatewaySemantics: boolean, hosts: string[] | null, fullPath: boolean): HttpRouteSpec[] {
  // Under gateway semantics Istio writes Gateway API's PathPrefix "/" as prefix "/", which every path has.
  const blocks = (rule.match ?? []).map((b) => {
    if (!gatewaySemantics || !b.uri || !('prefix' in b.uri) || b.uri.prefix !== '/') return b;
    const { uri: _, ...rest } = b;
    return rest;
  });
  const prefixOf = (b: Match) => (b.uri && 'prefix' in b.uri && b.uri.prefix !== '/' ? b.uri.prefix : undefined);
  let parts: { blocks: Match[]; rule: HttpRouteSpec }[] = [{ blocks, rule }];
  if (gatewaySemantics && blocks.some((b) => prefixOf(b) !== undefined)) {
    // Blocks OR: a rule with several is the same as one rule per block, in order, with the same action.
    const each = blocks.map((b) => {
      const prefix = prefixOf(b);
      return segmentPrefixRules(b, prefix === undefined ? undefined : prefix.replace(/\/$/, ''), rule, fullPath ? 'ReplaceFullPath' : 'ReplacePrefixMatch');
    });
    parts = each.every((p) => p.length === 1) ? [{ blocks: each.flatMap((p) => p[0]!.blocks), rule }] : each.flat();
    res.mapped([...path, 'match'], 'uri prefix under gateway route semantics: whole path segments (the exact path, or under it with a slash)');
  } else if (fullPath && blocks.some((b) => prefixOf(b) !== undefined)) {
    // The local rewrite replaces the prefix of a prefix block: a regex block rewrites the whole path.
    parts = [{ blocks: blocks.map((b) => (prefixOf(b) === undefined ? b : { ...b, uri: { regex: `^${escapeRegex(prefixOf(b)!)}.*` } })), rule }];
  }
  if (hosts !== null && blocks.some((b) => b.authority !== undefined)) {
    res.approx([...path, 'match'], 'a block with its own authority condition: the VirtualService\'s hosts are not added to it (Istio requires both)');
  }
  // A rule per host, so that rules can be ordered by host (istio.ts: the most specific host first).
  return parts.flatMap(({ blocks: bs, rule: r }) => {
    const own = bs.filter((b) => b.authority !== undefined);
    const rest = bs.filter((b) => b.authority === undefined);
    const out = (match: Match[]) => {
      const x = structuredClone(r);
      if (match.length) x.match = match;
      else delete x.match;
      return x;
    };
    if (hosts === null) return [out(bs)];
    return [...(rest.length ? hosts.map((h) => out(withAuthorities(rest, [h]))) : []), ...(own.length ? [out(own)] : [])];
  });
}
