// Routes & policies: the mesh file edited in forms (a service's route rules with retries, timeouts and
// faults; its traffic policy) and in a YAML editor with schema completion, validated as you type by the
// control plane's own validator. Apply shows a diff first, writes the file back (form edits go through the
// YAML Document API, so comments stay), and the running mesh pushes it; the sidecars' ACK/NACK is shown.
// Undo goes back to the previous revision.
import { diffArrays, diffLines } from 'diff';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import type { ApplyResponse, ConfigDocumentResponse, StatusResponse } from '../../src/contract/api';
import type { HttpRouteSpec, MeshFileSpec } from '../../src/contract/mesh-file';
import type { ApiClient } from '../api-client';
import { YamlEditor } from '../components/YamlEditor';
import { formatClock } from '../format';
import type { JsonSchema } from '../schema-completion';
import { SidecarAcks } from '../components/SidecarAcks';
import { ExplainPanel } from '../components/ExplainPanel';

interface Props {
  client: ApiClient;
  status: StatusResponse;
}

type Path = (string | number)[];

/** Sets (or, for empty values, deletes) a value in the YAML text, keeping comments and layout. */
export function editYaml(text: string, path: Path, value: unknown): string {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new Error(doc.errors[0]!.message);
  if (value === undefined || value === '' || (typeof value === 'number' && Number.isNaN(value))) {
    if (doc.hasIn(path)) doc.deleteIn(path);
    // Drop maps the delete left empty (retries: {} would mean something else).
    for (let i = path.length - 1; i > 0; i--) {
      const parent = doc.getIn(path.slice(0, i), true);
      if (isMap(parent) && parent.items.length === 0) doc.deleteIn(path.slice(0, i));
      else break;
    }
  } else doc.setIn(path, value);
  return keepLayout(text, doc);
}


/**
 * The edited document as text, with every line the edit did not touch exactly as the user wrote it. The
 * YAML library re-prints a whole document in one style (`{a: 1}` for `{ a: 1 }`, one space before a
 * comment), which made a one-field form edit show unrelated lines in the diff and rewrite them on apply.
 * So the original is printed the same way, the two prints are compared line by line, and the lines they
 * share come from the original (when the original and its print line up one to one, and only where a line
 * and its print differ in whitespace alone).
 */
function keepLayout(original: string, edited: Document): string {
  // The lines the edit touches are printed in the file's flow style: `{ a: 1 }` if it writes any that way.
  const print = { flowCollectionPadding: /[{[] \S/.test(original) };
  const after = edited.toString(print).split('\n');
  const reprinted = parseDocument(original).toString(print).split('\n');
  const source = original.split('\n');
  if (source.length !== reprinted.length) return after.join('\n');
  const squash = (l: string) => l.replace(/\s+/g, '');
  const out: string[] = [];
  let i = 0;
  for (const part of diffArrays(reprinted, after)) {
    if (part.added) out.push(...part.value);
    else if (part.removed) i += part.value.length;
    else
      for (const line of part.value) {
        const mine = source[i++]!;
        out.push(squash(mine) === squash(line) ? mine : line);
      }
  }
  return out.join('\n');
}

/**
 * The draft as the mesh file's spec. The one cast of this page: the control plane validates the draft as
 * you type (problems are listed beside the editor), and the forms only read optional fields of it.
 */
function specOf(doc: Document | null): Partial<MeshFileSpec> | null {
  const value: unknown = doc?.toJS();
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Partial<MeshFileSpec>) : null;
}

export function ConfigPage({ client, status }: Props) {
  const [loaded, setLoaded] = useState<ConfigDocumentResponse | null>(null);
  const [draft, setDraft] = useState('');
  const [problems, setProblems] = useState<{ line: number; column: number; message: string }[]>([]);
  const [schema, setSchema] = useState<JsonSchema | null>(null);
  const [showDiff, setShowDiff] = useState(false);
  const [result, setResult] = useState<ApplyResponse | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [service, setService] = useState<string>(() => new URLSearchParams(window.location.hash.split('?')[1] ?? '').get('service') ?? '');
  const [ruleIndex, setRuleIndex] = useState(0);

  const load = useCallback(async () => {
    const doc = await client.config();
    setLoaded(doc);
    setDraft(doc.text);
  }, [client]);
  useEffect(() => {
    load().catch((e: Error) => setError(e.message));
    fetch('/devmesh.schema.json')
      .then((r) => (r.ok ? (r.json() as Promise<JsonSchema>) : null))
      .then(setSchema, () => setSchema(null));
  }, [load]);

  const validate = useCallback(
    async (text: string) => {
      const r = await client.validateConfig(text);
      setProblems(r.problems);
      return r.problems;
    },
    [client],
  );

  const parsed = useMemo(() => {
    const d = parseDocument(draft);
    return d.errors.length ? null : d;
  }, [draft]);
  const spec = useMemo(() => specOf(parsed), [parsed]);
  const routedServices = useMemo(() => {
    const names = Object.keys(spec?.routes ?? {});
    return [...new Set([...names, ...status.services.map((s) => s.name)])].sort();
  }, [spec, status.services]);
  const svc = service || routedServices.find((n) => spec?.routes?.[n] !== undefined) || routedServices[0] || '';
  const routed = spec?.routes?.[svc];
  const rules: HttpRouteSpec[] = Array.isArray(routed) ? routed : [];
  const rule = rules[Math.min(ruleIndex, rules.length - 1)];
  const idx = Math.min(ruleIndex, Math.max(rules.length - 1, 0));

  const setField = (path: Path, value: unknown) => {
    try {
      setDraft((t) => editYaml(t, path, value));
      setError(null);
    } catch (e) {
      setError(`fix the YAML first: ${(e as Error).message}`);
    }
  };

  const dirty = loaded !== null && draft !== loaded.text;
  const apply = async () => {
    if (!loaded) return;
    setBusy(true);
    setError(null);
    try {
      const r = await client.applyConfig(draft, loaded.text);
      setResult(r);
      if (r.applied || r.problems.length === 0) await load();
      setShowDiff(false);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const undo = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult(await client.undoConfig());
      await load();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (!loaded) return <p className="empty">{error ?? 'Loading the mesh file…'}</p>;
  const base: Path = ['routes', svc, idx];
  const retries = rule?.retries;
  const fault = rule?.fault;
  const policy = spec?.policies?.[svc];
  const authz = (spec?.authorization ?? []).filter((p) => !p.service || p.service === svc);

  return (
    <div className="page config-page" data-testid="config-page">
      <section className="panel config-forms">
        <header className="panel-head">
          <h2>Routes & policies</h2>
          <select value={svc} onChange={(e) => { setService(e.target.value); setRuleIndex(0); }} aria-label="Service" data-testid="config-service">
            {routedServices.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </header>
        {!parsed && <p className="inline-error">The YAML does not parse; fix it in the editor to use the forms.</p>}
        <h4>Route rules to {svc} (first match wins)</h4>
        {rules.length === 0 ? (
          <p className="muted small">No rules: every request goes to any instance, with Istio's default retries. Add rules in the editor.</p>
        ) : (
          <ol className="rules" data-testid="rule-list">
            {rules.map((r, i) => (
              <li key={i}>
                <button type="button" className={`rule ${i === idx ? 'selected' : ''}`} onClick={() => setRuleIndex(i)} data-testid="rule" data-rule={r.name ?? String(i)}>
                  <strong>{r.name ?? `rule ${i + 1}`}</strong> <span className="muted small">{summarizeRule(r)}</span>
                </button>
              </li>
            ))}
          </ol>
        )}
        {rule && (
          <fieldset className="form" data-testid="rule-form">
            <legend>{rule.name ?? `rule ${idx + 1}`}</legend>
            <label>
              Retries (attempts)
              <NumberField value={retries?.attempts} onChange={(v) => setField([...base, 'retries', 'attempts'], v)} placeholder="e.g. 3" testId="retry-attempts" />
            </label>
            <label>
              Per-try timeout
              <TextField value={retries?.perTryTimeout} onChange={(v) => setField([...base, 'retries', 'perTryTimeout'], v)} placeholder="e.g. 500ms" testId="retry-per-try" />
            </label>
            <label>
              Retry on
              <TextField value={retries?.retryOn} onChange={(v) => setField([...base, 'retries', 'retryOn'], v)} placeholder="e.g. 5xx,connect-failure" testId="retry-on" />
            </label>
            <label>
              Timeout
              <TextField value={rule.timeout} onChange={(v) => setField([...base, 'timeout'], v)} placeholder="e.g. 2s (none if empty)" testId="route-timeout" />
            </label>
            <label>
              Fault: abort status
              <NumberField value={fault?.abort?.httpStatus} onChange={(v) => setField([...base, 'fault', 'abort', 'httpStatus'], v)} placeholder="e.g. 503" testId="fault-abort-status" />
            </label>
            <label>
              Fault: abort %
              <NumberField value={fault?.abort?.percentage?.value} onChange={(v) => setField([...base, 'fault', 'abort', 'percentage', 'value'], v)} placeholder="e.g. 10" testId="fault-abort-percent" />
            </label>
            <label>
              Fault: delay
              <TextField value={fault?.delay?.fixedDelay} onChange={(v) => setField([...base, 'fault', 'delay', 'fixedDelay'], v)} placeholder="e.g. 100ms" testId="fault-delay" />
            </label>
            <p className="muted small">As in Istio, a rule with a fault has its retries and timeout turned off.</p>
          </fieldset>
        )}
        <h4>Traffic policy for calls to {svc}</h4>
        <fieldset className="form" data-testid="policy-form">
          <label>
            Load balancer
            <select value={policy?.loadBalancer?.simple ?? ''} onChange={(e) => setField(['policies', svc, 'loadBalancer', 'simple'], e.target.value)} data-testid="policy-lb">
              <option value="">(default: round robin)</option>
              {['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'].map((v) => (
                <option key={v}>{v}</option>
              ))}
            </select>
          </label>
          <label>
            Circuit breaker: max connections
            <NumberField value={policy?.connectionPool?.tcp?.maxConnections} onChange={(v) => setField(['policies', svc, 'connectionPool', 'tcp', 'maxConnections'], v)} placeholder="e.g. 100" testId="policy-max-conn" />
          </label>
          <label>
            Outlier detection: consecutive 5xx
            <NumberField value={policy?.outlierDetection?.consecutive5xxErrors} onChange={(v) => setField(['policies', svc, 'outlierDetection', 'consecutive5xxErrors'], v)} placeholder="e.g. 5" testId="policy-outlier" />
          </label>
          <label>
            Base ejection time
            <TextField value={policy?.outlierDetection?.baseEjectionTime} onChange={(v) => setField(['policies', svc, 'outlierDetection', 'baseEjectionTime'], v)} placeholder="e.g. 30s" testId="policy-ejection" />
          </label>
        </fieldset>
        <h4>Authorization for {svc}</h4>
        {authz.length === 0 ? (
          <p className="muted small">No AuthorizationPolicy applies: every mesh caller is allowed.</p>
        ) : (
          <ul className="small" data-testid="authz-list">
            {authz.map((p, i) => (
              <li key={i}>
                <span className={`pill ${p.action === 'DENY' ? 'pill-bad' : 'pill-good'}`}>{p.action ?? 'ALLOW'}</span> {p.name ?? `policy ${i + 1}`} · {p.rules?.length ?? 0} rule(s)
              </li>
            ))}
          </ul>
        )}
        <h4>Explain</h4>
        <ExplainPanel client={client} status={status} to={svc} />
      </section>

      <section className="panel config-editor">
        <header className="panel-head">
          <h2>devmesh.yaml</h2>
          <span className="muted small" title={loaded.file}>
            {loaded.file.split('/').pop()} · config v{status.config.version}
          </span>
          <span className={`pill ${problems.length ? 'pill-bad' : 'pill-good'}`} data-testid="validation" data-valid={problems.length ? 'false' : 'true'}>
            {problems.length ? `${problems.length} problem${problems.length > 1 ? 's' : ''}` : 'valid'}
          </span>
          <div className="spacer" />
          <button type="button" className="btn" disabled={!dirty} onClick={() => setDraft(loaded.text)} data-testid="config-revert">
            Revert
          </button>
          <button type="button" className="btn" disabled={!dirty || problems.length > 0} onClick={() => setShowDiff((d) => !d)} data-testid="config-review">
            Review diff…
          </button>
          <button type="button" className="btn" disabled={busy || loaded.revisions.length < 2} onClick={() => void undo()} data-testid="config-undo" title="Write back the previous revision">
            Undo last apply
          </button>
        </header>
        {error && <div className="inline-error" role="alert">{error}</div>}
        {problems.length > 0 && (
          <ul className="problems" data-testid="problems">
            {problems.map((p, i) => (
              <li key={i} className="mono small">
                {p.line}:{p.column}: {p.message}
              </li>
            ))}
          </ul>
        )}
        {showDiff && dirty && (
          <div className="diff-preview" data-testid="diff-preview">
            <DiffView before={loaded.text} after={draft} />
            <div className="diff-actions">
              <button type="button" className="btn btn-primary" disabled={busy || problems.length > 0} onClick={() => void apply()} data-testid="config-apply">
                {busy ? 'Applying…' : 'Apply to the running mesh'}
              </button>
              <button type="button" className="btn" onClick={() => setShowDiff(false)}>
                Keep editing
              </button>
            </div>
          </div>
        )}
        <YamlEditor value={draft} onChange={setDraft} validate={validate} schema={schema} />
      </section>

      <section className="panel config-acks">
        <header className="panel-head">
          <h2>Sidecars</h2>
          <span className="muted small">which sidecars run config v{status.config.version}</span>
        </header>
        {result && (
          <p className={`small ${result.applied ? 'good-text' : 'error-text'}`} data-testid="apply-result" data-applied={String(result.applied)}>
            {result.applied ? `applied as v${result.version}` : `not applied: ${result.error ?? result.problems.map((p) => p.message).join('; ')}`}
          </p>
        )}
        {status.config.error && <pre className="error-text small">{status.config.error}</pre>}
        <SidecarAcks status={status} />
        <h4>Revisions this run</h4>
        <ul className="small">
          {loaded.revisions.map((r) => (
            <li key={r.revision}>
              #{r.revision} · {r.origin} · {formatClock(r.savedAtMs)}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

function summarizeRule(r: HttpRouteSpec): string {
  const parts: string[] = [];
  if (Array.isArray(r.match) && r.match.length) parts.push(`${r.match.length} match block${r.match.length > 1 ? 's' : ''}`);
  // A draft being typed may hold a destination without its fields yet.
  if (Array.isArray(r.route)) parts.push(r.route.map((d) => `${d.destination?.subset ?? 'all'}${d.weight !== undefined ? ` ${d.weight}%` : ''}`).join(' / '));
  if (r.retries?.attempts !== undefined) parts.push(`${r.retries.attempts} retries`);
  if (r.timeout) parts.push(`timeout ${r.timeout}`);
  if (r.fault) parts.push('fault');
  return parts.join(' · ');
}

function DiffView({ before, after }: { before: string; after: string }) {
  const parts = useMemo(() => diffLines(before, after), [before, after]);
  return (
    <pre className="diff mono">
      {parts.map((p, i) => {
        const lines = p.value.replace(/\n$/, '').split('\n');
        if (!p.added && !p.removed) {
          // Unchanged runs are folded to their edges, so the change is what you see.
          const shown = lines.length > 6 ? [...lines.slice(0, 2), `… ${lines.length - 4} unchanged lines`, ...lines.slice(-2)] : lines;
          return shown.map((l, j) => <div key={`${i}-${j}`} className="diff-ctx">{'  ' + l}</div>);
        }
        return lines.map((l, j) => (
          <div key={`${i}-${j}`} className={p.added ? 'diff-add' : 'diff-del'} data-testid={p.added ? 'diff-add' : 'diff-del'}>
            {(p.added ? '+ ' : '- ') + l}
          </div>
        ));
      })}
    </pre>
  );
}

// Placeholders are hints ("e.g. …", styled as such in styles.css), never defaults: an empty field writes nothing.
function NumberField({ value, onChange, placeholder, testId }: { value: number | undefined; onChange(v: number | undefined): void; placeholder: string; testId: string }) {
  return <CommitInput value={value === undefined ? '' : String(value)} onCommit={(t) => onChange(t === '' ? undefined : Number(t))} placeholder={placeholder} testId={testId} inputMode="numeric" />;
}

function TextField({ value, onChange, placeholder, testId }: { value: string | undefined; onChange(v: string | undefined): void; placeholder: string; testId: string }) {
  return <CommitInput value={value ?? ''} onCommit={(t) => onChange(t === '' ? undefined : t)} placeholder={placeholder} testId={testId} />;
}

/** Edits locally, writes to the document on blur or Enter: a half-typed "5" of "50" never reaches the YAML. */
function CommitInput({ value, onCommit, placeholder, testId, inputMode }: { value: string; onCommit(t: string): void; placeholder?: string; testId: string; inputMode?: 'numeric' }) {
  const [text, setText] = useState(value);
  const focused = useRef(false);
  useEffect(() => {
    if (!focused.current) setText(value);
  }, [value]);
  const commit = () => {
    if (text.trim() !== value) onCommit(text.trim());
  };
  return (
    <input
      value={text}
      placeholder={placeholder}
      inputMode={inputMode}
      data-testid={testId}
      onFocus={() => (focused.current = true)}
      onBlur={() => {
        focused.current = false;
        commit();
      }}
      onChange={(e) => setText(e.target.value)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          commit();
        }
      }}
    />
  );
}

export { isSeq };
