// Peer identity: which trust domains the inbound accepts. The TLS layer has already verified the chain
// against the mesh root; but one root may sign for several trust domains (SPIFFE federation, a migration,
// or simply a mistake), so a chain alone does not make a peer one of ours. Istio trusts its own trust
// domain and meshConfig.trustDomainAliases and denies the rest as an authentication failure; so does this.
import type { SidecarConfig } from '../protocol/index.js';
import type { InboundExchange } from './inbound-exchange.js';

const SCHEME = 'spiffe://';

export class TrustDomains {
  private readonly trusted: ReadonlySet<string>;
  /** The tail of every refusal, built once: it is the same for every refused peer. */
  private readonly notTrusted: string;

  constructor(
    readonly mesh: string,
    readonly aliases: readonly string[],
  ) {
    this.trusted = new Set([mesh, ...aliases]);
    this.notTrusted = aliases.length === 0 ? `is not ${mesh} (no trustDomainAliases)` : `is not ${mesh} nor an alias (${aliases.join(', ')})`;
  }

  static of(config: Pick<SidecarConfig, 'mesh' | 'trustDomainAliases'>): TrustDomains {
    return new TrustDomains(config.mesh, config.trustDomainAliases ?? []);
  }

  same(other: TrustDomains): boolean {
    return this.mesh === other.mesh && this.aliases.join('\0') === other.aliases.join('\0');
  }

  /**
   * Why a verified peer with this SPIFFE id (null: its certificate has none) may not be served, or null
   * when it may. Cheap enough for every request: a slice and a Set lookup, no allocation when trusted.
   */
  refusal(peer: string | null): string | null {
    if (peer === null) return 'the certificate has no SPIFFE URI SAN';
    const end = peer.indexOf('/', SCHEME.length);
    const domain = peer.slice(SCHEME.length, end === -1 ? peer.length : end);
    return this.trusted.has(domain) ? null : `trust domain ${JSON.stringify(domain)} ${this.notTrusted}`;
  }
}

/**
 * The identity layer for one exchange: true when its peer may go on (plaintext, which the mTLS mode has
 * already let in, or a trusted TLS peer); otherwise the exchange says why and the refusal is logged here,
 * once, naming the peer. The caller answers the refusal in its own protocol's way.
 */
export function admitPeer(ex: InboundExchange, trust: TrustDomains): boolean {
  if (!ex.mtls) return true;
  const refused = trust.refusal(ex.peer);
  if (refused === null) return true;
  ex.refused = refused;
  ex.error = 'denied';
  ex.ctx.log(`inbound: refused peer ${ex.peer ?? '(no SPIFFE id)'}: ${refused}`);
  return false;
}
