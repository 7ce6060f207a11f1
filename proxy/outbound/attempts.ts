// The tries of one request: each on an endpoint the balancer picks (another one for a retry, when there is
// one), bounded by the per-try timeout and the request's deadline; outlier detection sees every answer.
// After each try one decision — retry or give up — for an unwanted status and a transport failure alike:
// retryOn must ask for it, the retry budget and maxRetries must allow it, and the body must still be there
// to send again. Resolves with the response to relay (which may be a final 5xx); throws a ProxyError.
import { setTimeout as sleep } from 'node:timers/promises';
import { PROXY_ERROR_HEADER } from '../protocol/index.js';
import { H1Error } from '../http1/index.js';
import { ProxyError, classifyTransportError, resetErrorCode, type TransportFailure } from '../errors.js';
import type { RequestBody } from '../request-body.js';
import { withBudget } from './deadline.js';
import type { EndpointSet, UpstreamEndpoint } from './endpoint-set.js';
import type { Exchange, Upstream } from './exchange.js';
import { backoffMs } from './retry.js';

const BODY_GONE = 'the request body was streamed past the buffer limit';
/** RFC 9110 §9.2.2. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

function abortTry(controller: AbortController): void {
  controller.abort();
}

/** Reads and drops a response nobody relays (a retried one), so its connection stays usable. */
export function discard(response: Upstream): void {
  if ('dump' in response) response.dump();
  else response.body.destroy();
}

export async function sendTries(ex: Exchange, set: EndpointSet): Promise<Upstream> {
  const route = ex.route!;
  const retry = route.retry;
  const timeoutMs = ex.timeoutMs;
  const deadline = timeoutMs ? performance.now() + timeoutMs : Infinity;
  const hash = ex.hashFor(set);
  let previous: UpstreamEndpoint | null = null;
  let retrying = false;
  /** Tries that went elsewhere because nothing could be sent (below): they use up no retry. */
  let redispatched = 0;
  try {
    for (let n = 0; ; n++) {
      if (ex.downstreamGone) throw new ProxyError('downstream-closed', 'the client closed the connection before the request was sent');
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw timeoutError(ex, route.timeoutMs);
      const endpoint = set.pick(hash, previous);
      if (endpoint === undefined) throw new ProxyError('no-healthy-endpoints', `every endpoint of ${set.service} is ejected by outlier detection`);
      previous = endpoint;
      ex.attempts++;
      ex.endpoint = endpoint;

      const budget = Math.min(remaining, retry.perTryTimeoutMs ?? Infinity);
      // Timers only when a timeout is configured: the common no-timeout path allocates nothing for it. A
      // streamed body can stall for good when its client goes away, so its try must be abortable too.
      const body = ex.body;
      let controller: AbortController | undefined;
      let timer: NodeJS.Timeout | undefined;
      let headers = ex.headers;
      if (budget !== Infinity || (body !== null && !Buffer.isBuffer(body))) ex.tryAbort = controller = new AbortController();
      if (budget !== Infinity) {
        timer = setTimeout(abortTry, budget, controller!);
        headers = withBudget(headers, budget, ex.grpc);
      }

      let failure: TransportFailure;
      let cause: unknown;
      endpoint.health.active++;
      try {
        const response: Upstream =
          endpoint.h2 !== null
            ? await endpoint.h2.request(ex.method, ex.path, ex.rr.authority || set.service, headers, body, controller?.signal)
            : await endpoint.pool.request({ path: ex.path, method: ex.method, headers, body, ...(controller !== undefined ? { signal: controller.signal } : {}) });
        clearTimeout(timer);
        ex.tryAbort = null;
        endpoint.health.active--;
        ex.noteTry(endpoint, response.statusCode);
        ex.noteEvent(set.report(endpoint, response.statusCode));
        const grpcStatus = response.headers['grpc-status'];
        if (n - redispatched < ex.retries && retry.retryStatus(response.statusCode, grpcStatus)) {
          const reason = grpcStatus !== undefined && response.statusCode === 200 ? `grpc-${grpcStatus}` : String(response.statusCode);
          if (retryAdmitted(ex, set, reason)) {
            discard(response);
            if (!retrying) {
              retrying = true;
              set.activeRetries++;
            }
            await backoff(n + 1 - redispatched, deadline);
            continue;
          }
        }
        // The peer sidecar could not connect to its app (it strips any app's x-devmesh-error): the request
        // reached no app, so, as for our own refused connection below, another endpoint may take it once.
        if (response.statusCode === 503 && endpoint.meshPeer && response.headers[PROXY_ERROR_HEADER] === 'connect-failure' && redispatched === 0 && set.endpoints.length > 1 && redispatchable(ex)) {
          redispatched++;
          discard(response);
          ex.noteEvent(`re-dispatched: ${endpoint.instanceId}'s sidecar could not reach its app, nothing was sent to it`);
          continue;
        }
        return response;
      } catch (err) {
        clearTimeout(timer);
        ex.tryAbort = null;
        endpoint.health.active--;
        // Not the upstream's fault: no outlier report, no retry.
        if (ex.downstreamGone) throw new ProxyError('downstream-closed', `the client closed the connection while ${endpoint.instanceId} was being tried`);
        cause = err;
        failure = controller?.signal.aborted ? 'per-try-timeout' : classifyTransportError(err);
      }
      ex.noteTry(endpoint, failure);
      ex.noteEvent(set.report(endpoint, 0));
      if (failure === 'per-try-timeout' && performance.now() >= deadline - 1) throw timeoutError(ex, route.timeoutMs);
      if (n - redispatched < ex.retries && retry.retryTransport(failure) && retryAdmitted(ex, set, failure)) {
        if (!retrying) {
          retrying = true;
          set.activeRetries++;
        }
        await backoff(n + 1 - redispatched, deadline);
        continue;
      }
      // No connection could be made, so no byte of the request left: another endpoint may take it without a
      // retry policy, as linkerd2-proxy's balancer sends a request only to an endpoint it could connect to.
      // Once per request, so a dead destination still answers connect-failure at once. This is what keeps a
      // killed sidecar from failing requests beyond those in flight on it, until the control plane's push.
      if (failure === 'connect-failure' && redispatched === 0 && set.endpoints.length > 1 && redispatchable(ex)) {
        redispatched++;
        ex.noteEvent(`re-dispatched: no connection to ${endpoint.instanceId}, nothing was sent`);
        continue;
      }
      // A kept-alive connection reset under an idempotent request before any answer, the request unread (the
      // peer died, or closed it idle as we wrote): sent again once, as RFC 9112 §9.3.1 allows any client to.
      if (failure === 'reset' && cause instanceof H1Error && cause.replayable && IDEMPOTENT.has(ex.method) && redispatched === 0 && redispatchable(ex)) {
        redispatched++;
        ex.noteEvent(`re-sent: ${endpoint.instanceId} reset a reused connection before answering`);
        continue;
      }
      throw tryFailure(ex, set, endpoint, failure, cause, budget);
    }
  } finally {
    if (retrying) set.activeRetries--;
  }
}

/**
 * The one retry-or-give-up decision, once retryOn asked for a retry: the destination's retry budget and
 * maxRetries must allow it, and the body must still be there to send again. Admitted: the exchange holds
 * the body for the next try and the reason is noted; refused: the span's events say why.
 */
function retryAdmitted(ex: Exchange, set: EndpointSet, reason: string): boolean {
  let refused = set.admitRetry();
  if (refused === null) {
    const again = nextBody(ex);
    if (again === undefined) refused = BODY_GONE;
    else ex.body = again;
  }
  if (refused !== null) {
    ex.noteEvent(`not retried: ${refused}`);
    return false;
  }
  ex.noteRetry(reason);
  return true;
}

/**
 * The body can go to another endpoint: none; a stream not read from at all (the failed try never took a
 * byte of it); or held whole or in part by the tee (a retry's copy).
 */
function redispatchable(ex: Exchange): boolean {
  const body = ex.body;
  if (body === null) return true;
  if (ex.tee === null && !Buffer.isBuffer(body)) return !body.readableDidRead && !body.destroyed;
  const again = nextBody(ex);
  if (again === undefined) return false;
  ex.body = again;
  return true;
}

/** The body for the next try, or undefined when it cannot be sent again (streamed past the buffer limit). */
function nextBody(ex: Exchange): RequestBody | null | undefined {
  if (ex.body === null) return null;
  if (ex.tee === null) return undefined;
  return ex.tee.again() ?? undefined;
}

function timeoutError(ex: Exchange, routeTimeoutMs: number | undefined): ProxyError {
  const timeoutMs = ex.timeoutMs;
  return new ProxyError('timeout', `no response within the ${timeoutMs === routeTimeoutMs ? 'route timeout' : 'propagated deadline'} of ${timeoutMs} ms`);
}

function tryFailure(ex: Exchange, set: EndpointSet, endpoint: UpstreamEndpoint, failure: TransportFailure, cause: unknown, budget: number): ProxyError {
  const where = `${set.service} (${endpoint.instanceId})`;
  const detail = (cause as Error)?.message ?? String(cause);
  const tries = `after ${ex.attempts} ${ex.attempts === 1 ? 'try' : 'tries'}`;
  if (failure === 'connect-failure') return new ProxyError('connect-failure', `cannot connect to ${where} ${tries}: ${detail}`);
  if (failure === 'per-try-timeout') return new ProxyError('timeout', `${where} did not answer within ${Math.round(budget)} ms ${tries}`);
  const code = resetErrorCode(cause);
  return new ProxyError(code, `${where} ${code === 'upstream-reset' ? 'reset the request' : 'answered with a malformed response'} ${tries}: ${detail}`);
}

async function backoff(retry: number, deadline: number): Promise<void> {
  const wait = Math.min(backoffMs(retry), Math.max(0, deadline - performance.now()));
  if (wait > 0) await sleep(wait);
}
