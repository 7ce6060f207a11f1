// HTTP/1.1 pools (../http1/), one per upstream endpoint, kept across config updates so keep-alive connections survive
// a push that does not concern them. A pool is retired (closed after a grace period, so requests
// already holding it finish) when no endpoint of the new config uses it, or when the TLS material it
// was built with has been replaced.
import { createSecureContext } from 'node:tls';
import { DEFAULT_POOL_OPTIONS, H1Pool } from '../http1/index.js';
import type { Cluster, ConnectionPoolPolicy, Endpoint, TlsMaterial } from '../protocol/index.js';
import { spiffeIdentityCheck } from '../tls.js';
import { H2Client } from '../h2-client.js';

const RETIRE_GRACE_MS = 10_000;


export class UpstreamPools {
  private pools = new Map<string, H1Pool>();
  private used = new Set<string>();
  private retiring = new Set<H1Pool>();
  private h2 = new Map<string, H2Client>();
  private h2Used = new Set<string>();

  /** An HTTP/2 client for `endpoint` (h2 + ALPN + mTLS to a sidecar, or plain h2c), kept like the pools. */
  acquireH2(endpoint: Endpoint, cluster: Cluster, tls: TlsMaterial, tlsGeneration: number, limits: ConnectionPoolPolicy = {}): H2Client {
    const key = `${cluster.tls ? 'h2' : 'h2c'}|${endpoint.host}|${endpoint.port}|${cluster.spiffeId}|${tlsGeneration}|${limits.connectTimeoutMs ?? ''}`;
    this.h2Used.add(key);
    let client = this.h2.get(key);
    if (client === undefined) {
      const origin = `${cluster.tls ? 'https' : 'http'}://${endpoint.host}:${endpoint.port}`;
      client = new H2Client(
        origin,
        !cluster.tls
          ? null
          : cluster.external
            ? { servername: endpoint.host }
            : { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, rejectUnauthorized: true, checkServerIdentity: spiffeIdentityCheck(cluster.spiffeId) },
        limits.connectTimeoutMs ?? DEFAULT_POOL_OPTIONS.connectTimeoutMs,
      );
      this.h2.set(key, client);
    }
    return client;
  }

  /** The pool for `endpoint`; call during a config apply, then `commit()`. */
  acquire(endpoint: Endpoint, cluster: Cluster, tls: TlsMaterial, tlsGeneration: number, limits: ConnectionPoolPolicy = {}): H1Pool {
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
      pool = new H1Pool(
        {
          host: endpoint.host,
          port: endpoint.port,
          tls: cluster.external
            ? cluster.tls
              ? { servername: endpoint.host }
              : null
            : cluster.tls
              ? {
                  // One context per pool: every connection shares the parsed key and chain.
                  secureContext: createSecureContext({ ca: tls.caPem, cert: tls.certPem, key: tls.keyPem }),
                  rejectUnauthorized: true,
                  checkServerIdentity: spiffeIdentityCheck(cluster.spiffeId),
                }
              : null,
        },
        {
          connections: limits.maxConnections ?? DEFAULT_POOL_OPTIONS.connections,
          ...(limits.maxRequestsPerConnection ? { maxRequestsPerConnection: limits.maxRequestsPerConnection } : {}),
          idleTimeoutMs: limits.idleTimeoutMs ?? DEFAULT_POOL_OPTIONS.idleTimeoutMs,
          connectTimeoutMs: limits.connectTimeoutMs ?? DEFAULT_POOL_OPTIONS.connectTimeoutMs,
        },
      );
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Retires every pool the last apply did not acquire. */
  commit(): void {
    for (const [key, client] of this.h2) {
      if (this.h2Used.has(key)) continue;
      this.h2.delete(key);
      // close() lets open streams finish: requests in flight under the old config complete.
      setTimeout(() => client.close(), RETIRE_GRACE_MS).unref();
    }
    this.h2Used = new Set();
    for (const [key, pool] of this.pools) {
      if (this.used.has(key)) continue;
      this.pools.delete(key);
      this.retiring.add(pool);
      setTimeout(() => {
        this.retiring.delete(pool);
        pool.close();
      }, RETIRE_GRACE_MS).unref();
    }
    this.used = new Set();
  }

  /** Forgets what an aborted apply acquired (pools it created are retired by the next commit). */
  rollback(): void {
    this.used = new Set(this.pools.keys());
  }

  async destroyAll(): Promise<void> {
    for (const client of this.h2.values()) client.close();
    this.h2.clear();
    const all = [...this.pools.values(), ...this.retiring];
    this.pools.clear();
    this.retiring.clear();
    for (const p of all) p.destroy();
  }
}
