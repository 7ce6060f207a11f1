// What every exporter shares: the result shape, YAML output, Kubernetes names and durations.
import { stringify } from 'yaml';
import { durationMs, type HttpRouteSpec, type MeshFile } from '../config/mesh-schema.js';
import { ISTIO_DEFAULT_RETRIES } from '../mesh-semantics/defaults.js';

/** The formats and Consul's two forms are the API contract's (the UI lists them from there). */
export { CONSUL_FORMS, EXPORT_FORMATS, type ConsulForm, type ExportFormat } from '../contract/api.js';

export interface ExportResult {
  /** Everything, as one text for stdout (YAML documents, or HCL files each under a `# <file>` line). */
  yaml: string;
  /** What the target format cannot express, located (`routes.reviews[1] (split): …`); the CLI prints these on stderr. */
  notes: string[];
  /** The same output as separate files, when the format is one entry per file (Consul HCL). */
  files?: { name: string; text: string }[];
}

export const NS = 'default';

export function docs(list: object[]): string {
  return list.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}

/** `routes.reviews[1] (split)`: where a rule is in the mesh file. */
export function ruleWhere(key: string, i: number, r: HttpRouteSpec): string {
  return `routes.${key}[${i}]${r.name ? ` (${r.name})` : ''}`;
}

/** A service's Kubernetes Service for one version, as the importers read it back (reviews-v2). */
export function backendName(service: string, subset: string | undefined): string {
  return subset ? `${service}-${subset}` : service;
}

/** A DNS-1123 name made of parts (policy names may hold any character). */
export function k8sName(...parts: string[]): string {
  const n = parts.join('-').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');
  return (n || 'policy').slice(0, 63).replace(/-$/, '');
}

/** A duration as Gateway API, Linkerd and Go accept it: whole seconds or milliseconds (1.5s → 1500ms). */
export function wholeDuration(d: string): string {
  const ms = durationMs(d);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

/** The retries a rule has, Istio's implicit default filled in (a fault turns them off). */
export function ruleRetries(r: HttpRouteSpec): NonNullable<HttpRouteSpec['retries']> {
  return r.fault ? { attempts: 0 } : r.retries ?? { ...ISTIO_DEFAULT_RETRIES };
}

/** The version Services the HTTPRoute backends name (reviews-v2), as `export --to gateway-api` writes them. */
export function versionServices(mesh: MeshFile): object[] {
  const out: object[] = [];
  for (const [name, svc] of Object.entries(mesh.services)) {
    for (const v of Object.keys(svc.versions ?? {})) {
      out.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `${name}-${v}`, namespace: NS }, spec: { selector: { app: name, version: v }, ports: [{ port: mesh.services[name]?.port ?? 80, name: 'http' }] } });
    }
  }
  return out;
}

/**
 * A rule's destinations as Gateway API backendRefs (Gateway API and Linkerd's HTTPRoute share the shape):
 * one Service per version, a weight when there are several, the destination's header changes as filters.
 */
export function backendRefs(route: NonNullable<HttpRouteSpec['route']>, key: string, portOf: (service: string) => number): Record<string, unknown>[] {
  return route.map((d) => {
    const host = d.destination.host ?? key;
    const ref: Record<string, unknown> = { name: backendName(host, d.destination.subset), port: d.destination.port?.number ?? portOf(host) };
    if (route.length > 1) ref.weight = d.weight ?? 0;
    const bf: object[] = [];
    if (d.headers?.request) bf.push({ type: 'RequestHeaderModifier', requestHeaderModifier: headerMod(d.headers.request) });
    if (d.headers?.response) bf.push({ type: 'ResponseHeaderModifier', responseHeaderModifier: headerMod(d.headers.response) });
    if (bf.length) ref.filters = bf;
    return ref;
  });
}

export function headerMod(ops: NonNullable<NonNullable<HttpRouteSpec['headers']>['request']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (ops.set) out.set = Object.entries(ops.set).map(([name, value]) => ({ name, value }));
  if (ops.add) out.add = Object.entries(ops.add).map(([name, value]) => ({ name, value }));
  if (ops.remove) out.remove = ops.remove;
  return out;
}
