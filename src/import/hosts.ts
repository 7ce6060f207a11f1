// Kubernetes hosts → local services. `reviews`, `reviews.default`, `reviews.default.svc` and
// `reviews.default.svc.cluster.local` all name the local service `reviews`; `--map prod=local` (or
// `prod=local/version`, for a production Service that is one version of a local one) fixes the rest.
// Hosts that map nowhere are collected with a suggestion for the report.
import type { HostSuggestion } from './report.js';

export interface LocalMesh {
  /** Service name → its version keys ([] for a service without versions). */
  services: Record<string, string[]>;
  /** External destination name → its URL. */
  externals: Record<string, string>;
  /** Services that have an ingress entry in the mesh file. */
  ingressServices: string[];
}

export type HostTarget =
  | { kind: 'service'; service: string; subset?: string; how: 'name' | 'map' | 'version-name' }
  | { kind: 'external'; name: string };

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isName(s: string): boolean {
  return s.length <= 63 && NAME.test(s);
}

/** "reviews.default.svc.cluster.local:9080" → "reviews"; null for a host that is not a Kubernetes service name. */
export function kubernetesShortName(host: string): string | null {
  const h = String(host).replace(/:\d+$/, '').toLowerCase();
  const labels = h.split('.');
  if (labels.some((l) => !isName(l))) return null;
  if (labels.length === 1) return labels[0]!;
  if (labels.length === 2) return labels[0]!; // name.namespace
  if (labels[2] === 'svc') return labels[0]!; // name.namespace.svc[.cluster.domain]
  return null;
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

export class HostMapper {
  private readonly unmapped = new Map<string, string | null>();
  /** Hosts of ServiceEntries in this import: host → external name. */
  readonly importedExternals = new Map<string, string>();

  constructor(
    readonly local: LocalMesh | null,
    private readonly map: Record<string, string> = {},
  ) {}

  /** Parses "prod=local" options; throws on a malformed one (a usage error). */
  static parseMaps(specs: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const spec of specs) {
      const m = /^([^=\s]+)=([a-z0-9][-a-z0-9]*)(?:\/([a-z0-9][-a-z0-9]*))?$/.exec(spec.trim());
      if (!m) throw new Error(`--map "${spec}": expected prod=local or prod=local/version`);
      out[m[1]!.toLowerCase()] = m[3] ? `${m[2]}/${m[3]}` : m[2]!;
    }
    return out;
  }

  private fromMap(key: string): HostTarget | null {
    const v = this.map[key.toLowerCase()];
    if (v === undefined) return null;
    const [service, subset] = v.split('/') as [string, string | undefined];
    return { kind: 'service', service, ...(subset ? { subset } : {}), how: 'map' };
  }

  private externalFor(host: string): string | null {
    const h = host.replace(/:\d+$/, '').toLowerCase();
    const imported = this.importedExternals.get(h);
    if (imported) return imported;
    for (const [name, url] of Object.entries(this.local?.externals ?? {})) {
      try {
        if (new URL(url).hostname === h) return name;
      } catch {
        /* the schema validated it */
      }
    }
    return null;
  }

  /** A host (or a bare service name from a label or a backendRef) → a local service or external. Unmapped: null, remembered. */
  resolve(input: string): HostTarget | null {
    const host = String(input ?? ''); // labels and refs in malformed input may be numbers
    const mapped = this.fromMap(host) ?? this.fromMap(host.replace(/:\d+$/, ''));
    if (mapped) return mapped;
    const ext = this.externalFor(host);
    if (ext) return { kind: 'external', name: ext };
    const short = kubernetesShortName(host);
    if (short !== null) {
      const byShort = this.fromMap(short);
      if (byShort) return byShort;
      if (!this.local) return { kind: 'service', service: short, how: 'name' };
      if (short in this.local.services) return { kind: 'service', service: short, how: 'name' };
      // A production Service per version (GAMMA style, and what `devmesh export --to gateway-api` writes): reviews-v2.
      for (const [svc, versions] of Object.entries(this.local.services)) {
        for (const v of versions) if (short === `${svc}-${v}`) return { kind: 'service', service: svc, subset: v, how: 'version-name' };
      }
    }
    this.remember(host, short);
    return null;
  }

  private remember(host: string, short: string | null): void {
    if (this.unmapped.has(host)) return;
    this.unmapped.set(host, this.suggest(short ?? host));
  }

  /** Records a name that maps nowhere (e.g. an `app` label). */
  noteUnmapped(name: string): void {
    this.remember(String(name), kubernetesShortName(String(name)));
  }

  private suggest(name: string): string | null {
    if (!this.local) return null;
    const services = Object.keys(this.local.services);
    for (const [svc, versions] of Object.entries(this.local.services)) {
      for (const v of versions) if (name.startsWith(`${svc}-`) && name.endsWith(v)) return `--map ${name}=${svc}/${v}`;
    }
    const stripped = name.replace(/-(svc|service|api|server|app|deployment)$/, '');
    if (stripped !== name && services.includes(stripped)) return `--map ${name}=${stripped}`;
    const close = services
      .map((s) => ({ s, d: levenshtein(s, name) }))
      .filter((x) => x.d <= Math.max(2, Math.floor(name.length / 4)) || name.includes(x.s) || x.s.includes(name))
      .sort((a, b) => a.d - b.d)[0];
    return close ? `--map ${name}=${close.s}` : null;
  }

  suggestions(): HostSuggestion[] {
    return [...this.unmapped].map(([host, suggestion]) => ({ host, suggestion }));
  }

  versionsOf(service: string): string[] | null {
    if (!this.local) return null;
    return this.local.services[service] ?? null;
  }
}
