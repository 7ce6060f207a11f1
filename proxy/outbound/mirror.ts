// A fire-and-forget copy of the request to the mirror destination, its response discarded, its span tagged
// shadow and a child of the request's client span. It is a real request to that destination (as in Envoy):
// it passes the destination's circuit breaker (when that sheds, the copy is dropped, never queued), and
// outlier detection sees its answer. The body is a live copy of the request's; a body past the buffer limit
// is not mirrored, and a copy whose source fails (the client went away) is aborted with it.
import type { Readable } from 'node:stream';
import { classifyTransportError } from '../errors.js';
import type { ProxyContext } from '../proxy-context.js';
import { formatTraceparent } from '../tracing/trace-context.js';
import type { CompiledDestination } from './balancer.js';
import type { UpstreamEndpoint } from './endpoint-set.js';
import type { Exchange, Upstream } from './exchange.js';
import { applyRequestOps } from './header-ops.js';
import { discard } from './attempts.js';
import { ClientSpan } from './client-span.js';
import { splitHostPort } from './route-actions.js';

/** Sends the copy when the body allows it; returns whether the request was mirrored. */
export function mirror(ctx: ProxyContext, ex: Exchange, destination: CompiledDestination): boolean {
  const copy = ex.tee !== null ? ex.tee.copy() : null;
  if (ex.body !== null && copy === null) return false;
  new ShadowRequest(ctx, ex, destination).send(copy, copy !== null ? ex.tee!.signal : undefined);
  return true;
}

class ShadowRequest {
  private readonly span: ClientSpan;
  private endpoint: UpstreamEndpoint | undefined;

  constructor(
    ctx: ProxyContext,
    private readonly ex: Exchange,
    private readonly destination: CompiledDestination,
  ) {
    this.span = new ClientSpan(ctx, {
      traceId: ex.traceId,
      parentSpanId: ex.spanId,
      flags: ex.flags,
      peerService: destination.service,
      method: ex.method,
      path: ex.path,
      attributes: { shadow: true, mtls: destination.tls },
    });
    if (destination.subset !== undefined) this.span.attributes.subset = destination.subset;
  }

  send(body: Readable | null, signal: AbortSignal | undefined): void {
    const { ex, destination } = this;
    const set = destination.set;
    const admission = set.admit();
    if (!admission.ok) {
      this.span.attributes['error.detail'] = `circuit breaker of ${destination.service}: ${admission.reason}`;
      this.span.end(0, 'overflow', 0);
      return;
    }
    const endpoint = (this.endpoint = set.pick(null, null));
    if (endpoint === undefined) {
      this.span.end(0, 'no-endpoints', 0);
      return;
    }
    this.span.attributes.endpoint = endpoint.instanceId;
    // Envoy marks a shadow by suffixing the host of the authority the upstream sees (after a rewrite) with
    // "-shadow", before its port: shop:8080 → shop-shadow:8080.
    const { host, port } = splitHostPort(upstreamHost(ex.headers) ?? ex.rr.authority);
    const authority = `${host || destination.service}-shadow${port !== null ? `:${port}` : ''}`;
    const headers = applyRequestOps(ex.headers, { set: { host: authority, traceparent: formatTraceparent(ex.traceId, this.span.spanId, ex.flags), 'x-b3-spanid': this.span.spanId, 'x-b3-parentspanid': ex.spanId } });
    const sent: Promise<Upstream> =
      endpoint.h2 !== null
        ? endpoint.h2.request(ex.method, ex.path, authority, headers, body, signal)
        : endpoint.pool.request({ path: ex.path, method: ex.method, headers, body, ...(signal !== undefined ? { signal } : {}) });
    set.active++;
    endpoint.health.active++;
    sent.then(
      (response) => {
        this.done(response.statusCode);
        discard(response);
        this.span.end(response.statusCode, null);
      },
      (err: unknown) => {
        this.done(0);
        this.span.end(0, classifyTransportError(err));
      },
    );
  }

  private done(status: number): void {
    const endpoint = this.endpoint!;
    this.destination.set.active--;
    endpoint.health.active--;
    this.destination.set.report(endpoint, status);
  }
}

/** The Host of the upstream request headers (flat [name, value, ...]), if any. */
function upstreamHost(headers: string[]): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'host') return headers[i + 1];
  return undefined;
}
