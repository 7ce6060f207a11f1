// Trace inspector: a live list filtered by service, route, status, duration, attribute and time; the
// waterfall of the selected trace (attempts, critical path, verdicts); comparison of two traces; OTLP JSON
// import. Filters live in the URL, so a filtered view can be shared.
import { useEffect, useMemo, useRef, useState } from 'react';
import type { TraceQuery } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { TraceCompare } from '../components/TraceCompare';
import { TraceList } from '../components/TraceList';
import { TraceWaterfall } from '../components/TraceWaterfall';
import type { Screen } from '../router';

interface Props {
  client: ApiClient;
  serviceNames: string[];
  params: URLSearchParams;
  go(screen: Screen, params?: Record<string, string | null | undefined>, replace?: boolean): void;
  onError(error: Error | null): void;
}

const FILTERS = ['service', 'route', 'status', 'minDurationMs', 'attribute', 'range'] as const;
const RANGES: Record<string, number> = { '5m': 5 * 60_000, '15m': 15 * 60_000, '1h': 3600_000, '24h': 86_400_000 };

export function queryOf(params: URLSearchParams): TraceQuery {
  const q: TraceQuery = {};
  const service = params.get('service');
  if (service) q.service = service;
  const route = params.get('route');
  if (route) q.route = route;
  const status = params.get('status');
  if (status === 'ok' || status === 'error') q.status = status;
  else if (status && /^\d+$/.test(status)) q.status = Number(status);
  const min = Number(params.get('minDurationMs'));
  if (min > 0) q.minDurationMs = min;
  const attribute = params.get('attribute');
  if (attribute) q.attribute = attribute;
  const range = params.get('range');
  // Range start is rounded to the minute so the query (and the list's reset key) stays stable between renders.
  if (range && RANGES[range]) q.fromMs = Math.floor((Date.now() - RANGES[range]!) / 60_000) * 60_000;
  return q;
}

export function TracesPage({ client, serviceNames, params, go, onError }: Props) {
  const selected = params.get('trace');
  const compare = params.get('compare');
  const [pickingFor, setPickingFor] = useState<string | null>(null);
  const [importMsg, setImportMsg] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const query = useMemo(() => queryOf(params), [params]);

  const current = Object.fromEntries(FILTERS.map((f) => [f, params.get(f)]));
  const set = (key: (typeof FILTERS)[number] | 'trace' | 'compare', value: string | null) => go('traces', { ...current, trace: selected, compare, [key]: value || null }, true);

  useEffect(() => {
    if (!selected) setPickingFor(null);
  }, [selected]);

  const onSelect = (traceId: string) => {
    if (pickingFor && traceId !== pickingFor) {
      go('traces', { ...current, trace: pickingFor, compare: traceId });
      setPickingFor(null);
    } else go('traces', { ...current, trace: traceId, compare: null });
  };

  const importFile = async (file: File) => {
    try {
      const body: unknown = JSON.parse(await file.text());
      const r = await client.importOtlp(body);
      setImportMsg(`imported ${r.imported} spans from ${file.name}`);
    } catch (err) {
      setImportMsg(`import failed: ${(err as Error).message}`);
    }
  };

  return (
    <div className="page traces-page">
      <form className="filters panel" onSubmit={(e) => e.preventDefault()} aria-label="Trace filters" data-testid="trace-filters">
        <label>
          Service
          <select value={current.service ?? ''} onChange={(e) => set('service', e.target.value)} data-testid="trace-service-filter">
            <option value="">all</option>
            {serviceNames.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        <label>
          Route rule
          {/* The name of the rule a sidecar matched (the span's `route` attribute), e.g. the demo's "split". */}
          <DebouncedInput value={current.route ?? ''} onCommit={(v) => set('route', v)} placeholder="rule name, e.g. split" testId="trace-route-filter" size={22} />
        </label>
        <label>
          Status
          <select value={current.status ?? ''} onChange={(e) => set('status', e.target.value)} data-testid="trace-status-filter">
            <option value="">any</option>
            <option value="error">errors</option>
            <option value="ok">no errors</option>
            <option value="200">200</option>
            <option value="404">404</option>
            <option value="500">500</option>
            <option value="503">503</option>
            <option value="504">504</option>
            {/* Below 100, a gRPC status: a failed gRPC call is an HTTP 200, so "200" leaves it out. */}
            <option value="4">gRPC 4 DEADLINE_EXCEEDED</option>
            <option value="14">gRPC 14 UNAVAILABLE</option>
          </select>
        </label>
        <label>
          Min duration (ms)
          <DebouncedInput value={current.minDurationMs ?? ''} onCommit={(v) => set('minDurationMs', v)} placeholder="e.g. 100" testId="trace-duration-filter" size={8} />
        </label>
        <label>
          Attribute
          <DebouncedInput value={current.attribute ?? ''} onCommit={(v) => set('attribute', v)} placeholder="e.g. retry.reasons or subset=v2" testId="trace-attribute-filter" size={30} />
        </label>
        <label>
          Time
          <select value={current.range ?? ''} onChange={(e) => set('range', e.target.value)} data-testid="trace-range-filter">
            <option value="">all stored</option>
            {Object.keys(RANGES).map((r) => (
              <option key={r} value={r}>
                last {r}
              </option>
            ))}
          </select>
        </label>
        <div className="spacer" />
        <input ref={fileInput} type="file" accept=".json,application/json" hidden data-testid="otlp-file" onChange={(e) => e.target.files?.[0] && void importFile(e.target.files[0])} />
        <button type="button" className="btn" onClick={() => fileInput.current?.click()} title="Import traces from an OTLP JSON file">
          Import OTLP…
        </button>
        {importMsg && (
          <span className="small" data-testid="import-message">
            {importMsg}
          </span>
        )}
      </form>
      {pickingFor && (
        <div className="banner banner-info" data-testid="compare-hint">
          Pick a second trace in the list to compare with {pickingFor.slice(0, 12)}…{' '}
          <button type="button" className="btn btn-small" onClick={() => setPickingFor(null)}>
            cancel
          </button>
        </div>
      )}
      <div className="traces-layout">
        <TraceList client={client} query={query} selectedId={selected} compareId={pickingFor} onSelect={onSelect} onError={onError} />
        {selected && compare ? (
          <TraceCompare client={client} a={selected} b={compare} onClose={() => set('compare', null)} />
        ) : (
          selected && <TraceWaterfall key={selected} client={client} traceId={selected} focusSpanId={params.get('span')} onClose={() => set('trace', null)} onCompare={(id) => setPickingFor(id)} />
        )}
      </div>
    </div>
  );
}

/** A text filter that queries when typing pauses, not on every key. */
function DebouncedInput({ value, onCommit, placeholder, testId, size }: { value: string; onCommit(v: string): void; placeholder: string; testId: string; size?: number }) {
  const [text, setText] = useState(value);
  const commit = useRef(onCommit);
  commit.current = onCommit;
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const t = setTimeout(() => commit.current(text.trim()), 400);
    return () => clearTimeout(t);
  }, [text, value]);
  return <input type="search" value={text} placeholder={placeholder} onChange={(e) => setText(e.target.value)} data-testid={testId} size={size} />;
}
