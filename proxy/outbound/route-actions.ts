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

/**
 * Envoy's RedirectAction: a redirect keeps the request's authority, port included, unless the rule sets the
 * host (then its port goes too, as Envoy's host_redirect does), sets or derives a port, or changes the scheme
 * of a request that came on its scheme's default port. A port the rule sets or derives is left out of the
 * Location when it is the default of the Location's scheme (as Istio writes its RedirectAction).
 */
function redirect(ex: Exchange, route: CompiledRoute): void {
  const r = route.redirect!;
  const rr = ex.rr;
  // The sidecar's listeners speak plain HTTP (h2c): that is the scheme of every request it redirects.
  const requestScheme = 'http';
  const scheme = r.scheme ?? requestScheme;
  const request = splitHostPort(hostOf(ex) || rr.authority);
  let port: string | null;
  let derived = true;
  if (r.port !== undefined) port = String(r.port);
  else if (r.derivePort === 'protocol') port = null;
  else if (r.derivePort === 'request') port = request.port ?? DEFAULT_PORTS[requestScheme];
  else {
    derived = false;
    if (r.authority !== undefined) port = null;
    else if (scheme !== requestScheme && request.port === DEFAULT_PORTS[requestScheme]) port = null;
    else port = request.port;
  }
  // A rule's authority with a port of its own keeps it unless the rule sets or derives one.
  const host = r.authority !== undefined ? (derived ? splitHostPort(r.authority).host : r.authority) : request.host;
  if (derived && port === DEFAULT_PORTS[scheme]) port = null;
  const query = rr.query === '' ? '' : `?${rr.query}`;
  const uri = r.uri ?? (r.prefixRewrite !== undefined ? replacePrefix(ex, route, r.prefixRewrite) + query : rr.path + query);
  const headers: OutgoingHttpHeaders = {
    location: `${scheme}://${host}${port !== null ? `:${port}` : ''}${uri}`,
    'content-length': 0,
    [PROXY_ERROR_HEADER]: 'redirect',
    [ROUTE_HEADER]: route.label,
  };
  applyResponseOps(headers, route.headers?.response);
  ex.res.writeHead(r.code, headers);
  ex.res.end();
}

const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' };

/** The path with the prefix the rule's block matched replaced (the whole path when it matched otherwise). */
function replacePrefix(ex: Exchange, route: CompiledRoute, replacement: string): string {
  const prefix = ex.block >= 0 ? route.blockPrefixes[ex.block] : null;
  const path = prefix != null ? replacement + ex.rr.path.slice(prefix.length) : replacement;
  return path === '' || path[0] !== '/' ? `/${path}` : path;
}

/** The request's Host (or :authority) as sent, port included. */
function hostOf(ex: Exchange): string {
  const h = ex.req.headers[':authority'] ?? ex.req.headers.host;
  return typeof h === 'string' ? h : Array.isArray(h) ? (h[0] ?? '') : '';
}

/** "example.org:8080" → { host: "example.org", port: "8080" }; "[::1]:80" → { host: "[::1]", port: "80" }. */
export function splitHostPort(authority: string): { host: string; port: string | null } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (m === null) return { host: authority, port: null };
  return { host: m[1]!, port: m[2] !== undefined && m[2] !== '' ? m[2] : null };
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
