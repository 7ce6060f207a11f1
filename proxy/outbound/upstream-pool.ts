// undici Pools, one per upstream endpoint, kept across config updates so keep-alive connections survive
// a push that does not concern them. A pool is retired (closed after a grace period, so requests
// already holding it finish) when no endpoint of the new config uses it, or when the TLS material it
// was built with has been replaced.
import { Pool } from 'undici';
import type { Cluster, ConnectionPoolPolicy, Endpoint, TlsMaterial } from '../protocol.js';
import { spiffeIdentityCheck } from '../tls.js';

const RETIRE_GRACE_MS = 10_000;

const POOL_OPTIONS = {
  // Used only when the upstream sends no Keep-Alive hint; Node servers do send one.
  keepAliveTimeout: 30_000,
  connections: 128,
} as const;

export class UpstreamPools {
  private pools = new Map<string, Pool>();
  private used = new Set<string>();
  private retiring = new Set<Pool>();

  /** The pool for `endpoint`; call during a config apply, then `commit()`. */
  acquire(endpoint: Endpoint, cluster: Cluster, tls: TlsMaterial, tlsGeneration: number, limits: ConnectionPoolPolicy = {}): Pool {
    // connectionPool settings shape the pool, so they are part of its identity.
    const shape = `${limits.maxConnections ?? ''}|${limits.maxRequestsPerConnection ?? ''}|${limits.connectTimeoutMs ?? ''}|${limits.idleTimeoutMs ?? ''}`;
    const key = cluster.external
      ? `ext|${cluster.tls}|${endpoint.host}|${endpoint.port}|${shape}`
      : cluster.tls
        ? `tls|${endpoint.host}|${endpoint.port}|${cluster.spiffeId}|${tlsGeneration}|${shape}`
        : `plain|${endpoint.host}|${endpoint.port}|${shape}`;
    this.used.add(key);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      const origin = `${cluster.tls ? 'https' : 'http'}://${endpoint.host}:${endpoint.port}`;
      const timeout = limits.connectTimeoutMs ?? 5_000;
      pool = new Pool(origin, {
        ...POOL_OPTIONS,
        ...(limits.maxConnections !== undefined ? { connections: limits.maxConnections } : {}),
        ...(limits.maxRequestsPerConnection ? { maxRequestsPerClient: limits.maxRequestsPerConnection } : {}),
        ...(limits.idleTimeoutMs !== undefined ? { keepAliveTimeout: limits.idleTimeoutMs, keepAliveMaxTimeout: limits.idleTimeoutMs } : {}),
        connect: cluster.external
          ? { timeout, servername: endpoint.host }
          : cluster.tls
            ? {
                ca: tls.caPem,
                cert: tls.certPem,
                key: tls.keyPem,
                rejectUnauthorized: true,
                checkServerIdentity: spiffeIdentityCheck(cluster.spiffeId),
                timeout,
              }
            : { timeout },
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Retires every pool the last apply did not acquire. */
  commit(): void {
    for (const [key, pool] of this.pools) {
      if (this.used.has(key)) continue;
      this.pools.delete(key);
      this.retiring.add(pool);
      setTimeout(() => {
        this.retiring.delete(pool);
        pool.close().catch(() => {});
      }, RETIRE_GRACE_MS).unref();
    }
    this.used = new Set();
  }

  /** Forgets what an aborted apply acquired (pools it created are retired by the next commit). */
  rollback(): void {
    this.used = new Set(this.pools.keys());
  }

  async destroyAll(): Promise<void> {
    const all = [...this.pools.values(), ...this.retiring];
    this.pools.clear();
    this.retiring.clear();
    await Promise.allSettled(all.map((p) => p.destroy()));
  }
}
