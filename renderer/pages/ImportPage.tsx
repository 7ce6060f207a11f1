// Import: a wizard over the import API (POST /api/import/preview and /api/import/apply).
// 1 · choose: files (picker or drag and drop, read as text here), or pasted YAML/HCL/JSON; an optional
//     format override and name mappings (prod=local).
// 2 · preview: the translation report (per resource, per field: mapped / approximated how / ignored why /
//     invalid where), counts as filters, unmapped hosts with one-click "map to", the policy file as it would
//     be written, and any problem that means nothing would be written.
// 3 · apply: what was written, and the running mesh picking it up (config version, sidecar ACK/NACK).
// Below the wizard, the way back: the export panel (components/ExportPanel.tsx).
import { useCallback, useEffect, useId, useMemo, useRef, useState, type DragEvent, type KeyboardEvent, type RefObject } from 'react';
import type { ImportApplyResponse, ImportPreviewResponse, ImportRequest, ImportSourceFormat, StatusResponse } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { ExportPanel } from '../components/ExportPanel';
import { ImportReportView } from '../components/ImportReport';
import { SidecarAcks, ackSummary } from '../components/SidecarAcks';

interface Props {
  client: ApiClient;
  status: StatusResponse;
}

type Step = 'choose' | 'preview' | 'apply';
const STEPS: { step: Step; label: string }[] = [
  { step: 'choose', label: 'Choose' },
  { step: 'preview', label: 'Preview' },
  { step: 'apply', label: 'Apply' },
];

const FORMATS: { value: ImportSourceFormat | ''; label: string }[] = [
  { value: '', label: 'auto (detect per document)' },
  { value: 'istio', label: 'Istio' },
  { value: 'gateway-api', label: 'Gateway API' },
  { value: 'linkerd', label: 'Linkerd' },
  { value: 'consul', label: 'Consul' },
];

/** The server's limit per file (src/api/api-server.ts). */
const MAX_FILE_CHARS = 5_000_000;
/** What the server accepts as a mapping's local side: a service, or service/version. */
const LOCAL_NAME = /^[a-z0-9][-a-z0-9]*(\/[a-z0-9][-a-z0-9]*)?$/;
/** Name of the pasted text: no extension, so the importer detects HCL, JSON or YAML from the content. */
const PASTED_NAME = 'pasted';

interface ChosenFile {
  name: string;
  text: string;
}

interface MapRow {
  id: number;
  prod: string;
  local: string;
}

interface Previewed {
  request: ImportRequest;
  response: ImportPreviewResponse;
}

interface Applied {
  response: ImportApplyResponse;
  /** Config version pushed before the apply: the mesh picked the file up once status shows a newer one. */
  versionBefore: number;
  atMs: number;
}

let nextRowId = 1;

/** The request the inputs make, or why they make none. */
function buildRequest(files: ChosenFile[], pasted: string, from: ImportSourceFormat | '', rows: MapRow[]): { request: ImportRequest | null; problem: string | null } {
  const all = [...files];
  if (pasted.trim()) all.push({ name: PASTED_NAME, text: pasted });
  if (all.length === 0) return { request: null, problem: 'Choose or drop files, or paste policy, to preview the import.' };
  const map: Record<string, string> = {};
  for (const r of rows) {
    const prod = r.prod.trim();
    const local = r.local.trim();
    if (!prod && !local) continue;
    if (!prod || !local) return { request: null, problem: `Name mapping "${prod || '?'}=${local || '?'}" needs both a production name and a local one.` };
    if (!LOCAL_NAME.test(local)) return { request: null, problem: `Name mapping ${prod}=${local}: the local side must be a service or service/version (lower case).` };
    map[prod] = local;
  }
  const request: ImportRequest = { files: all };
  if (from) request.from = from;
  if (Object.keys(map).length) request.map = map;
  return { request, problem: null };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function ImportPage({ client, status }: Props) {
  const [step, setStep] = useState<Step>('choose');
  const [files, setFiles] = useState<ChosenFile[]>([]);
  const [pasted, setPasted] = useState('');
  const [from, setFrom] = useState<ImportSourceFormat | ''>('');
  const [rows, setRows] = useState<MapRow[]>([]);
  const [preview, setPreview] = useState<Previewed | null>(null);
  const [applied, setApplied] = useState<Applied | null>(null);
  const [busy, setBusy] = useState<'read' | 'preview' | 'apply' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const previewSeq = useRef(0);
  const ids = { paste: useId(), format: useId(), files: useId() };

  const { request, problem } = useMemo(() => buildRequest(files, pasted, from, rows), [files, pasted, from, rows]);
  const stale = preview !== null && request !== null && JSON.stringify(request) !== JSON.stringify(preview.request);

  // Local names a production host can map to: every service, and service/version where it has versions.
  const localTargets = useMemo(() => {
    const out: string[] = [];
    for (const s of [...status.services].sort((a, b) => a.name.localeCompare(b.name))) {
      out.push(s.name);
      const versions = [...new Set(s.instances.map((i) => i.version).filter((v) => v && v !== s.name))].sort();
      if (versions.length > 1) for (const v of versions) out.push(`${s.name}/${v}`);
    }
    return out;
  }, [status.services]);

  // Moving between steps puts the keyboard focus on the step's heading, so the next Tab starts there.
  const goTo = useCallback((next: Step) => {
    setStep(next);
    requestAnimationFrame(() => heading.current?.focus());
  }, []);

  const addFiles = useCallback(async (list: FileList | File[]) => {
    const picked = [...list];
    if (picked.length === 0) return;
    setBusy('read');
    setError(null);
    const read: ChosenFile[] = [];
    const problems: string[] = [];
    for (const f of picked) {
      try {
        const text = await f.text();
        if (text.length > MAX_FILE_CHARS) problems.push(`${f.name} is larger than ${MAX_FILE_CHARS / 1_000_000} MB of text`);
        else if (text.includes('\u0000')) problems.push(`${f.name} is not a text file`);
        else read.push({ name: f.name, text });
      } catch (err) {
        problems.push(`${f.name} could not be read (${describe(err)}); folders cannot be dropped, their files can`);
      }
    }
    // A file chosen again replaces the earlier copy of the same name.
    setFiles((prev) => [...prev.filter((p) => !read.some((r) => r.name === p.name)), ...read]);
    if (problems.length) setError(problems.join('; '));
    setBusy(null);
  }, []);

  const runPreview = useCallback(
    async (req: ImportRequest) => {
      const seq = ++previewSeq.current;
      setBusy('preview');
      setError(null);
      try {
        const response = await client.importPreview(req);
        if (seq !== previewSeq.current) return;
        setPreview({ request: req, response });
        setApplied(null);
        if (step !== 'preview') goTo('preview');
      } catch (err) {
        if (seq === previewSeq.current) setError(`Preview failed: ${describe(err)}`);
      } finally {
        if (seq === previewSeq.current) setBusy(null);
      }
    },
    [client, goTo, step],
  );

  const apply = async () => {
    if (!preview) return;
    setBusy('apply');
    setError(null);
    try {
      // The version before the write, fresh: the mesh has picked the file up once it pushes a newer one.
      const versionBefore = (await client.status()).config.version;
      const response = await client.importApply(preview.request);
      setApplied({ response, versionBefore, atMs: Date.now() });
      goTo('apply');
    } catch (err) {
      setError(`Apply failed: ${describe(err)}`);
    } finally {
      setBusy(null);
    }
  };

  /** One click from the report: prod=local joins the mappings (replacing one for the same name), preview again. */
  const mapAndPreview = (prod: string, local: string) => {
    const next = [...rows.filter((r) => r.prod.trim() !== prod && (r.prod.trim() || r.local.trim())), { id: nextRowId++, prod, local }];
    setRows(next);
    const built = buildRequest(files, pasted, from, next);
    if (built.request) void runPreview(built.request);
    else setError(built.problem);
  };

  const reset = () => {
    setFiles([]);
    setPasted('');
    setFrom('');
    setRows([]);
    setPreview(null);
    setApplied(null);
    setError(null);
    goTo('choose');
  };

  const onDrop = (e: DragEvent<HTMLDivElement>) => {
    // Handled here: the desktop shell's window-level drop (open a mesh file) must not see it.
    e.preventDefault();
    e.stopPropagation();
    setDragging(false);
    void addFiles(e.dataTransfer.files);
  };
  const onDragOver = (e: DragEvent<HTMLDivElement>) => {
    e.preventDefault();
    e.stopPropagation();
    e.dataTransfer.dropEffect = 'copy';
    if (!dragging) setDragging(true);
  };

  const reachable = (s: Step) => s === 'choose' || (s === 'preview' && preview !== null) || (s === 'apply' && applied !== null);

  return (
    <div className="page import-page" data-testid="import-page" data-step={step}>
      <nav className="wizard-steps" aria-label="Import steps">
        <ol>
          {STEPS.map((s, i) => (
            <li key={s.step}>
              <button
                type="button"
                className={`wizard-step ${step === s.step ? 'current' : ''}`}
                aria-current={step === s.step ? 'step' : undefined}
                disabled={!reachable(s.step) || busy !== null}
                onClick={() => goTo(s.step)}
                data-testid={`import-step-${s.step}`}
              >
                <span className="step-number">{i + 1}</span> {s.label}
              </button>
            </li>
          ))}
        </ol>
        {busy && (
          <span className="muted small" role="status">
            <span className="spinner" /> {busy === 'read' ? 'reading files…' : busy === 'preview' ? 'translating…' : 'writing…'}
          </span>
        )}
      </nav>

      {error && (
        <div className="banner banner-error import-banner" role="alert" data-testid="import-error">
          {error}{' '}
          <button type="button" className="btn btn-small" onClick={() => setError(null)}>
            dismiss
          </button>
        </div>
      )}

      {step === 'choose' && (
        <section className="panel" data-testid="import-choose">
          <header className="panel-head">
            <h2 ref={heading} tabIndex={-1}>
              1 · Choose what to import
            </h2>
            <span className="muted small">Istio, Gateway API, Linkerd or Consul: YAML (many documents, List output), JSON or HCL</span>
          </header>
          <div className="import-choose">
            <div
              className={`dropzone ${dragging ? 'dragging' : ''}`}
              onDragEnter={onDragOver}
              onDragOver={onDragOver}
              onDragLeave={(e) => {
                if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
              }}
              onDrop={onDrop}
              data-testid="import-dropzone"
            >
              <p>
                <strong>Drop files here</strong> or{' '}
                <label htmlFor={ids.files} className="link-label">
                  choose files
                </label>
              </p>
              <input
                id={ids.files}
                type="file"
                multiple
                accept=".yaml,.yml,.json,.hcl,text/*,application/json,application/yaml"
                onChange={(e) => {
                  const list = e.currentTarget.files;
                  if (list) void addFiles([...list]);
                  e.currentTarget.value = '';
                }}
                data-testid="import-file-input"
              />
              {files.length > 0 && (
                <ul className="chosen-files" data-testid="import-files">
                  {files.map((f) => (
                    <li key={f.name} data-testid="import-file" data-name={f.name}>
                      <span className="mono">{f.name}</span> <span className="muted small">{f.text.split('\n').length} lines</span>{' '}
                      <button type="button" className="btn btn-small" onClick={() => setFiles((fs) => fs.filter((x) => x.name !== f.name))} aria-label={`Remove ${f.name}`}>
                        remove
                      </button>
                    </li>
                  ))}
                </ul>
              )}
            </div>

            <div className="paste">
              <label htmlFor={ids.paste}>Or paste YAML, JSON or HCL</label>
              <textarea
                id={ids.paste}
                className="mono"
                rows={12}
                spellCheck={false}
                value={pasted}
                onChange={(e) => setPasted(e.target.value)}
                onKeyDown={(e: KeyboardEvent<HTMLTextAreaElement>) => {
                  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && request) {
                    e.preventDefault();
                    void runPreview(request);
                  }
                }}
                placeholder={'apiVersion: networking.istio.io/v1\nkind: VirtualService\n…'}
                data-testid="import-paste"
              />
              <span className="muted small">Ctrl+Enter previews.</span>
            </div>

            <div className="import-options">
              <label htmlFor={ids.format}>Format</label>
              <select id={ids.format} value={from} onChange={(e) => setFrom(e.target.value as ImportSourceFormat | '')} data-testid="import-format">
                {FORMATS.map((f) => (
                  <option key={f.value} value={f.value}>
                    {f.label}
                  </option>
                ))}
              </select>

              <fieldset className="map-rows" data-testid="import-map">
                <legend>Name mappings (production = local)</legend>
                <p className="muted small">
                  Like <span className="mono">--map prod=local</span>: a production host or name → a local service, or service/version.
                </p>
                {rows.map((r) => (
                  <div key={r.id} className="map-row" data-testid="import-map-row">
                    <input value={r.prod} onChange={(e) => setRows((rs) => rs.map((x) => (x.id === r.id ? { ...x, prod: e.target.value } : x)))} placeholder="reviews-prod" aria-label="Production name" data-testid="import-map-prod" />
                    <span aria-hidden="true">=</span>
                    <input value={r.local} onChange={(e) => setRows((rs) => rs.map((x) => (x.id === r.id ? { ...x, local: e.target.value } : x)))} placeholder="reviews" aria-label="Local service or service/version" list="import-local-targets" data-testid="import-map-local" />
                    <button type="button" className="btn btn-small" onClick={() => setRows((rs) => rs.filter((x) => x.id !== r.id))} aria-label={`Remove mapping ${r.prod || 'row'}`}>
                      ✕
                    </button>
                  </div>
                ))}
                <datalist id="import-local-targets">
                  {localTargets.map((t) => (
                    <option key={t} value={t} />
                  ))}
                </datalist>
                <button type="button" className="btn btn-small" onClick={() => setRows((rs) => [...rs, { id: nextRowId++, prod: '', local: '' }])} data-testid="import-map-add">
                  + add mapping
                </button>
              </fieldset>
            </div>
          </div>
          <footer className="wizard-actions">
            {problem && <span className="muted small" data-testid="import-input-problem">{problem}</span>}
            <div className="spacer" />
            {preview && !stale && (
              <button type="button" className="btn" onClick={() => goTo('preview')}>
                Back to the preview
              </button>
            )}
            <button type="button" className="btn btn-primary" disabled={!request || busy !== null} onClick={() => request && void runPreview(request)} data-testid="import-preview-button">
              {busy === 'preview' ? 'Translating…' : 'Preview the import →'}
            </button>
          </footer>
        </section>
      )}

      {step === 'preview' && preview && (
        <PreviewStep
          preview={preview}
          stale={stale}
          busy={busy}
          localTargets={localTargets}
          heading={heading}
          onMap={mapAndPreview}
          onBack={() => goTo('choose')}
          onRefresh={() => request && void runPreview(request)}
          onApply={() => void apply()}
        />
      )}

      {step === 'apply' && applied && <ApplyStep applied={applied} status={status} heading={heading} onAgain={reset} onBack={() => goTo('preview')} />}

      <ExportPanel client={client} />
    </div>
  );
}

function PreviewStep({
  preview,
  stale,
  busy,
  localTargets,
  heading,
  onMap,
  onBack,
  onRefresh,
  onApply,
}: {
  preview: Previewed;
  stale: boolean;
  busy: string | null;
  localTargets: string[];
  heading: RefObject<HTMLHeadingElement | null>;
  onMap(prod: string, local: string): void;
  onBack(): void;
  onRefresh(): void;
  onApply(): void;
}) {
  const { response, request } = preview;
  const { fieldCounts } = response.report;
  const blocked = response.error !== null;
  const mappings = Object.entries(request.map ?? {});
  return (
    <>
      <section className="panel" data-testid="import-preview" data-blocked={String(blocked)}>
        <header className="panel-head">
          <h2 ref={heading} tabIndex={-1}>
            2 · Translation report
          </h2>
          <span className="muted small">
            {request.files.length} input{request.files.length === 1 ? '' : 's'} · format {request.from ?? 'auto'}
            {mappings.length > 0 && ` · map ${mappings.map(([p, l]) => `${p}=${l}`).join(', ')}`}
          </span>
          <div className="spacer" />
          <button type="button" className="btn" onClick={onBack} data-testid="import-back">
            ← Change input
          </button>
          <button
            type="button"
            className="btn btn-primary"
            disabled={blocked || stale || busy !== null}
            onClick={onApply}
            data-testid="import-apply-button"
            title={blocked ? 'Nothing can be written: see the problem above the report' : 'Write devmesh.policy.yaml; the running mesh pushes it'}
          >
            {busy === 'apply' ? 'Applying…' : 'Apply to the running mesh'}
          </button>
        </header>
        {stale && (
          <div className="banner banner-warn import-banner" role="status">
            The input changed since this preview.{' '}
            <button type="button" className="btn btn-small" onClick={onRefresh} disabled={busy !== null}>
              Preview again
            </button>
          </div>
        )}
        {blocked && (
          <div className="banner banner-error import-banner" role="alert" data-testid="import-blocked">
            <strong>Nothing would be written:</strong> the imported policy does not fit this mesh.
            <pre>{response.error}</pre>
          </div>
        )}
        {!blocked && fieldCounts.invalid > 0 && (
          <div className="banner banner-warn import-banner" role="status" data-testid="import-invalid-note">
            {fieldCounts.invalid} invalid field{fieldCounts.invalid === 1 ? '' : 's'}: those documents are rejected, the rest is imported (as <span className="mono">devmesh import</span> does).
          </div>
        )}
        <ImportReportView report={response.report} localTargets={localTargets} onMap={onMap} busy={busy !== null} />
      </section>

      <div className="import-results">
        <section className="panel" data-testid="import-policy-panel">
          <header className="panel-head">
            <h2>devmesh.policy.yaml</h2>
            <span className="muted small">{blocked ? 'what the import produced (not written)' : 'as it would be written beside the mesh file'}</span>
          </header>
          <pre className="policy-text mono" data-testid="import-policy" tabIndex={0} aria-label="The resulting policy file">
            {response.policyText}
          </pre>
        </section>
        {response.ingress.length > 0 && (
          <section className="panel" data-testid="import-ingress">
            <header className="panel-head">
              <h2>Ingress the gateways imply</h2>
            </header>
            <p className="muted small pad">A policy file cannot open listeners: add these to the mesh file's ingress if you want them.</p>
            <ul className="small pad">
              {response.ingress.map((g, i) => (
                <li key={i}>
                  <span className="mono">
                    {'{'} port: {g.port ?? '?'}, service: {g.service} {'}'}
                  </span>{' '}
                  <span className="muted">from {g.from}</span>
                </li>
              ))}
            </ul>
          </section>
        )}
      </div>
    </>
  );
}

/** How long to wait for a newer config version before saying that none came. */
const PUSH_PATIENCE_MS = 10_000;

function ApplyStep({ applied, status, heading, onAgain, onBack }: { applied: Applied; status: StatusResponse; heading: RefObject<HTMLHeadingElement | null>; onAgain(): void; onBack(): void }) {
  const { response, versionBefore } = applied;
  const pushed = status.config.version > versionBefore;
  const acks = ackSummary(status);
  const allAcked = pushed && acks.acked === acks.total;
  const [waitedLong, setWaitedLong] = useState(false);
  useEffect(() => {
    const t = window.setTimeout(() => setWaitedLong(true), Math.max(0, applied.atMs + PUSH_PATIENCE_MS - Date.now()));
    return () => window.clearTimeout(t);
  }, [applied.atMs]);

  return (
    <div className="import-results">
      <section className="panel" data-testid="import-applied" data-written={response.written ?? ''}>
        <header className="panel-head">
          <h2 ref={heading} tabIndex={-1}>
            3 · Applied
          </h2>
          <div className="spacer" />
          <button type="button" className="btn" onClick={onBack}>
            ← The report
          </button>
          <a className="btn" href="#/config">
            Routes &amp; policies
          </a>
          <button type="button" className="btn btn-primary" onClick={onAgain} data-testid="import-again">
            Import something else
          </button>
        </header>
        <div className="pad">
          {response.written ? (
            <p className="good-text" data-testid="import-written">
              Wrote <span className="mono">{response.written}</span> (and the mesh file includes it).
            </p>
          ) : (
            <div className="banner banner-error import-banner" role="alert" data-testid="import-not-written">
              <strong>Nothing was written.</strong>
              <pre>{response.error ?? 'the control plane wrote no file'}</pre>
            </div>
          )}
          {response.written && (
            <p data-testid="import-pushed" data-pushed={String(pushed)} data-version={status.config.version} data-all-acked={String(allAcked)} role="status">
              {pushed ? (
                <>
                  The running mesh picked it up: config <span className="mono">v{versionBefore}</span> → <span className="mono">v{status.config.version}</span>;{' '}
                  <span className={acks.nacked ? 'error-text' : allAcked ? 'good-text' : 'warn-text'}>
                    {acks.acked} of {acks.total} sidecars ACKed
                    {acks.nacked ? `, ${acks.nacked} NACKed` : ''}
                  </span>
                  .
                </>
              ) : (
                <>
                  <span className="spinner" /> Waiting for the mesh to push a config newer than v{versionBefore}…
                  {waitedLong && <span className="warn-text"> No new version after {PUSH_PATIENCE_MS / 1000} s: if this policy is the same as the one already imported, there was nothing to push.</span>}
                </>
              )}
            </p>
          )}
          {status.config.error && (
            <div className="banner banner-warn import-banner" role="alert">
              <strong>The mesh file is invalid on disk</strong>: the mesh keeps running config v{status.config.version}.
              <pre>{status.config.error}</pre>
            </div>
          )}
        </div>
        <h4 className="pad">Sidecars</h4>
        <SidecarAcks status={status} />
      </section>
      <section className="panel">
        <header className="panel-head">
          <h2>{response.written ? 'Written policy' : 'Policy (not written)'}</h2>
          <span className="muted small">
            {response.report.documents.length} resources: {response.report.counts.mapped} mapped · {response.report.counts.approximated} approximated · {response.report.counts.ignored} ignored · {response.report.counts.invalid} invalid
          </span>
        </header>
        <pre className="policy-text mono" data-testid="import-written-policy" tabIndex={0} aria-label="The written policy file">
          {response.policyText}
        </pre>
      </section>
    </div>
  );
}
