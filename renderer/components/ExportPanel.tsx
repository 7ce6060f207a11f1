// Export: the running mesh's policy (its file with the includes) in a production format, over
// POST /api/export: Istio, Gateway API, Linkerd, or Consul (HCL config entries or CRDs). The output can be
// copied; what the format cannot express is listed, located, as `devmesh export` prints it on stderr.
import { useId, useState } from 'react';
import { CONSUL_FORMS, EXPORT_FORMATS, type ConsulForm, type ExportFormat, type ExportResponse } from '../../src/contract/api';
import type { ApiClient } from '../api-client';

const LABELS: Record<ExportFormat, string> = { istio: 'Istio', 'gateway-api': 'Gateway API', linkerd: 'Linkerd', consul: 'Consul' };
const FORM_LABELS: Record<ConsulForm, string> = { hcl: 'HCL config entries', crd: 'Kubernetes CRDs' };

function Choice<T extends string>(p: { id: string; label: string; value: T; options: readonly T[]; labels: Record<T, string>; onChange(v: T): void; testId: string }) {
  return (
    <>
      <label htmlFor={p.id}>{p.label}</label>
      <select id={p.id} value={p.value} onChange={(e) => p.onChange(e.target.value as T)} data-testid={p.testId}>
        {p.options.map((o) => (
          <option key={o} value={o}>
            {p.labels[o]}
          </option>
        ))}
      </select>
    </>
  );
}

export function ExportPanel({ client }: { client: ApiClient }) {
  const ids = { to: useId(), form: useId() };
  const [to, setTo] = useState<ExportFormat>('istio');
  const [form, setForm] = useState<ConsulForm>('hcl');
  const [result, setResult] = useState<{ request: string; response: ExportResponse } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const response = await client.exportPolicy(to === 'consul' ? { to, format: form } : { to });
      setResult({ request: to === 'consul' ? `${LABELS[to]} (${FORM_LABELS[form]})` : LABELS[to], response });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel export-panel" data-testid="export-panel">
      <header className="panel-head">
        <h2>Export the local policy</h2>
        <span className="muted small">the mesh file and its includes, as production config</span>
      </header>
      <div className="report-toolbar export-options">
        <Choice id={ids.to} label="Format" value={to} options={EXPORT_FORMATS} labels={LABELS} onChange={setTo} testId="export-format" />
        {to === 'consul' && <Choice id={ids.form} label="as" value={form} options={CONSUL_FORMS} labels={FORM_LABELS} onChange={setForm} testId="export-consul-form" />}
        <button type="button" className="btn btn-primary" disabled={busy} onClick={() => void run()} data-testid="export-button">
          {busy ? 'Exporting…' : 'Export'}
        </button>
      </div>
      {error && (
        <div className="banner banner-error import-banner" role="alert" data-testid="export-error">
          {error}
        </div>
      )}
      {result && (
        <div data-testid="export-result" data-notes={result.response.notes.length}>
          <p className="muted small export-summary">
            {result.request}: {result.response.files ? `${result.response.files.length} files` : 'one YAML stream'}
            {result.response.notes.length > 0 ? `; ${result.response.notes.length} thing${result.response.notes.length === 1 ? '' : 's'} it cannot express:` : '; everything expressed.'}
          </p>
          {result.response.notes.length > 0 && (
            <ul className="export-notes small">
              {result.response.notes.map((n, i) => (
                <li key={i} data-testid="export-note">
                  {n}
                </li>
              ))}
            </ul>
          )}
          <pre className="policy-text mono" data-testid="export-output" tabIndex={0} aria-label="The exported configuration">
            {result.response.text}
          </pre>
        </div>
      )}
    </section>
  );
}
