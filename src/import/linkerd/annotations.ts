// Linkerd's retry and timeout annotations on HTTPRoutes (and Services): retry.linkerd.io/http, /grpc,
// /limit, /timeout and timeout.linkerd.io/request, /response, /idle.
import type { HttpRouteSpec } from '../../config/mesh-schema.js';
import { LINKERD_ANNOTATION_RETRY_LIMIT } from '../../mesh-semantics/defaults.js';
import { devmeshDuration, parseDurationMs, type Resource } from '../context.js';

export function annotationsOf(value: Record<string, unknown>): Record<string, string> {
  const a = (value.metadata as { annotations?: unknown } | undefined)?.annotations;
  return a && typeof a === 'object' ? (a as Record<string, string>) : {};
}

export function isLinkerdAnnotated(value: Record<string, unknown>): boolean {
  return Object.keys(annotationsOf(value)).some((k) => k.startsWith('retry.linkerd.io/') || k.startsWith('timeout.linkerd.io/'));
}

/** Retry and timeout defaults the annotations give every rule of the route; reports each annotation. */
export function linkerdRouteAnnotations(res: Resource): Partial<HttpRouteSpec> {
  const a = annotationsOf(res.value);
  const p = (k: string) => ['metadata', 'annotations', k];
  const out: Partial<HttpRouteSpec> = {};
  const conditions: string[] = [];
  const http = a['retry.linkerd.io/http'];
  if (http !== undefined) {
    for (const c of String(http).split(',').map((s) => s.trim()).filter(Boolean)) {
      if (c === '5xx' || c === 'gateway-error') conditions.push(c);
      else if (/^\d{3}$/.test(c)) conditions.push(c);
      else if (/^(\d{3})-(\d{3})$/.test(c)) {
        const [lo, hi] = c.split('-').map(Number) as [number, number];
        for (let s = lo; s <= hi && s - lo < 100; s++) conditions.push(String(s));
      } else res.approx(p('retry.linkerd.io/http'), `condition ${c} is not understood: dropped`);
    }
    res.mapped(p('retry.linkerd.io/http'), `retryOn ${conditions.join(',')}`);
  }
  const grpc = a['retry.linkerd.io/grpc'];
  if (grpc !== undefined) {
    for (const c of String(grpc).split(',').map((s) => s.trim())) if (['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'].includes(c)) conditions.push(c);
    res.mapped(p('retry.linkerd.io/grpc'), 'retryOn gRPC statuses');
  }
  if (conditions.length) {
    const limit = a['retry.linkerd.io/limit'] !== undefined ? Number(a['retry.linkerd.io/limit']) : LINKERD_ANNOTATION_RETRY_LIMIT;
    if (!Number.isInteger(limit) || limit < 0) res.fail(p('retry.linkerd.io/limit'), 'must be a whole number');
    else {
      out.retries = { attempts: Math.min(limit, 20), retryOn: conditions.join(',') };
      res.mapped(p('retry.linkerd.io/limit'), `attempts ${limit}${a['retry.linkerd.io/limit'] === undefined ? " (Linkerd's default)" : ''}`);
    }
    const t = a['retry.linkerd.io/timeout'];
    if (t !== undefined && out.retries) {
      const d = devmeshDuration(t);
      if (d) {
        out.retries.perTryTimeout = d;
        res.mapped(p('retry.linkerd.io/timeout'), `perTryTimeout ${d}`);
      } else res.fail(p('retry.linkerd.io/timeout'), `invalid duration "${t}"`);
    }
  } else for (const k of ['retry.linkerd.io/limit', 'retry.linkerd.io/timeout']) if (a[k] !== undefined) res.ignored(p(k), 'no retry condition annotation: Linkerd does not retry');
  const req = a['timeout.linkerd.io/request'];
  const resp = a['timeout.linkerd.io/response'];
  const reqMs = req !== undefined ? parseDurationMs(req) : null;
  const respMs = resp !== undefined ? parseDurationMs(resp) : null;
  if (req !== undefined && reqMs === null) res.fail(p('timeout.linkerd.io/request'), `invalid duration "${req}"`);
  if (resp !== undefined && respMs === null) res.fail(p('timeout.linkerd.io/response'), `invalid duration "${resp}"`);
  if (reqMs) {
    out.timeout = devmeshDuration(req)!;
    res.mapped(p('timeout.linkerd.io/request'), `timeout ${out.timeout}`);
  }
  if (respMs) {
    if (out.retries) {
      out.retries.perTryTimeout ??= devmeshDuration(resp)!;
      res.approx(p('timeout.linkerd.io/response'), `per-try timeout ${out.retries.perTryTimeout}: devmesh measures it to the end of the response, Linkerd to its headers`);
    } else if (!reqMs || respMs < reqMs) {
      out.timeout = devmeshDuration(resp)!;
      res.approx(p('timeout.linkerd.io/response'), `one attempt, so the shorter response timeout bounds the whole request: timeout ${out.timeout} (Linkerd measures it to the response headers)`);
    } else res.mapped(p('timeout.linkerd.io/response'), 'not shorter than the request timeout');
  }
  if (a['timeout.linkerd.io/idle'] !== undefined) res.ignored(p('timeout.linkerd.io/idle'), 'idle stream timeouts are not applied locally');
  return out;
}
