// "Which rule would this request match, and where could it go right now?" — the routes screen's form over
// POST /api/explain: the running mesh explains against its applied configuration and adds the live endpoint
// health the caller's sidecars report (ejections, requests in flight, circuit breaker). Sends nothing.
import { useState } from 'react';
import { headersFromLines, type ExplainRequest, type ExplainResponse, type StatusResponse } from '../../src/contract/api';
import type { ApiClient } from '../api-client';

interface Props {
  client: ApiClient;
  status: StatusResponse;
  /** The destination: the service whose rules the screen shows. */
  to: string;
}

/** The form's header box, one "name: value" per line. */
export function parseHeaderLines(text: string): Record<string, string> {
  try {
    return headersFromLines(text.split('\n'));
  } catch (err) {
    throw new Error(`header ${(err as Error).message}`, { cause: err });
  }
}

export function ExplainPanel({ client, status, to }: Props) {
  const [method, setMethod] = useState('GET');
  const [path, setPath] = useState('/');
  const [from, setFrom] = useState('ingress');
  const [headerText, setHeaderText] = useState('');
  const [answer, setAnswer] = useState<ExplainResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const callers = ['ingress', ...status.services.filter((s) => s.name !== to).map((s) => s.name)];

  const explain = async () => {
    setBusy(true);
    setError(null);
    try {
      const req: ExplainRequest = { to, from, method, path, headers: parseHeaderLines(headerText) };
      setAnswer(await client.explain(req));
    } catch (e) {
      setAnswer(null);
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <fieldset className="form" data-testid="explain-form">
      <legend>Explain a request to {to}</legend>
      <label>
        From
        <select value={from} onChange={(e) => setFrom(e.target.value)} data-testid="explain-from">
          {callers.map((c) => (
            <option key={c}>{c}</option>
          ))}
        </select>
      </label>
      <label>
        Method
        <select value={method} onChange={(e) => setMethod(e.target.value)} data-testid="explain-method">
          {['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
      </label>
      <label>
        Path
        <input value={path} onChange={(e) => setPath(e.target.value)} placeholder="/items?beta=1" data-testid="explain-path" />
      </label>
      <label>
        Headers
        <textarea value={headerText} onChange={(e) => setHeaderText(e.target.value)} placeholder="x-user: tester" rows={2} data-testid="explain-headers" />
      </label>
      <button type="button" className="btn" disabled={busy || !path.startsWith('/')} onClick={() => void explain()} data-testid="explain-run">
        {busy ? 'Explaining…' : 'Explain'}
      </button>
      {error && <p className="inline-error" role="alert">{error}</p>}
      {answer && (
        <pre className="small" data-testid="explain-result" data-rule-index={answer.ruleIndex}>
          {answer.lines.map((l, i) => (
            <div key={i} className={/EJECTED|SHEDDING|no endpoint health/.test(l) ? 'error-text' : undefined}>
              {l}
            </div>
          ))}
        </pre>
      )}
    </fieldset>
  );
}
