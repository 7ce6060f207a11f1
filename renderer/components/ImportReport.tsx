// The import's translation report: per resource, per field, what became of it (mapped / approximated how /
// ignored why / invalid where), with counts that double as filters, a text filter, and the production hosts
// that map to no local service with a one-click "map to" where the API suggests one.
import { useId, useMemo, useState } from 'react';
import type { ImportOutcome, ImportReport, ImportReportEntry } from '../../src/contract/api';

export const OUTCOMES: readonly ImportOutcome[] = ['mapped', 'approximated', 'ignored', 'invalid'];

const OUTCOME_CLASS: Record<ImportOutcome, string> = {
  mapped: 'state-good',
  approximated: 'state-warn',
  ignored: 'state-idle',
  invalid: 'state-bad',
};

/** What the detail column means for each outcome. */
const DETAIL_LABEL: Record<ImportOutcome, string> = {
  mapped: 'became',
  approximated: 'how',
  ignored: 'why',
  invalid: 'problem',
};

export function OutcomeBadge({ outcome }: { outcome: ImportOutcome }) {
  return <span className={`badge ${OUTCOME_CLASS[outcome]}`}>{outcome}</span>;
}

/** `--map prod=local` (the CLI's form of a suggestion) → the pair, or null. */
export function parseSuggestion(suggestion: string | null): { prod: string; local: string } | null {
  const m = suggestion ? /^(?:--map\s+)?([^=\s]+)=(\S+)$/.exec(suggestion.trim()) : null;
  return m ? { prod: m[1]!, local: m[2]! } : null;
}

interface Resource {
  key: string;
  file: string;
  document: number;
  kind: string;
  name: string;
  format: string;
  outcome: ImportOutcome;
  entries: ImportReportEntry[];
  /** Fields per outcome, before any filter. */
  tally: Record<ImportOutcome, number>;
}

const SEVERITY: Record<ImportOutcome, number> = { mapped: 0, ignored: 1, approximated: 2, invalid: 3 };

function emptyTally(): Record<ImportOutcome, number> {
  return { mapped: 0, approximated: 0, ignored: 0, invalid: 0 };
}

function groupResources(report: ImportReport): Resource[] {
  const byKey = new Map<string, Resource & { listed: boolean }>();
  const keyOf = (x: { file: string; document: number; kind: string; name: string }) => `${x.file}\u0000${x.document}\u0000${x.kind}\u0000${x.name}`;
  for (const d of report.documents) {
    const key = keyOf(d);
    if (!byKey.has(key)) byKey.set(key, { key, file: d.file, document: d.document, kind: d.kind, name: d.name, format: d.format, outcome: d.outcome, entries: [], tally: emptyTally(), listed: true });
  }
  for (const e of report.entries) {
    const key = keyOf(e);
    let r = byKey.get(key);
    if (!r) {
      // An entry of a resource the document list does not name (e.g. an item of a List): its own group,
      // as bad as its worst field.
      r = { key, file: e.file, document: e.document, kind: e.kind, name: e.name, format: e.format, outcome: e.outcome, entries: [], tally: emptyTally(), listed: false };
      byKey.set(key, r);
    }
    r.entries.push(e);
    r.tally[e.outcome]++;
    if (!r.listed && SEVERITY[e.outcome] > SEVERITY[r.outcome]) r.outcome = e.outcome;
  }
  return [...byKey.values()];
}

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

interface Props {
  report: ImportReport;
  /** Local services (and service/version) a host can be mapped to. */
  localTargets: string[];
  /** Adds prod=local to the name mappings and previews again. */
  onMap(prod: string, local: string): void;
  busy: boolean;
}

export function ImportReportView({ report, localTargets, onMap, busy }: Props) {
  const [shown, setShown] = useState<Record<ImportOutcome, boolean>>({ mapped: true, approximated: true, ignored: true, invalid: true });
  const [text, setText] = useState('');
  const resources = useMemo(() => groupResources(report), [report]);
  const needle = text.trim().toLowerCase();
  const matches = (e: ImportReportEntry) =>
    shown[e.outcome] && (!needle || [e.file, e.kind, e.name, e.path, e.detail].some((s) => s.toLowerCase().includes(needle)));
  const visible = resources
    .map((r) => ({ ...r, entries: r.entries.filter(matches) }))
    .filter((r, i) => {
      if (r.entries.length > 0) return true;
      // A resource without any field entry still shows when its own outcome and the text filter allow.
      const all = resources[i]!.entries.length;
      return all === 0 && shown[r.outcome] && (!needle || `${r.file} ${r.kind} ${r.name}`.toLowerCase().includes(needle));
    });
  const shownEntries = visible.reduce((n, r) => n + r.entries.length, 0);
  const allOn = OUTCOMES.every((o) => shown[o]);
  const multiFile = new Set(resources.map((r) => r.file)).size > 1;
  const filterId = useId();

  return (
    <div className="import-report" data-testid="import-report">
      <div className="report-toolbar" role="group" aria-label="Filter the report by outcome">
        {OUTCOMES.map((o) => (
          <button
            key={o}
            type="button"
            className={`count-toggle ${shown[o] ? 'on' : 'off'}`}
            aria-pressed={shown[o]}
            onClick={() => setShown((s) => ({ ...s, [o]: !s[o] }))}
            data-testid={`import-count-${o}`}
            data-count={report.fieldCounts[o]}
            title={shown[o] ? `Hide ${o} fields` : `Show ${o} fields`}
          >
            <OutcomeBadge outcome={o} /> <strong>{report.fieldCounts[o]}</strong>
          </button>
        ))}
        {!allOn && (
          <button type="button" className="btn btn-small" onClick={() => setShown({ mapped: true, approximated: true, ignored: true, invalid: true })}>
            show all
          </button>
        )}
        <label htmlFor={filterId} className="filter">
          filter
        </label>
        <input id={filterId} type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="path, kind, name, detail…" data-testid="import-report-filter" />
        <span className="muted small" data-testid="import-report-shown">
          {shownEntries} of {report.entries.length} fields · {resources.length} resource{resources.length === 1 ? '' : 's'}: {report.counts.mapped} mapped, {report.counts.approximated} approximated, {report.counts.ignored} ignored, {report.counts.invalid} invalid
        </span>
      </div>

      {report.unmappedHosts.length > 0 && (
        <UnmappedHosts hosts={report.unmappedHosts} localTargets={localTargets} onMap={onMap} busy={busy} />
      )}

      {visible.length === 0 ? (
        <p className="empty">{report.entries.length === 0 && resources.length === 0 ? 'No resources found in the input.' : 'No field matches the filters.'}</p>
      ) : (
        <div className="report-resources">
          {visible.map((r) => (
            <section key={r.key} className="report-resource" data-testid="import-resource" data-kind={r.kind} data-name={r.name} data-outcome={r.outcome}>
              <h3>
                <OutcomeBadge outcome={r.outcome} /> <span className="resource-kind">{r.kind}</span> <span className="mono">{r.name}</span>
                <span className="muted small" title={r.file}>
                  {' '}
                  {multiFile || r.document > 0 ? `${baseName(r.file)} [document ${r.document}]` : baseName(r.file)} · {r.format}
                </span>
                <span className="muted small resource-tally">
                  {OUTCOMES.filter((o) => r.tally[o] > 0)
                    .map((o) => `${r.tally[o]} ${o}`)
                    .join(' · ')}
                </span>
              </h3>
              {r.entries.length > 0 && (
                <table className="grid report-fields">
                  <colgroup>
                    <col className="col-field" />
                    <col className="col-outcome" />
                    <col />
                    <col className="col-line" />
                  </colgroup>
                  <thead>
                    <tr>
                      <th>field</th>
                      <th>outcome</th>
                      <th>detail</th>
                      <th className="num">line</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.entries.map((e, i) => (
                      <tr key={i} data-testid="import-entry" data-outcome={e.outcome} data-path={e.path} className={`entry-${e.outcome}`}>
                        <td className="mono field-path">{e.path || '(resource)'}</td>
                        <td>
                          <OutcomeBadge outcome={e.outcome} />
                        </td>
                        <td>
                          <span className="muted small detail-label">{DETAIL_LABEL[e.outcome]}:</span> {e.detail}
                          {e.outcome === 'invalid' && (
                            <div className="mono small error-text" data-testid="import-invalid-location">
                              {baseName(e.file)}
                              {e.line !== undefined ? `:${e.line}` : ''} [document {e.document}] {e.kind} {e.name}: {e.path}
                            </div>
                          )}
                        </td>
                        <td className="num mono muted">{e.line ?? ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          ))}
        </div>
      )}
    </div>
  );
}

function UnmappedHosts({ hosts, localTargets, onMap, busy }: { hosts: ImportReport['unmappedHosts']; localTargets: string[]; onMap(prod: string, local: string): void; busy: boolean }) {
  return (
    <div className="unmapped" data-testid="import-unmapped">
      <h4>Hosts that map to no local service ({hosts.length})</h4>
      <p className="muted small">Their rules are not applied. Map a production name to a local service (or service/version) and the preview runs again.</p>
      <ul>
        {hosts.map((h) => (
          <UnmappedHost key={h.host} host={h.host} suggestion={h.suggestion} localTargets={localTargets} onMap={onMap} busy={busy} />
        ))}
      </ul>
    </div>
  );
}

function UnmappedHost({ host, suggestion, localTargets, onMap, busy }: { host: string; suggestion: string | null; localTargets: string[]; onMap(prod: string, local: string): void; busy: boolean }) {
  const suggested = parseSuggestion(suggestion);
  const [target, setTarget] = useState('');
  const selectId = useId();
  // The name to map: the suggestion's (the short Kubernetes name) or the host as written.
  const prod = suggested?.prod ?? host;
  return (
    <li data-testid="import-unmapped-host" data-host={host}>
      <span className="mono">{host}</span>{' '}
      {suggested ? (
        <button type="button" className="btn btn-small btn-primary" disabled={busy} onClick={() => onMap(suggested.prod, suggested.local)} data-testid="import-map-suggestion" title={suggestion ?? ''}>
          map to {suggested.local}
        </button>
      ) : (
        <span className="muted small">no suggestion</span>
      )}{' '}
      {localTargets.length > 0 && (
        <span className="map-other">
          <label htmlFor={selectId} className="muted small">
            {suggested ? 'or' : 'map'} {prod} to
          </label>{' '}
          <select id={selectId} value={target} onChange={(e) => setTarget(e.target.value)} data-testid="import-map-select">
            <option value="">choose…</option>
            {localTargets.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>{' '}
          <button type="button" className="btn btn-small" disabled={busy || !target} onClick={() => onMap(prod, target)}>
            map
          </button>
        </span>
      )}
    </li>
  );
}
