// The translation report: what every production resource and field became locally. Four outcomes, as
// the issue defines them: mapped (exactly), approximated (how), ignored (why; a field that is ignored
// reads "not mapped"), invalid (where: file, document index, field path, like Istio's own validation).
// A resource is counted once, by what it became as a whole: mapped only when everything in it was;
// approximated (partly mapped) when something of it applies and something was changed or dropped;
// ignored when nothing of it applies; invalid when a field is.

export type SourceFormat = 'istio' | 'gateway-api' | 'linkerd' | 'consul';
export const SOURCE_FORMATS: readonly SourceFormat[] = ['istio', 'gateway-api', 'linkerd', 'consul'];
export const FORMAT_NAMES: Record<SourceFormat, string> = { istio: 'Istio', 'gateway-api': 'Gateway API', linkerd: 'Linkerd', consul: 'Consul' };

export type Outcome = 'mapped' | 'approximated' | 'ignored' | 'invalid';

export interface ReportEntry {
  file: string;
  /** 0-based index of the document in its file (YAML stream position, or 0 for JSON/HCL). */
  document: number;
  /** 1-based line of the field, when the source has positions. */
  line?: number;
  format: SourceFormat | 'unknown';
  kind: string;
  name: string;
  /** Field path inside the resource, e.g. spec.http[0].retries; "" for the resource as a whole. */
  path: string;
  outcome: Outcome;
  /** mapped: what it became; approximated: how; ignored: why; invalid: what is wrong. */
  detail: string;
}

export interface DocumentSummary {
  file: string;
  document: number;
  format: SourceFormat | 'unknown';
  kind: string;
  name: string;
  /** The resource as a whole: see resourceOutcome. */
  outcome: Outcome;
}

export interface HostSuggestion {
  host: string;
  /** e.g. "--map emoji-svc=emoji"; null when nothing local looks like it. */
  suggestion: string | null;
}

export interface TranslationReport {
  documents: DocumentSummary[];
  entries: ReportEntry[];
  /** Production hosts that map to no local service, with a `--map` suggestion. */
  unmappedHosts: HostSuggestion[];
  /** Resources (documents) by their outcome as a whole. */
  counts: Record<Outcome, number>;
  /** Report lines (fields) by outcome. */
  fieldCounts: Record<Outcome, number>;
}

/** Whether field path `path` lies under `parent` ("" is the resource itself). */
export function isUnder(path: string, parent: string): boolean {
  return parent === '' ? path !== '' : path.startsWith(`${parent}.`) || path.startsWith(`${parent}[`);
}

/**
 * A resource's lines as they stand: a mapped or approximated line under a field that is not mapped is
 * moot (that field, and all in it, does not apply), and so is every such line of a resource its importer
 * skipped as a whole; those read "not mapped", with the reason.
 */
export function settleLines(lines: ReportEntry[], skipped = false): ReportEntry[] {
  if (lines.some((e) => e.outcome === 'invalid')) return lines;
  const dropped = lines.filter((e) => e.outcome === 'ignored').map((e) => e.path);
  return lines.map((e) => {
    if (e.outcome === 'ignored') return e;
    const under = dropped.find((d) => e.path === d || isUnder(e.path, d));
    if (under === undefined && !skipped) return e;
    const why = under !== undefined ? `${under || 'the resource'} is not mapped` : `nothing of ${e.kind} ${e.name} applies`;
    return { ...e, outcome: 'ignored', detail: `${e.detail} (not applied: ${why})` };
  });
}

/** A resource's outcome from its settled lines (settleLines). */
export function resourceOutcome(lines: Pick<ReportEntry, 'outcome'>[]): Outcome {
  if (lines.some((e) => e.outcome === 'invalid')) return 'invalid';
  if (lines.length > 0 && lines.every((e) => e.outcome === 'ignored')) return 'ignored';
  return lines.every((e) => e.outcome === 'mapped') ? 'mapped' : 'approximated';
}

export type DocumentInput = Omit<DocumentSummary, 'outcome'> & { skipped?: boolean };

export function summarize(lines: ReportEntry[], docs: DocumentInput[], unmappedHosts: HostSuggestion[]): TranslationReport {
  const counts: Record<Outcome, number> = { mapped: 0, approximated: 0, ignored: 0, invalid: 0 };
  const fieldCounts: Record<Outcome, number> = { mapped: 0, approximated: 0, ignored: 0, invalid: 0 };
  const settled = new Map<ReportEntry, ReportEntry>();
  const documents = docs.map(({ skipped, ...d }) => {
    const own = lines.filter((e) => ownedBy(e, d));
    const now = settleLines(own, skipped);
    own.forEach((e, i) => settled.set(e, now[i]!));
    const outcome = resourceOutcome(now);
    counts[outcome]++;
    return { ...d, outcome };
  });
  const entries = lines.map((e) => settled.get(e) ?? e);
  for (const e of entries) fieldCounts[e.outcome]++;
  return { documents, entries, unmappedHosts, counts, fieldCounts };
}

function ownedBy(e: ReportEntry, d: Omit<DocumentSummary, 'outcome'>): boolean {
  return e.file === d.file && e.document === d.document && e.kind === d.kind && e.name === d.name;
}

export function hasInvalid(report: TranslationReport): boolean {
  return report.counts.invalid > 0;
}

function where(e: ReportEntry): string {
  return `${e.file}${e.line !== undefined ? `:${e.line}` : ''} [document ${e.document}]`;
}

const RESOURCE_WORD: Record<Outcome, string> = { mapped: 'mapped', approximated: 'approximated (partly mapped)', ignored: 'ignored (nothing of it applies)', invalid: 'invalid' };
const FIELD_WORD: Record<Outcome, string> = { mapped: 'mapped', approximated: 'approximated', ignored: 'not mapped', invalid: 'invalid' };

/**
 * The human-readable report: invalid documents first (they block nothing else), then per resource, then
 * the fields dropped from resources that otherwise apply (what a reader must not miss), the hosts that
 * map to nothing, and the counts of resources and of fields.
 */
export function formatReport(report: TranslationReport): string {
  const lines: string[] = [];
  const invalid = report.entries.filter((e) => e.outcome === 'invalid');
  if (invalid.length > 0) {
    lines.push('invalid:');
    for (const e of invalid) lines.push(`  ${where(e)} ${e.kind} ${e.name}: ${e.path ? `${e.path}: ` : ''}${e.detail}`);
    lines.push('');
  }
  const dropped: string[] = [];
  for (const d of report.documents) {
    const mine = report.entries.filter((e) => ownedBy(e, d) && e.outcome !== 'invalid');
    if (mine.length === 0) continue;
    lines.push(`${d.file} [document ${d.document}] ${d.format} ${d.kind} ${d.name}: ${RESOURCE_WORD[d.outcome]}`);
    for (const e of mine) lines.push(`  ${FIELD_WORD[e.outcome].padEnd(12)} ${e.path || '(resource)'}: ${e.detail}`);
    if (d.outcome === 'approximated') for (const e of mine) if (e.outcome === 'ignored') dropped.push(`  ${d.kind} ${d.name}: ${e.path || '(resource)'} not mapped: ${e.detail}`);
  }
  if (dropped.length > 0) lines.push('', 'not mapped, in resources that otherwise apply:', ...dropped);
  if (report.unmappedHosts.length > 0) {
    lines.push('', 'hosts that map to no local service (their rules are not mapped):');
    for (const h of report.unmappedHosts) lines.push(`  ${h.host}${h.suggestion ? `  (try ${h.suggestion})` : ''}`);
  }
  const c = report.counts;
  const f = report.fieldCounts;
  lines.push(
    '',
    `${report.documents.length} resource${report.documents.length === 1 ? '' : 's'}: ${c.mapped} mapped, ${c.approximated} approximated, ${c.ignored} ignored, ${c.invalid} invalid`,
    `fields: ${f.mapped} mapped, ${f.approximated} approximated, ${f.ignored} not mapped, ${f.invalid} invalid`,
  );
  return lines.join('\n');
}
