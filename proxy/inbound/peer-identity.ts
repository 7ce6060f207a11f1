// Peer identity: which trust domains the inbound accepts. The TLS layer has already verified the chain
// against the mesh root; but one root may sign for several trust domains (SPIFFE federation, a migration,
// or simply a mistake), so a chain alone does not make a peer one of ours. Istio trusts its own trust
// domain and meshConfig.trustDomainAliases and denies the rest as an authentication failure; so does this.
import type { AuthorizationCondition, AuthorizationPolicy, AuthorizationSource, SidecarConfig } from '../protocol/index.js';
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

  /**
   * The peer as authorization sees it: an alias's id in the mesh's own trust domain, since Istio makes a
   * principal of the trust domain or of any alias match all of them. The app and the span keep the id as
   * presented. No allocation unless the peer is an alias's.
   */
  canonical(peer: string | null): string | null {
    if (peer === null || this.aliases.length === 0) return peer;
    const end = peer.indexOf('/', SCHEME.length);
    if (end === -1) return peer;
    const domain = peer.slice(SCHEME.length, end);
    return domain !== this.mesh && this.trusted.has(domain) ? `${SCHEME}${this.mesh}${peer.slice(end)}` : peer;
  }

  /** The policies with every principal written in an alias's trust domain moved to the mesh's, once per config. */
  canonicalPolicies(policies: readonly AuthorizationPolicy[]): readonly AuthorizationPolicy[] {
    if (this.aliases.length === 0) return policies;
    const principal = (p: string): string => {
      const end = p.indexOf('/');
      return end > 0 && p.slice(0, end) !== this.mesh && this.trusted.has(p.slice(0, end)) ? `${this.mesh}${p.slice(end)}` : p;
    };
    const list = (values: string[] | undefined): string[] | undefined => values?.map(principal);
    const source = (s: AuthorizationSource): AuthorizationSource => {
      const out: AuthorizationSource = { ...s };
      if (s.principals !== undefined) out.principals = list(s.principals)!;
      if (s.notPrincipals !== undefined) out.notPrincipals = list(s.notPrincipals)!;
      return out;
    };
    const condition = (c: AuthorizationCondition): AuthorizationCondition => {
      if (c.key !== 'source.principal') return c;
      const out: AuthorizationCondition = { ...c };
      if (c.values !== undefined) out.values = list(c.values)!;
      if (c.notValues !== undefined) out.notValues = list(c.notValues)!;
      return out;
    };
    return policies.map((p) => ({
      ...p,
      rules:
        p.rules?.map((r) => ({
          ...r,
          ...(r.from !== undefined ? { from: r.from.map(source) } : {}),
          ...(r.when !== undefined ? { when: r.when.map(condition) } : {}),
        })) ?? null,
    }));
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
