// What a matched rule does to the request by itself: answer it (direct response, redirect; the app never
// sees it), or change what the upstream sees (rewrite of the path and the authority).
import type { OutgoingHttpHeaders } from 'node:http';
import { PROXY_ERROR_HEADER, ROUTE_HEADER } from '../protocol/index.js';
import type { CompiledRoute } from './balancer.js';
import type { Exchange } from './exchange.js';
import { applyRequestOps, applyResponseOps } from './header-ops.js';

/** The rule answers itself (directResponse or redirect): returns true when it did. */
export function answerByRule(ex: Exchange, route: CompiledRoute): boolean {
  if (route.directResponse !== undefined) {
    directResponse(ex, route);
    return true;
  }
  if (route.redirect !== undefined) {
    redirect(ex, route);
    return true;
  }
  return false;
}

function directResponse(ex: Exchange, route: CompiledRoute): void {
  const d = route.directResponse!;
  const body = d.body ?? '';
  const headers: OutgoingHttpHeaders = { 'content-length': Buffer.byteLength(body), [PROXY_ERROR_HEADER]: 'direct-response', [ROUTE_HEADER]: route.label };
  if (body !== '') headers['content-type'] = 'text/plain; charset=utf-8';
  applyResponseOps(headers, route.headers?.response);
  ex.res.writeHead(d.status, headers);
  ex.res.end(body);
}

/** A redirect keeps the request's authority, port included, unless the rule sets scheme, host or port. */
function redirect(ex: Exchange, route: CompiledRoute): void {
  const r = route.redirect!;
  const rr = ex.rr;
  const scheme = r.scheme ?? 'http';
  const host = r.authority ?? rr.authority;
  const port = r.port !== undefined ? `:${r.port}` : '';
  const uri = r.uri ?? (rr.query === '' ? rr.path : `${rr.path}?${rr.query}`);
  const headers: OutgoingHttpHeaders = {
    location: `${scheme}://${host}${port}${uri}`,
    'content-length': 0,
    [PROXY_ERROR_HEADER]: 'redirect',
    [ROUTE_HEADER]: route.label,
  };
  applyResponseOps(headers, route.headers?.response);
  ex.res.writeHead(r.code, headers);
  ex.res.end();
}

/**
 * The rewrite: `uri` replaces the matched prefix when the block matched on a uri prefix, else the whole path
 * (the query string is kept); `authority` replaces the Host. Sets ex.path and ex.upstreamPath.
 */
export function rewrite(ex: Exchange, route: CompiledRoute): void {
  let path = ex.target;
  const rw = route.rewrite;
  if (rw !== undefined) {
    if (rw.uri !== undefined) {
      const prefix = ex.block >= 0 ? route.blockPrefixes[ex.block] : null;
      const q = path.indexOf('?');
      const query = q === -1 ? '' : path.slice(q);
      path = (prefix != null ? rw.uri + ex.rr.path.slice(prefix.length) : rw.uri) + query;
      if (path === '' || path[0] !== '/') path = '/' + path;
    }
    if (rw.authority !== undefined) ex.headers = applyRequestOps(ex.headers, { set: { host: rw.authority } });
  }
  ex.path = path;
  ex.upstreamPath = path;
}
