// The sidecar's state and its one way of changing: apply a complete snapshot, atomically.
// Order matters: validate (pure) → bind any new listener (the only step that can fail on the machine) →
// build route tables and pools → swap. A failure before the swap closes what this apply bound and leaves
// the last good config serving, untouched.
import type { Cluster, EndpointSetSnapshot, HeaderRewrite, ListenerPorts, RouteRule, SidecarConfig, SidecarMessage, TrafficPolicy, WorkloadIdentity } from './protocol/index.js';
import { ConfigError, parseSidecarConfig } from './config-schema.js';
import { sameTlsMaterial } from './tls.js';
import { takePortForTest } from './last-resort.js';
import { InboundServer } from './inbound/inbound-server.js';
import { TrustDomains } from './inbound/peer-identity.js';
import { OutboundServer, type TcpTarget } from './outbound/outbound-server.js';
import { RouteTable } from './outbound/router.js';
import type { CompiledDestination, CompiledRoute } from './outbound/balancer.js';
import { EndpointHealth, EndpointSet } from './outbound/endpoint-set.js';
import { compileRetry } from './outbound/retry.js';
import { UpstreamPools } from './outbound/upstream-pool.js';
import { SpanExporter } from './tracing/span-exporter.js';
import type { ProxyContext } from './proxy-context.js';
import { SidecarMetrics } from './metrics.js';
import { Availability } from './outbound/availability.js';
import { RequestJoin } from './tracing/request-join.js';

const NO_WORKLOAD: WorkloadIdentity = { service: 'unconfigured', version: '', instanceId: 'unconfigured' };

export class Sidecar implements ProxyContext {
  readonly spans: SpanExporter;
  readonly metrics = new SidecarMetrics();
  readonly availability = new Availability();
  readonly joins = new RequestJoin();
  private config: SidecarConfig | null = null;
  private inbound: InboundServer | null = null;
  private readonly outbound = new Map<string, OutboundServer>();
  private readonly pools = new UpstreamPools();
  /** Per endpoint, across config pushes: outlier ejections and requests in flight. */
  private readonly health = new Map<string, EndpointHealth>();
  private tcpTargets = new Map<string, TcpTarget>();
  /** The endpoint sets of the applied config, kept only to be looked at (endpointHealth). */
  private endpointSets = new Map<string, EndpointSet>();
  private tlsGeneration = 0;
  private closed = false;
  readonly log: (line: string) => void;

  /**
   * `send` delivers a message to the control plane, calling `written` (when given) once it is in the
   * channel; `log` writes a line to the sidecar's log.
   */
  constructor(send: (msg: SidecarMessage, written?: () => void) => boolean | void, log: (line: string) => void = () => {}) {
    this.log = log;
    this.spans = new SpanExporter(send, {
      dropped: (spans) => this.metrics.spansDropped(spans),
      episode: (e) =>
        log(
          e.start
            ? `dropping spans: ${(e.backlogBytes / 1048576).toFixed(1)} MB of them wait unread by the control plane (requests are not affected; counted in devmesh_spans_dropped_total)`
            : `sending spans again: ${e.total} were dropped while the control plane was not reading`,
        ),
    });
  }

  get workload(): WorkloadIdentity {
    return this.config?.workload ?? NO_WORKLOAD;
  }

  get trustDomain(): string {
    return this.config?.mesh ?? 'unconfigured';
  }

  get samplingPercent(): number {
    return this.config?.tracing?.samplingPercent ?? 100;
  }

  async apply(version: number, raw: unknown): Promise<SidecarMessage> {
    const nack = (reason: string): SidecarMessage => ({ type: 'nack', version, reason });
    if (this.closed) return nack('sidecar is shutting down');

    let config: SidecarConfig;
    try {
      config = parseSidecarConfig(raw);
    } catch (err) {
      if (err instanceof ConfigError) return nack(err.message);
      throw err;
    }
    const conflict = this.listenerConflict(config);
    if (conflict !== null) return nack(conflict);

    const bound: Array<InboundServer | OutboundServer> = [];
    let inbound = this.inbound;
    const fresh = new Map<string, OutboundServer>();
    try {
      if (config.inbound && inbound === null) {
        inbound = new InboundServer(this, config.tls, config.inbound, TrustDomains.of(config));
        await inbound.listen(config.inbound.port).catch((err: Error) => {
          throw new ConfigError(`inbound listener: ${err.message}`);
        });
        bound.push(inbound);
      }
      for (const listener of config.outbound) {
        if (this.outbound.has(listener.service)) continue;
        const server = new OutboundServer(listener.service, this);
        bound.push(server);
        const release = await takePortForTest(listener.port);
        await server
          .listen(listener.port)
          .catch((err: Error) => {
            throw new ConfigError(`outbound listener ${listener.service}: ${err.message}`);
          })
          .finally(() => release?.());
        fresh.set(listener.service, server);
      }
    } catch (err) {
      await Promise.allSettled(bound.map((s) => s.close()));
      return nack(err instanceof ConfigError ? err.message : `binding listeners: ${(err as Error).message}`);
    }

    const tlsChanged = !sameTlsMaterial(this.config?.tls, config.tls);
    if (tlsChanged) this.tlsGeneration++;
    const tables = this.compileTables(config);
    const tcpTargets = this.tcpTargets;

    // The swap: synchronous from here, so no request sees half of the old config and half of the new.
    for (const [service, server] of fresh) this.outbound.set(service, server);
    for (const [service, server] of this.outbound) {
      server.table = tables.get(service) ?? null;
      server.tcpTarget = tcpTargets.get(service) ?? null;
    }
    if (config.inbound && inbound !== null) {
      if (inbound === this.inbound) inbound.update(config.inbound, tlsChanged ? config.tls : null, TrustDomains.of(config));
      this.inbound = inbound;
    }
    this.pools.commit();
    this.config = config;
    this.availability.swapped();
    return { type: 'ack', version, ports: this.ports(config) };
  }

  /** Every endpoint set of the applied config with its endpoints' health, as plain data (for `devmesh explain`). */
  endpointHealth(): EndpointSetSnapshot[] {
    return [...this.endpointSets.values()].map((set) => set.snapshot());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.spans.flush();
    const servers: Array<InboundServer | OutboundServer> = [...this.outbound.values()];
    if (this.inbound) servers.push(this.inbound);
    await Promise.allSettled([...servers.map((s) => s.close()), this.pools.destroyAll()]);
  }

  /** Ports are fixed for the sidecar's life; a config asking to move one or drop the inbound is refused. */
  private listenerConflict(config: SidecarConfig): string | null {
    if (this.inbound !== null) {
      if (!config.inbound) return 'inbound listener: a running sidecar cannot drop its inbound listener';
      if (config.inbound.port !== 0 && config.inbound.port !== this.inbound.port) {
        return `inbound listener: bound to port ${this.inbound.port} for the sidecar's life, config asks for ${config.inbound.port}`;
      }
    }
    for (const listener of config.outbound) {
      const existing = this.outbound.get(listener.service);
      if (existing && listener.port !== 0 && listener.port !== existing.port) {
        return `outbound listener ${listener.service}: bound to port ${existing.port} for the sidecar's life, config asks for ${listener.port}`;
      }
    }
    return null;
  }

  private compileTables(config: SidecarConfig): Map<string, RouteTable> {
    const clusters = new Map<string, Cluster>(config.clusters.map((c) => [c.service, c]));
    const sets = new Map<string, EndpointSet>();
    const setFor = (service: string, subset: string | undefined): EndpointSet => {
      const key = subset === undefined ? `${service}\0*` : `${service}\0=${subset}`;
      let set = sets.get(key);
      if (set === undefined) {
        const cluster = clusters.get(service);
        // A subset's policy replaces the service's, field by field (DestinationRule subsets).
        const policy: TrafficPolicy = { ...cluster?.policy, ...(subset !== undefined ? cluster?.subsetPolicies?.[subset] : undefined) };
        const endpoints = (cluster?.endpoints ?? [])
          .filter((e) => subset === undefined || e.version === subset)
          .map((e) => ({
            instanceId: e.instanceId,
            version: e.version,
            pool: this.pools.acquire(e, cluster!, config.tls, this.tlsGeneration, policy.connectionPool),
            h2: cluster!.protocol === 'http2' || cluster!.protocol === 'grpc' ? this.pools.acquireH2(e, cluster!, config.tls, this.tlsGeneration, policy.connectionPool) : null,
            address: { host: e.host, port: e.port },
            health: this.healthOf(`${service}|${e.instanceId}|${e.port}`),
            meshPeer: cluster!.external !== true,
          }));
        set = new EndpointSet(service, subset, endpoints, policy.loadBalancer, policy.connectionPool, policy.outlierDetection, policy.retryBudget);
        sets.set(key, set);
      }
      return set;
    };
    const destinationOf = (d: { service: string; subset?: string | undefined; weight: number; headers?: HeaderRewrite | undefined }): CompiledDestination => ({
      service: d.service,
      subset: d.subset,
      weight: d.weight,
      tls: clusters.get(d.service)?.tls ?? false,
      set: setFor(d.service, d.subset),
      headers: d.headers,
    });
    const compileRoute = (rule: RouteRule, index: number): CompiledRoute => {
      const destinations = rule.destinations.map(destinationOf);
      return {
        label: rule.name ?? String(index),
        index,
        destinations,
        totalWeight: destinations.reduce((sum, d) => sum + d.weight, 0),
        redirect: rule.redirect,
        directResponse: rule.directResponse,
        rewrite: rule.rewrite,
        blockPrefixes: rule.match.map((b) => (b.uri && 'prefix' in b.uri ? b.uri.prefix : null)),
        headers: rule.headers,
        mirror: rule.mirror ? { destination: destinationOf({ ...rule.mirror, weight: 0 }), percent: rule.mirror.percent } : undefined,
        fault: rule.fault,
        retry: compileRetry(rule.retries),
        timeoutMs: rule.timeoutMs || undefined,
      };
    };
    const tables = new Map<string, RouteTable>();
    this.tcpTargets = new Map();
    for (const listener of config.outbound) {
      tables.set(listener.service, new RouteTable(listener.routes, compileRoute));
      // A tcp destination has no requests to route: the listener passes connections to its first destination.
      const first = listener.routes[0]?.destinations[0];
      const cluster = first ? clusters.get(first.service) : undefined;
      if (first && cluster?.protocol === 'tcp') {
        this.tcpTargets.set(listener.service, { set: setFor(first.service, first.subset), tls: cluster.tls ? config.tls : null, spiffeId: cluster.spiffeId });
      }
    }
    this.endpointSets = sets;
    // Forget the health of endpoints that are gone.
    const live = new Set<string>();
    for (const c of config.clusters) for (const e of c.endpoints) live.add(`${c.service}|${e.instanceId}|${e.port}`);
    for (const key of this.health.keys()) if (!live.has(key)) this.health.delete(key);
    return tables;
  }

  private healthOf(key: string): EndpointHealth {
    let health = this.health.get(key);
    if (health === undefined) {
      health = new EndpointHealth();
      this.health.set(key, health);
    }
    return health;
  }

  private ports(config: SidecarConfig): ListenerPorts {
    const outbound: Record<string, number> = {};
    for (const listener of config.outbound) outbound[listener.service] = this.outbound.get(listener.service)!.port;
    return { inbound: config.inbound ? this.inbound!.port : null, outbound };
  }
}
