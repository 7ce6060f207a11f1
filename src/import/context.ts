// What every importer shares: the resource being translated with its report sink (every field ends up
// mapped, approximated, ignored or invalid; fields no translator touched are reported as ignored), and
// the session that collects the local policy the resources translate into.
import type { z } from 'zod';
import type { AuthorizationPolicySpec, HttpRouteSpec, MtlsSettingSpec, PolicyFile, TrafficPolicySpec } from '../config/mesh-schema.js';
import type { HostMapper, HostTarget } from './hosts.js';
import { unknownFields, type KnownFields, type UnknownFieldOptions } from './known-fields.js';
import { FORMAT_NAMES, isUnder, type Outcome, type ReportEntry, type SourceFormat } from './report.js';
import type { RawDocument } from './sources.js';

export type Path = (string | number)[];

export function pathText(path: Path): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** A resource being translated, and its share of the report. */
export class Resource {
  private readonly covered = new Set<string>();
  /** This resource's own report lines (paths relative to the resource), for the unknown-field check. */
  private readonly own: { path: string; outcome: Outcome }[] = [];
  invalid = false;

  constructor(
    readonly raw: RawDocument,
    readonly format: SourceFormat | 'unknown',
    readonly apiVersion: string,
    readonly kind: string,
    readonly name: string,
    readonly namespace: string | undefined,
    /** The object the importer reads (a Kubernetes resource, or a Consul config entry). */
    readonly value: Record<string, unknown>,
    private readonly sink: ReportEntry[],
  ) {}

  private add(path: Path, outcome: Outcome, detail: string): void {
    this.covered.add(pathText(path));
    this.own.push({ path: pathText(path), outcome });
    const line = this.raw.lineOf(path);
    this.sink.push({
      file: this.raw.file,
      document: this.raw.document,
      ...(line !== undefined ? { line } : {}),
      format: this.format,
      kind: this.kind,
      name: this.name,
      path: pathText([...this.raw.base, ...path]),
      outcome,
      detail,
    });
  }

  mapped(path: Path, detail: string): void {
    this.add(path, 'mapped', detail);
  }
  approx(path: Path, how: string): void {
    this.add(path, 'approximated', how);
  }
  ignored(path: Path, why: string): void {
    this.add(path, 'ignored', why);
  }
  fail(path: Path, message: string): void {
    this.invalid = true;
    this.add(path, 'invalid', message);
  }
  /** The resource does not apply locally at all (e.g. its target maps nowhere): one line says why, nothing else is listed. */
  skip(path: Path, why: string): void {
    this.ignored(path, why);
    this.skipped = true;
  }
  private skipped = false;
  /** Set by skip(): nothing of the resource applies, whatever its other lines say. */
  get isSkipped(): boolean {
    return this.skipped;
  }

  /** Marks a path as handled without a report line of its own (its parent's line covers it). */
  cover(path: Path): void {
    this.covered.add(pathText(path));
  }

  /** Validates `value` at `path` with a zod schema; issues become invalid entries at their field path. */
  check<S extends z.ZodType>(schema: S, value: unknown, path: Path): z.infer<S> | null {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const issue of r.error.issues.slice(0, 10)) {
      const p = [...path, ...(issue.path as (string | number)[])];
      const msg = issue.code === 'invalid_value' && 'values' in issue ? `Unsupported value: ${JSON.stringify(getIn(value, issue.path as Path))}: supported values: ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` : issue.message;
      this.fail(p, msg);
    }
    return null;
  }

  /** Reports every field under `root` that no translator looked at as ignored. */
  finish(root: Path, why = 'devmesh has no equivalent; not applied locally'): void {
    if (this.invalid || this.skipped) return;
    const walk = (value: unknown, path: Path): void => {
      const text = pathText(path);
      if (this.covered.has(text)) return;
      const under = [...this.covered].some((c) => c.startsWith(`${text}.`) || c.startsWith(`${text}[`));
      if (!under) {
        if (path.length > root.length) this.ignored(path, why);
        return;
      }
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
    };
    walk(getIn(this.value, root), root);
  }

  /**
   * Reports every field under `root` that the importer's schema of known fields does not name, as not
   * mapped: the translation read around it, so without this line the resource would read "mapped". A
   * field that already has a line (or sits under one that is not mapped) is not reported twice.
   */
  reportUnknownFields(known: KnownFields, root: Path, opts: UnknownFieldOptions = {}): void {
    if (this.invalid || this.skipped) return;
    const importer = this.format === 'unknown' ? 'devmesh' : `devmesh's ${FORMAT_NAMES[this.format]} importer`;
    for (const path of unknownFields(getIn(this.value, root), known, root, opts)) {
      const text = pathText(path);
      if (this.own.some((e) => e.path === text || isUnder(e.path, text) || (e.outcome === 'ignored' && isUnder(text, e.path)))) continue;
      this.ignored(path, `not a ${this.kind} field ${importer} reads: dropped`);
    }
  }
}

export function getIn(value: unknown, path: Path): unknown {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

// ---- durations ----

const DEVMESH_DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go/Istio/Consul durations ("1m30s", "300ms", "0.5s"; Consul also takes nanoseconds as a number) → ms. */
export function parseDurationMs(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value / 1e6;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return null;
    total += Number(m[1]) * GO_UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos > 0 ? total : null;
}

export function formatDurationMs(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  if (ms >= 1000 && (ms / 1000) * 1000 === ms && String(ms / 1000).length < 8) return `${ms / 1000}s`;
  return `${Math.round(ms * 1000) / 1000}ms`;
}

/** A duration in devmesh's form: kept as written when devmesh reads it the same, converted otherwise. */
export function devmeshDuration(value: unknown): string | null {
  if (typeof value === 'string' && DEVMESH_DURATION.test(value.trim())) return value.trim();
  const ms = parseDurationMs(value);
  return ms === null ? null : formatDurationMs(ms);
}

// ---- the session ----

export interface IngressSuggestion {
  service: string;
  port: number | null;
  from: string;
}

export interface RouteBlock {
  /** Rules for every caller (VirtualServices bound to the mesh, GAMMA routes, ...). */
  rules: HttpRouteSpec[];
  /** Rules that apply only to traffic entering through the ingress (gateway-bound routes). */
  ingressRules: HttpRouteSpec[];
  from: string[];
}

/** Collects the local policy across all resources of an import. */
export class Session {
  readonly entries: ReportEntry[] = [];
  readonly routes = new Map<string, RouteBlock>();
  readonly policies = new Map<string, TrafficPolicySpec>();
  readonly authorization: AuthorizationPolicySpec[] = [];
  readonly serviceMtls = new Map<string, MtlsSettingSpec>();
  readonly external = new Map<string, { url: string }>();
  mtls: PolicyFile['mtls'];
  tracing: PolicyFile['tracing'];
  /** Which Telemetry set `tracing`: a namespace's overrides the root namespace's. */
  tracingFrom: 'root' | 'namespace' | undefined;
  readonly ingress: IngressSuggestion[] = [];

  constructor(readonly hosts: HostMapper) {}

  addRules(service: string, rules: HttpRouteSpec[], from: string, res: Resource, ingressOnly = false): void {
    let block = this.routes.get(service);
    if (!block) this.routes.set(service, (block = { rules: [], ingressRules: [], from: [] }));
    else if (block.from.length > 0 && !ingressOnly && block.rules.length > 0) {
      res.approx([], `several resources route ${service} (${[...block.from, from].join(', ')}): their rules are concatenated in file order, so the first resource's rules match first`);
    }
    (ingressOnly ? block.ingressRules : block.rules).push(...rules);
    block.from.push(from);
  }

  /**
   * A service's final rule list. Ingress-only rules come first (they match only callers labelled
   * app=ingress); ingress traffic they do not match gets the 404 a production gateway gives; every other
   * caller falls through to the mesh rules, or to the plain default route when there are none.
   */
  rulesOf(service: string, block: RouteBlock): HttpRouteSpec[] {
    if (block.ingressRules.length === 0) return block.rules;
    return [
      ...block.ingressRules,
      { name: 'ingress-no-match', match: [{ sourceLabels: { app: 'ingress' } }], directResponse: { status: 404 } },
      ...(block.rules.length > 0 ? block.rules : [{ name: 'mesh-default', route: [{ destination: { host: service } }] }]),
    ];
  }

  policyFor(service: string): TrafficPolicySpec {
    let p = this.policies.get(service);
    if (!p) this.policies.set(service, (p = {}));
    return p;
  }

  /** A resolved destination's local form, or null when it maps nowhere. */
  target(host: string): HostTarget | null {
    return this.hosts.resolve(host);
  }

  toPolicy(): PolicyFile {
    const out: PolicyFile = {};
    if (this.mtls) out.mtls = this.mtls;
    if (this.tracing) out.tracing = this.tracing;
    if (this.routes.size) out.routes = Object.fromEntries([...this.routes].map(([k, v]) => [k, this.rulesOf(k, v)]));
    const policies = [...this.policies].filter(([, p]) => Object.keys(p).length > 0);
    if (policies.length) out.policies = Object.fromEntries(policies);
    if (this.authorization.length) out.authorization = this.authorization;
    if (this.serviceMtls.size) out.serviceMtls = Object.fromEntries(this.serviceMtls);
    if (this.external.size) out.external = Object.fromEntries(this.external);
    return out;
  }
}

/** Services selected by Kubernetes labels: `app` (or app.kubernetes.io/name) names the service. */
export function servicesOfLabels(
  session: Session,
  labels: Record<string, string> | undefined,
): { services: string[]; version?: string; unmapped: string[]; otherLabels: string[] } | 'all' {
  if (!labels || Object.keys(labels).length === 0) return 'all';
  const app = labels.app ?? labels['app.kubernetes.io/name'] ?? labels['k8s-app'] ?? labels.service;
  const otherLabels = Object.keys(labels).filter((k) => !['app', 'app.kubernetes.io/name', 'k8s-app', 'service', 'version'].includes(k));
  const version = labels.version;
  if (app === undefined) return { services: [], ...(version ? { version } : {}), unmapped: [], otherLabels };
  const t = session.hosts.resolve(app);
  if (!t || t.kind !== 'service') return { services: [], ...(version ? { version } : {}), unmapped: [app], otherLabels };
  return { services: [t.service], ...(version ?? t.subset ? { version: version ?? t.subset } : {}), unmapped: [], otherLabels };
}
