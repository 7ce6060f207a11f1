// The sidecar's state and its one way of changing: apply a complete snapshot, atomically.
// Order matters: validate (pure) → bind any new listener (the only step that can fail on the machine) →
// build route tables and pools → swap. A failure before the swap closes what this apply bound and leaves
// the last good config serving, untouched.
import type { Cluster, ListenerPorts, RouteRule, SidecarConfig, SidecarMessage, WorkloadIdentity } from './protocol.js';
import { ConfigError, parseSidecarConfig } from './config-schema.js';
import { sameTlsMaterial } from './tls.js';
import { InboundServer } from './inbound/inbound-server.js';
import { OutboundServer } from './outbound/outbound-server.js';
import { RouteTable } from './outbound/router.js';
import { EndpointRing, type CompiledDestination, type CompiledRoute } from './outbound/balancer.js';
import { compileRetry } from './outbound/retry.js';
import { UpstreamPools } from './outbound/upstream-pool.js';
import { SpanExporter } from './tracing/span-exporter.js';
import type { ProxyContext } from './proxy-context.js';
import { SidecarMetrics } from './metrics.js';

const NO_WORKLOAD: WorkloadIdentity = { service: 'unconfigured', version: '', instanceId: 'unconfigured' };

export class Sidecar implements ProxyContext {
  readonly spans: SpanExporter;
  readonly metrics = new SidecarMetrics();
  private config: SidecarConfig | null = null;
  private inbound: InboundServer | null = null;
  private readonly outbound = new Map<string, OutboundServer>();
  private readonly pools = new UpstreamPools();
  private tlsGeneration = 0;
  private closed = false;

  constructor(send: (msg: SidecarMessage) => void) {
    this.spans = new SpanExporter(send);
  }

  get workload(): WorkloadIdentity {
    return this.config?.workload ?? NO_WORKLOAD;
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
        inbound = new InboundServer(this, config.tls, config.inbound);
        await inbound.listen(config.inbound.port).catch((err: Error) => {
          throw new ConfigError(`inbound listener: ${err.message}`);
        });
        bound.push(inbound);
      }
      for (const listener of config.outbound) {
        if (this.outbound.has(listener.service)) continue;
        const server = new OutboundServer(listener.service, this);
        bound.push(server);
        await server.listen(listener.port).catch((err: Error) => {
          throw new ConfigError(`outbound listener ${listener.service}: ${err.message}`);
        });
        fresh.set(listener.service, server);
      }
    } catch (err) {
      await Promise.allSettled(bound.map((s) => s.close()));
      return nack(err instanceof ConfigError ? err.message : `binding listeners: ${(err as Error).message}`);
    }

    const tlsChanged = !sameTlsMaterial(this.config?.tls, config.tls);
    if (tlsChanged) this.tlsGeneration++;
    const tables = this.compileTables(config);

    // The swap: synchronous from here, so no request sees half of the old config and half of the new.
    for (const [service, server] of fresh) this.outbound.set(service, server);
    for (const [service, server] of this.outbound) server.table = tables.get(service) ?? null;
    if (config.inbound && inbound !== null) {
      if (inbound === this.inbound) inbound.update(config.inbound, tlsChanged ? config.tls : null);
      this.inbound = inbound;
    }
    this.pools.commit();
    this.config = config;
    return { type: 'ack', version, ports: this.ports(config) };
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
    const rings = new Map<string, EndpointRing>();
    const ringFor = (service: string, subset: string | undefined): EndpointRing => {
      const key = subset === undefined ? `${service}\0*` : `${service}\0=${subset}`;
      let ring = rings.get(key);
      if (ring === undefined) {
        const cluster = clusters.get(service);
        const endpoints = (cluster?.endpoints ?? [])
          .filter((e) => subset === undefined || e.version === subset)
          .map((e) => ({
            instanceId: e.instanceId,
            version: e.version,
            pool: this.pools.acquire(e, cluster!, config.tls, this.tlsGeneration),
          }));
        ring = new EndpointRing(endpoints);
        rings.set(key, ring);
      }
      return ring;
    };
    const compileRoute = (rule: RouteRule, index: number): CompiledRoute => {
      const destinations: CompiledDestination[] = rule.destinations.map((d) => ({
        service: d.service,
        subset: d.subset,
        weight: d.weight,
        tls: clusters.get(d.service)?.tls ?? false,
        ring: ringFor(d.service, d.subset),
      }));
      return {
        label: rule.name ?? String(index),
        destinations,
        totalWeight: destinations.reduce((sum, d) => sum + d.weight, 0),
        retry: compileRetry(rule.retries),
        timeoutMs: rule.timeoutMs || undefined,
      };
    };
    const tables = new Map<string, RouteTable>();
    for (const listener of config.outbound) tables.set(listener.service, new RouteTable(listener.routes, compileRoute));
    return tables;
  }

  private ports(config: SidecarConfig): ListenerPorts {
    const outbound: Record<string, number> = {};
    for (const listener of config.outbound) outbound[listener.service] = this.outbound.get(listener.service)!.port;
    return { inbound: config.inbound ? this.inbound!.port : null, outbound };
  }
}
