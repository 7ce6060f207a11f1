// The endpoints of one destination (a service, or one subset of it: Istio makes each subset its own
// cluster) and everything per-destination that decides where a try goes or whether it goes at all:
//   load balancer     — ROUND_ROBIN, LEAST_REQUEST (power of two choices), RANDOM, consistentHash;
//   outlier detection — Envoy's consecutive-5xx / consecutive-gateway-error ejection, inline as in Envoy,
//                       for baseEjectionTime × the ejection multiplier (capped at Envoy's max_ejection_time,
//                       300 s); the multiplier goes down by one for each interval the endpoint spends
//                       un-ejected (Envoy's interval sweep), so a recovered endpoint's next ejection is short again;
//   circuit breaker   — connectionPool limits; overflow is shed at once (503 + x-devmesh-error: overflow);
//   retry budget      — Linkerd's: retries ≤ ratio × requests + minPerSecond × window.
// Endpoint health (ejections, active requests) lives in EndpointHealth objects that outlive config
// pushes, so a push does not forgive an ejected endpoint.
import type { H1Pool } from '../http1/index.js';
import type { H2Client } from '../h2-client.js';
import type { ConnectionPoolPolicy, EndpointSetSnapshot, LoadBalancerPolicy, OutlierDetectionPolicy, RetryBudgetPolicy } from '../protocol/index.js';

export class EndpointHealth {
  /** Requests in flight to this endpoint (LEAST_REQUEST reads it). */
  active = 0;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  /** Envoy's ejection multiplier: +1 per ejection, −1 per interval spent un-ejected. */
  ejections = 0;
  /** performance.now() until which the endpoint is ejected; 0 = not ejected. */
  ejectedUntil = 0;
  /** Start of the healthy stretch not yet counted against `ejections`. */
  decayFrom = 0;
}

/** Envoy's default max_ejection_time (Istio does not expose it). */
const MAX_EJECTION_TIME_MS = 300_000;

export interface UpstreamEndpoint {
  instanceId: string;
  version: string;
  pool: H1Pool;
  /** Set for http2/grpc destinations: requests go over one multiplexed HTTP/2 session instead of the pool. */
  h2: H2Client | null;
  /** host:port, for raw TCP passthrough and WebSocket upgrades. */
  address: { host: string; port: number };
  health: EndpointHealth;
  /** A devmesh sidecar (not an external destination): its x-devmesh-error is its own word, never an app's. */
  meshPeer: boolean;
}

/** What a consistent hash may hash: computed by the caller only when the policy needs it. */
export interface HashInput {
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
  query(name: string): string | undefined;
  source: string;
}

/** FNV-1a, 32 bit: fast, and good enough to spread keys over a handful of endpoints. */
function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A retry budget over a sliding window of ten buckets. */
export class RetryBudget {
  private readonly requests: number[] = new Array(10).fill(0);
  private readonly retries: number[] = new Array(10).fill(0);
  private bucket = 0;
  private bucketStart = performance.now();
  private readonly bucketMs: number;

  constructor(readonly policy: RetryBudgetPolicy) {
    this.bucketMs = policy.ttlMs / 10;
  }

  private roll(): void {
    const now = performance.now();
    while (now - this.bucketStart >= this.bucketMs) {
      this.bucket = (this.bucket + 1) % 10;
      this.requests[this.bucket] = 0;
      this.retries[this.bucket] = 0;
      this.bucketStart += this.bucketMs;
      if (now - this.bucketStart > this.policy.ttlMs) this.bucketStart = now;
    }
  }

  request(): void {
    this.roll();
    this.requests[this.bucket]!++;
  }

  /** Takes a retry from the budget if there is one left. */
  tryRetry(): boolean {
    this.roll();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < 10; i++) {
      requests += this.requests[i]!;
      retries += this.retries[i]!;
    }
    const allowed = this.policy.ratio * requests + (this.policy.minPerSecond * this.policy.ttlMs) / 1000;
    if (retries + 1 > allowed) return false;
    this.retries[this.bucket]!++;
    return true;
  }
}

export type Admission = { ok: true } | { ok: false; reason: string };

export class EndpointSet {
  private next = 0;
  /** Requests admitted and not finished, for the circuit breaker. */
  active = 0;
  activeRetries = 0;
  readonly budget: RetryBudget | null;

  constructor(
    readonly service: string,
    readonly subset: string | undefined,
    readonly endpoints: readonly UpstreamEndpoint[],
    readonly loadBalancer: LoadBalancerPolicy | undefined,
    readonly connectionPool: ConnectionPoolPolicy | undefined,
    readonly outlier: OutlierDetectionPolicy | undefined,
    budget: RetryBudgetPolicy | undefined,
  ) {
    this.budget = budget ? new RetryBudget(budget) : null;
  }

  get hashPolicy(): Extract<LoadBalancerPolicy, { consistentHash: unknown }>['consistentHash'] | null {
    const lb = this.loadBalancer;
    return lb !== undefined && 'consistentHash' in lb ? lb.consistentHash : null;
  }

  /**
   * Circuit breaking, Envoy style: requests beyond maxRequests in flight, or beyond the connections plus
   * maxPendingRequests waiting for one, are refused now rather than queued without bound.
   */
  admit(): Admission {
    const pool = this.connectionPool;
    if (pool === undefined) return { ok: true };
    if (pool.maxRequests !== undefined && this.active >= pool.maxRequests) {
      return { ok: false, reason: `${this.active} requests in flight, maxRequests is ${pool.maxRequests}` };
    }
    if (pool.maxPendingRequests !== undefined && pool.maxConnections !== undefined) {
      const connections = pool.maxConnections * Math.max(1, this.endpoints.length);
      const pending = this.active - connections;
      if (pending >= pool.maxPendingRequests) {
        return { ok: false, reason: `${pending} requests waiting for one of ${connections} connections, maxPendingRequests is ${pool.maxPendingRequests}` };
      }
    }
    return { ok: true };
  }

  /** May another retry start? (connectionPool.http.maxRetries, then the retry budget.) */
  admitRetry(): string | null {
    const max = this.connectionPool?.maxRetries;
    if (max !== undefined && this.activeRetries >= max) return `maxRetries (${max}) retries already in flight`;
    if (this.budget !== null && !this.budget.tryRetry()) return 'retry budget exhausted';
    return null;
  }

  /** Endpoints not ejected; all of them when too few are healthy (minHealthPercent: outlier detection steps aside). */
  private candidates(now: number): readonly UpstreamEndpoint[] {
    if (this.outlier === undefined) return this.endpoints;
    let ejected = 0;
    for (const e of this.endpoints) if (e.health.ejectedUntil > now) ejected++;
    if (ejected === 0) return this.endpoints;
    const healthyPercent = (100 * (this.endpoints.length - ejected)) / this.endpoints.length;
    if (healthyPercent < this.outlier.minHealthPercent) return this.endpoints;
    return this.endpoints.filter((e) => e.health.ejectedUntil <= now);
  }

  /**
   * The endpoint for one try. `avoid` is the endpoint of the previous try: a retry goes elsewhere when it
   * can (Istio configures Envoy's previous_hosts retry predicate).
   */
  pick(hash: HashInput | null, avoid: UpstreamEndpoint | null): UpstreamEndpoint | undefined {
    const all = this.candidates(performance.now());
    const n = all.length;
    if (n === 0) return undefined;
    if (n === 1) return all[0];
    const lb = this.loadBalancer;
    let chosen: UpstreamEndpoint;
    if (lb === undefined || ('simple' in lb && lb.simple === 'ROUND_ROBIN')) {
      chosen = all[this.next++ % n]!;
      if (this.next >= 1 << 30) this.next = 0;
    } else if ('simple' in lb && lb.simple === 'RANDOM') {
      chosen = all[Math.floor(Math.random() * n)]!;
    } else if ('simple' in lb) {
      // LEAST_REQUEST: power of two choices, as Envoy does by default.
      const a = all[Math.floor(Math.random() * n)]!;
      let b = all[Math.floor(Math.random() * (n - 1))]!;
      if (b === a) b = all[n - 1]!;
      chosen = b.health.active < a.health.active ? b : a;
    } else {
      const key = hash !== null ? this.hashKey(hash) : undefined;
      if (key === undefined) chosen = all[Math.floor(Math.random() * n)]!;
      else {
        // Rendezvous hashing: each key keeps its endpoint while that endpoint stays, and only the keys
        // of an endpoint that goes away move.
        let best = -1;
        chosen = all[0]!;
        for (const e of all) {
          const score = fnv1a(e.instanceId, fnv1a(key));
          if (score > best) {
            best = score;
            chosen = e;
          }
        }
        return chosen; // sticky: a retry hashes to the same endpoint, as in Envoy
      }
    }
    if (chosen === avoid) {
      const i = all.indexOf(chosen);
      chosen = all[(i + 1) % n]!;
    }
    return chosen;
  }

  private hashKey(input: HashInput): string | undefined {
    const h = this.hashPolicy!;
    if (h.header !== undefined) return input.header(h.header.toLowerCase());
    if (h.cookie !== undefined) return input.cookie(h.cookie.name);
    if (h.queryParam !== undefined) return input.query(h.queryParam);
    if (h.sourceIp) return input.source;
    return undefined;
  }

  /** The set now, as plain data for `devmesh explain`; reads only, so looking never changes what happens. */
  snapshot(): EndpointSetSnapshot {
    const now = performance.now();
    const wallNow = Date.now();
    const inRotation = new Set(this.candidates(now));
    const admission = this.admit();
    return {
      service: this.service,
      subset: this.subset ?? null,
      activeRequests: this.active,
      activeRetries: this.activeRetries,
      connectionPool: this.connectionPool ?? null,
      outlierDetection: this.outlier ?? null,
      shedding: admission.ok ? null : admission.reason,
      endpoints: this.endpoints.map((e) => ({
        instanceId: e.instanceId,
        version: e.version,
        activeRequests: e.health.active,
        consecutive5xx: e.health.consecutive5xx,
        consecutiveGatewayErrors: e.health.consecutiveGateway,
        ejections: Math.max(0, e.health.ejections - this.sweeps(e.health, now)),
        ejectedUntilMs: e.health.ejectedUntil > now ? Math.round(wallNow + (e.health.ejectedUntil - now)) : null,
        inRotation: inRotation.has(e),
      })),
    };
  }

  /** Outlier detection's view of one try's outcome: `status` 0 = no response (connect failure, reset, timeout). */
  report(endpoint: UpstreamEndpoint, status: number): string | null {
    const od = this.outlier;
    if (od === undefined) return null;
    const h = endpoint.health;
    // Locally originated failures count as 5xx and as gateway errors (Envoy without split_external_local_origin_errors).
    const is5xx = status === 0 || status >= 500;
    const isGateway = status === 0 || status === 502 || status === 503 || status === 504;
    h.consecutive5xx = is5xx ? h.consecutive5xx + 1 : 0;
    h.consecutiveGateway = isGateway ? h.consecutiveGateway + 1 : 0;
    const now = performance.now();
    if (h.ejectedUntil > now) return null;
    this.decay(h, now);
    let why: string | null = null;
    if (od.consecutive5xxErrors > 0 && h.consecutive5xx >= od.consecutive5xxErrors) why = `${h.consecutive5xx} consecutive 5xx`;
    else if (od.consecutiveGatewayErrors > 0 && h.consecutiveGateway >= od.consecutiveGatewayErrors) why = `${h.consecutiveGateway} consecutive gateway errors`;
    if (why === null) return null;
    // maxEjectionPercent, with Envoy's rule that one endpoint can always be ejected.
    let ejected = 0;
    for (const e of this.endpoints) if (e.health.ejectedUntil > now) ejected++;
    if (ejected > 0 && (100 * (ejected + 1)) / this.endpoints.length > od.maxEjectionPercent) return null;
    // base × multiplier, never past max_ejection_time (or base, when base is longer).
    const cap = Math.max(1, Math.floor(Math.max(od.baseEjectionTimeMs, MAX_EJECTION_TIME_MS) / od.baseEjectionTimeMs));
    h.ejections = Math.min(h.ejections + 1, cap);
    const ms = od.baseEjectionTimeMs * h.ejections;
    h.ejectedUntil = now + ms;
    h.decayFrom = h.ejectedUntil;
    h.consecutive5xx = 0;
    h.consecutiveGateway = 0;
    return `ejected ${endpoint.instanceId} for ${ms} ms (${why}; multiplier ${h.ejections})`;
  }

  /**
   * Envoy's interval sweep, evaluated lazily: every `interval` an endpoint spends un-ejected takes one off
   * its ejection multiplier (computed when the endpoint is next looked at, with the same result).
   */
  private decay(h: EndpointHealth, now: number): void {
    const n = this.sweeps(h, now);
    if (n === 0) return;
    h.ejections = Math.max(0, h.ejections - n);
    h.decayFrom = Math.max(h.ejectedUntil, h.decayFrom) + n * this.outlier!.intervalMs;
  }

  /**
   * Intervals the endpoint has spent un-ejected since they were last counted: what decay() takes off, and
   * what snapshot() takes off without changing anything.
   */
  private sweeps(h: EndpointHealth, now: number): number {
    if (h.ejections === 0 || h.ejectedUntil > now || this.outlier === undefined) return 0;
    return Math.max(0, Math.floor((now - Math.max(h.ejectedUntil, h.decayFrom)) / this.outlier.intervalMs));
  }
}
