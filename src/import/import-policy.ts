// `devmesh import`: production mesh configuration → a devmesh policy file and a translation report.
// Each document is detected (or forced with `from`), validated where it is read, and translated; an
// invalid document is reported with file, document index and field path and the rest still imports.
import type { MeshFile, PolicyFile } from '../config/mesh-schema.js';
import { Resource, Session, type IngressSuggestion } from './context.js';
import { translateConsul, isConsulEntry } from './consul/consul.js';
import { translateGatewayApi } from './gateway-api/gateway-api.js';
import { HostMapper, type LocalMesh } from './hosts.js';
import { ISTIO_GROUPS, translateIstio } from './istio/istio.js';
import { isLinkerdAnnotated, translateLinkerd } from './linkerd/linkerd.js';
import { CONSUL_KNOWN, consulKnownKey } from './consul/known-fields.js';
import { GATEWAY_API_KNOWN } from './gateway-api/known-fields.js';
import { ISTIO_KNOWN } from './istio/known-fields.js';
import type { KnownKinds } from './known-fields.js';
import { LINKERD_KNOWN } from './linkerd/known-fields.js';
import { summarize, type DocumentInput, type SourceFormat, type TranslationReport } from './report.js';
import { documentsOf, type InputFile, type RawDocument } from './sources.js';

export interface ImportOptions {
  /** Force the source format; documents of another format are reported as ignored. */
  from?: SourceFormat;
  /** prod name → local name (or local/version). */
  map?: Record<string, string>;
  /** The local mesh the policy is for; without it, every Kubernetes name maps to the same local name. */
  mesh?: MeshFile | null;
}

export interface ImportResult {
  policy: PolicyFile;
  report: TranslationReport;
  /** Ingress entries the production gateways imply (a policy file cannot add them). */
  ingress: IngressSuggestion[];
}

export function localMeshOf(mesh: MeshFile): LocalMesh {
  return {
    services: Object.fromEntries(Object.entries(mesh.services).map(([n, s]) => [n, Object.keys(s.versions ?? {})])),
    externals: Object.fromEntries(Object.entries(mesh.external ?? {}).map(([n, e]) => [n, e.url])),
    ingressServices: mesh.ingress.map((i) => i.service),
  };
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
}

/** The format of one parsed document, or null when it is none devmesh imports. */
export function detectFormat(value: Record<string, unknown>): SourceFormat | null {
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : '';
  const group = groupOf(apiVersion);
  if (ISTIO_GROUPS.includes(group)) return 'istio';
  if (group === 'policy.linkerd.io' || group === 'linkerd.io' || group.endsWith('.linkerd.io')) return 'linkerd';
  if (group === 'consul.hashicorp.com') return 'consul';
  if (group === 'gateway.networking.k8s.io') return isLinkerdAnnotated(value) ? 'linkerd' : 'gateway-api';
  if (apiVersion === 'v1' && value.kind === 'Service' && isLinkerdAnnotated(value)) return 'linkerd';
  if (!apiVersion && isConsulEntry(value)) return 'consul';
  return null;
}

function resourceOf(raw: RawDocument, session: Session, from: SourceFormat | undefined): Resource | null {
  const v = raw.value;
  const push = (kind: string, name: string, path: (string | number)[], outcome: 'invalid' | 'ignored', detail: string) => {
    const line = raw.lineOf(path);
    session.entries.push({ file: raw.file, document: raw.document, ...(line !== undefined ? { line } : {}), format: from ?? 'unknown', kind, name, path: path.join('.'), outcome, detail });
  };
  if (raw.error) {
    session.entries.push({ file: raw.file, document: raw.document, ...(raw.error.line !== undefined ? { line: raw.error.line } : {}), format: from ?? 'unknown', kind: '-', name: '-', path: '', outcome: 'invalid', detail: raw.error.message });
    return null;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    push('-', '-', [], 'invalid', 'a resource must be a map (with apiVersion and kind, or a Consul Kind)');
    return null;
  }
  const obj = v as Record<string, unknown>;
  const detected = detectFormat(obj);
  const meta = (obj.metadata && typeof obj.metadata === 'object' ? obj.metadata : {}) as Record<string, unknown>;
  const consul = detected === 'consul' && !obj.apiVersion;
  const kind = String((consul ? obj.Kind ?? obj.kind : obj.kind) ?? '-');
  const name = String((consul ? obj.Name ?? obj.name : meta.name) ?? '-');
  if (!detected) {
    if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') push(kind, name, [], 'invalid', 'not a Kubernetes resource (apiVersion and kind) nor a Consul config entry (Kind)');
    else push(kind, name, [], 'ignored', `${obj.apiVersion} ${obj.kind} is not mesh policy devmesh imports`);
    return null;
  }
  let format = detected;
  if (from && from !== detected) {
    const compatible = (from === 'linkerd' && detected === 'gateway-api') || (from === 'gateway-api' && detected === 'linkerd' && groupOf(String(obj.apiVersion ?? '')) === 'gateway.networking.k8s.io');
    if (!compatible) {
      push(kind, name, [], 'ignored', `a ${detected} resource, and --from ${from} was given`);
      return null;
    }
    format = from;
  }
  if (!consul && (typeof meta.name !== 'string' || meta.name === '')) {
    const r = new Resource(raw, format, String(obj.apiVersion), kind, name, undefined, obj, session.entries);
    r.fail(['metadata', 'name'], 'Required');
    return r;
  }
  return new Resource(raw, format, String(obj.apiVersion ?? ''), kind, name, typeof meta.namespace === 'string' ? meta.namespace : undefined, obj, session.entries);
}

const KNOWN: Record<SourceFormat, KnownKinds> = { istio: ISTIO_KNOWN, 'gateway-api': GATEWAY_API_KNOWN, linkerd: LINKERD_KNOWN, consul: CONSUL_KNOWN };

/** Translates production configuration into a devmesh policy file for `opts.mesh`. Never throws on input. */
export function importPolicy(inputs: InputFile[], opts: ImportOptions = {}): ImportResult {
  const hosts = new HostMapper(opts.mesh ? localMeshOf(opts.mesh) : null, opts.map ?? {});
  const session = new Session(hosts);
  const resources: Resource[] = [];
  const docs: (DocumentInput & { res?: Resource })[] = [];
  for (const input of inputs) {
    for (const raw of documentsOf(input)) {
      const before = session.entries.length;
      const r = resourceOf(raw, session, opts.from);
      if (r) {
        resources.push(r);
        docs.push({ file: raw.file, document: raw.document, format: r.format, kind: r.kind, name: r.name, res: r });
      } else if (session.entries.length > before) {
        const e = session.entries[session.entries.length - 1]!;
        docs.push({ file: raw.file, document: raw.document, format: e.format, kind: e.kind, name: e.name });
      }
    }
  }
  const valid = resources.filter((r) => !r.invalid);
  const guard = (format: SourceFormat, fn: (rs: Resource[], s: Session) => void) => {
    const mine = valid.filter((r) => r.format === format);
    if (mine.length === 0) return;
    try {
      fn(mine, session);
    } catch (err) {
      // A translator bug must not take the import down: say so, per resource.
      for (const r of mine) r.fail([], `internal error while translating: ${(err as Error).message}`);
    }
  };
  guard('istio', translateIstio);
  guard('gateway-api', (rs, s) => translateGatewayApi(rs, s, 'gateway-api'));
  guard('linkerd', translateLinkerd);
  guard('consul', translateConsul);
  // What no translator read is dropped: each importer's schema of the fields it reads says which.
  for (const r of valid) {
    if (r.format === 'unknown') continue;
    const kinds = KNOWN[r.format];
    const known = kinds[r.kind] ?? (r.format === 'linkerd' ? GATEWAY_API_KNOWN[r.kind] : undefined);
    if (known) r.reportUnknownFields(known.fields, known.root, r.format === 'consul' ? { key: consulKnownKey } : {});
  }
  const report = summarize(session.entries, docs.map(({ res, ...d }) => ({ ...d, skipped: res?.isSkipped ?? false })), hosts.suggestions());
  return { policy: session.toPolicy(), report, ingress: session.ingress };
}
