// The translation report: what every production resource and field became locally. Four outcomes, as
// the issue defines them: mapped (exactly), approximated (how), ignored (why), invalid (where: file,
// document index, field path, like Istio's own validation).

export type SourceFormat = 'istio' | 'gateway-api' | 'linkerd' | 'consul';
export const SOURCE_FORMATS: readonly SourceFormat[] = ['istio', 'gateway-api', 'linkerd', 'consul'];

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
  /** The worst outcome of its entries. */
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
  counts: Record<Outcome, number>;
}

const RANK: Record<Outcome, number> = { mapped: 0, approximated: 1, ignored: 2, invalid: 3 };

export function worst(a: Outcome, b: Outcome): Outcome {
  return RANK[a] >= RANK[b] ? a : b;
}

export function summarize(entries: ReportEntry[], docs: Omit<DocumentSummary, 'outcome'>[], unmappedHosts: HostSuggestion[]): TranslationReport {
  const counts: Record<Outcome, number> = { mapped: 0, approximated: 0, ignored: 0, invalid: 0 };
  for (const e of entries) counts[e.outcome]++;
  const documents = docs.map((d) => {
    let outcome: Outcome = 'mapped';
    for (const e of entries) if (e.file === d.file && e.document === d.document && e.kind === d.kind && e.name === d.name) outcome = worst(outcome, e.outcome);
    return { ...d, outcome };
  });
  return { documents, entries, unmappedHosts, counts };
}

export function hasInvalid(report: TranslationReport): boolean {
  return report.counts.invalid > 0;
}

function where(e: ReportEntry): string {
  return `${e.file}${e.line !== undefined ? `:${e.line}` : ''} [document ${e.document}]`;
}

/** The human-readable report: invalid documents first (they block nothing else), then per resource. */
export function formatReport(report: TranslationReport): string {
  const lines: string[] = [];
  const invalid = report.entries.filter((e) => e.outcome === 'invalid');
  if (invalid.length > 0) {
    lines.push('invalid:');
    for (const e of invalid) lines.push(`  ${where(e)} ${e.kind} ${e.name}: ${e.path ? `${e.path}: ` : ''}${e.detail}`);
    lines.push('');
  }
  for (const d of report.documents) {
    const mine = report.entries.filter((e) => e.file === d.file && e.document === d.document && e.kind === d.kind && e.name === d.name && e.outcome !== 'invalid');
    if (mine.length === 0) continue;
    lines.push(`${d.file} [document ${d.document}] ${d.format} ${d.kind} ${d.name}: ${d.outcome}`);
    for (const e of mine) lines.push(`  ${e.outcome.padEnd(12)} ${e.path || '(resource)'}: ${e.detail}`);
  }
  if (report.unmappedHosts.length > 0) {
    lines.push('', 'hosts that map to no local service:');
    for (const h of report.unmappedHosts) lines.push(`  ${h.host}${h.suggestion ? `  (try ${h.suggestion})` : ''}`);
  }
  const c = report.counts;
  lines.push('', `${report.documents.length} resources: ${c.mapped} mapped, ${c.approximated} approximated, ${c.ignored} ignored, ${c.invalid} invalid`);
  return lines.join('\n');
}
