import { useMemo, useState } from 'react';
import type { Span, TraceDetailResponse } from '../../src/contract/api';
import type { ApiClient } from '../api-client';
import { hrefOf } from '../router';
import { formatClock, formatDuration, serviceColor, spanOutcome } from '../format';
import { usePolling } from '../hooks/usePolling';
import { attemptsOf, criticalPath, missingAttempts, type AttemptInfo } from '../trace-analysis';

interface Props {
  client: ApiClient;
  traceId: string;
  onClose(): void;
  /** Opens the comparison of this trace with another one. */
  onCompare?(traceId: string): void;
  /** A span to open selected (a link from a structured log record carries it). */
  focusSpanId?: string | null;
}

interface Row {
  span: Span;
  depth: number;
}

/** Saves a trace as OTLP JSON, the format Jaeger, Tempo and the OpenTelemetry Collector read. */
async function exportOtlp(client: ApiClient, traceId: string): Promise<void> {
  const body = await client.traceOtlp(traceId);
  const url = URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `trace-${traceId}.otlp.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Span attributes that record a policy decision or an injected fault, marked on the row. */
function verdicts(span: Span): string[] {
  return Object.entries(span.attributes)
    .filter(([k]) => /^(fault|authz|policy|mirror|circuit|outlier|ratelimit)/.test(k))
    .map(([k, v]) => (v === true ? k : `${k}=${String(v)}`));
}

export function TraceWaterfall({ client, traceId, onClose, onCompare, focusSpanId }: Props) {
  // Spans of a fresh trace keep arriving in batches, so the open trace is re-read while shown.
  const { data, error } = usePolling<TraceDetailResponse>((signal) => client.trace(traceId, signal), {
    intervalMs: 2000,
    resetKey: traceId,
  });
  const [selectedSpan, setSelectedSpan] = useState<{ traceId: string; spanId: string } | null>(focusSpanId ? { traceId, spanId: focusSpanId } : null);

  const layout = useMemo(() => (data ? layoutTrace(data.spans) : null), [data]);
  const critical = useMemo(() => (data ? criticalPath(data.spans) : new Set<string>()), [data]);
  const attempts = useMemo(() => (data ? attemptsOf(data.spans) : new Map<string, AttemptInfo>()), [data]);
  const [showCritical, setShowCritical] = useState(true);
  const selected =
    selectedSpan?.traceId === traceId ? (data?.spans.find((s) => s.spanId === selectedSpan.spanId) ?? null) : null;

  return (
    <section className="panel waterfall-panel" data-testid="waterfall" data-trace-id={traceId}>
      <header className="panel-head">
        <h2>Trace</h2>
        <code className="trace-id" title="trace id">
          {traceId}
        </code>
        {layout && (
          <span className="muted small">
            {formatClock(layout.startMs)} · {formatDuration(layout.durationMs)} · {layout.rows.length} spans ·{' '}
            {layout.services.length} services
          </span>
        )}
        <a href={hrefOf('logs', { trace: traceId })} className="small" data-testid="trace-logs-link" title="the OpenTelemetry log records the apps wrote in this trace">
          structured logs
        </a>
        <div className="spacer" />
        <label className="filter small">
          <input type="checkbox" checked={showCritical} onChange={(e) => setShowCritical(e.target.checked)} data-testid="critical-toggle" /> critical path
        </label>
        {onCompare && (
          <button type="button" className="btn" onClick={() => onCompare(traceId)} data-testid="compare-button" title="Compare this trace with another, span by span">
            Compare…
          </button>
        )}
        <button type="button" className="btn" onClick={() => void exportOtlp(client, traceId)} data-testid="export-otlp" title="Download as OTLP JSON">
          Export OTLP
        </button>
        <button type="button" className="btn" onClick={onClose} aria-label="Close trace">
          ✕
        </button>
      </header>
      {error && (
        <div className="inline-error" role="alert">
          {error.message}
        </div>
      )}
      {!data && !error && <p className="empty">Loading trace…</p>}
      {layout && layout.rows.length === 0 && <p className="empty">This trace has no spans (yet).</p>}
      {layout && layout.rows.length > 0 && (
        <div className="waterfall">
          <div className="wf-head">
            <div className="wf-label">Service · operation</div>
            <div className="wf-meta">Status</div>
            <div className="wf-meta">Duration</div>
            <div className="wf-timeline wf-axis">
              {[0, 0.25, 0.5, 0.75, 1].map((f) => (
                <span key={f} className="tick" style={{ left: `${f * 100}%` }}>
                  {formatDuration(layout.durationMs * f)}
                </span>
              ))}
            </div>
          </div>
          {layout.rows.map(({ span, depth }) => (
            <SpanRow
              key={span.spanId}
              span={span}
              depth={depth}
              critical={showCritical && critical.has(span.spanId)}
              attempt={attempts.get(span.spanId) ?? null}
              missing={data ? missingAttempts(span, data.spans) : []}
              traceStart={layout.startMs}
              traceDuration={layout.durationMs}
              selected={selected?.spanId === span.spanId}
              onSelect={() =>
                setSelectedSpan((cur) => (cur?.spanId === span.spanId ? null : { traceId, spanId: span.spanId }))
              }
            />
          ))}
        </div>
      )}
      {selected && layout && <SpanDetails span={selected} traceStart={layout.startMs} />}
    </section>
  );
}

function SpanRow(props: {
  span: Span;
  depth: number;
  critical: boolean;
  attempt: AttemptInfo | null;
  missing: { attempt: number; reason: string }[];
  traceStart: number;
  traceDuration: number;
  selected: boolean;
  onSelect(): void;
}) {
  const { span, depth, traceStart, traceDuration, selected, onSelect, critical, attempt, missing } = props;
  const marks = verdicts(span);
  const failed = isErrorSpan(span);
  const outcome = spanOutcome(span);
  const left = ((span.startMs - traceStart) / traceDuration) * 100;
  const width = Math.max((span.durationMs / traceDuration) * 100, 0.4);
  const color = serviceColor(span.service);
  return (
    <>
    <div
      className={`wf-row clickable ${failed ? 'failed' : ''} ${selected ? 'selected' : ''} ${critical ? 'critical' : ''}`}
      data-testid="span-row"
      data-service={span.service}
      data-span-id={span.spanId}
      data-critical={critical ? 'true' : undefined}
      data-attempt={attempt ? attempt.attempt : undefined}
      role="button"
      tabIndex={0}
      aria-pressed={selected}
      onClick={onSelect}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onSelect();
        }
      }}
    >
      <div className="wf-label" style={{ paddingLeft: `${8 + depth * 16}px` }}>
        <span className="swatch small" style={{ background: color }} />
        <span className="span-service" style={{ color }}>
          {span.service}
        </span>
        <span className={`kind kind-${span.kind}`}>{span.kind}</span>
        <span className="mono op" title={`${span.method} ${span.path}`}>
          {span.method} {span.path}
        </span>
        {span.attempts > 1 && <span className="attempts">{span.attempts} tries</span>}
        {attempt && (
          <span className={`attempt ${attempt.retryReason ? 'attempt-retried' : ''}`} data-testid="attempt-badge" title={attempt.retryReason ? `this try was retried: ${attempt.retryReason}` : 'the last try'}>
            attempt {attempt.attempt}/{attempt.of}
            {attempt.retryReason ? ` · retried: ${attempt.retryReason}` : ''}
          </span>
        )}
        {marks.map((m) => (
          <span key={m} className="verdict" data-testid="verdict">
            {m}
          </span>
        ))}
      </div>
      <div className={`wf-meta mono status-${outcome.cls}`} data-testid="span-status" title={outcome.title}>
        {outcome.label}
      </div>
      <div className="wf-meta mono">{formatDuration(span.durationMs)}</div>
      <div className="wf-timeline">
        <span
          className="bar"
          style={{ left: `${Math.min(left, 99.6)}%`, width: `${width}%`, background: failed ? undefined : color }}
          title={`${formatDuration(span.durationMs)} at +${formatDuration(span.startMs - traceStart)}`}
        />
      </div>
    </div>
    {missing.map((m) => (
      <div key={m.attempt} className="wf-row ghost" data-testid="missing-attempt">
        <div className="wf-label" style={{ paddingLeft: `${8 + (depth + 1) * 16}px` }}>
          <span className="attempt attempt-retried">
            attempt {m.attempt}/{span.attempts} · no server span · retried: {m.reason}
          </span>
        </div>
        <div className="wf-meta" />
        <div className="wf-meta" />
        <div className="wf-timeline" />
      </div>
    ))}
    </>
  );
}

function SpanDetails({ span, traceStart }: { span: Span; traceStart: number }) {
  const fields: [string, string][] = [
    ['span id', span.spanId],
    ['parent', span.parentSpanId ?? '(root)'],
    ['kind', span.kind],
    ['service', span.service],
    ['instance', span.instanceId],
    ['peer service', span.peerService ?? '–'],
    ['request', `${span.method} ${span.path}`],
    ['status', String(span.status)],
    ['start', `+${formatDuration(span.startMs - traceStart)} (${formatClock(span.startMs)})`],
    ['duration', formatDuration(span.durationMs)],
    ['attempts', String(span.attempts)],
  ];
  if (span.error) fields.push(['error', span.error]);
  const { attributes, request, response } = splitHeaders(span.attributes);
  return (
    <div className="span-details" data-testid="span-details" data-span-id={span.spanId}>
      <h3>
        <span className="swatch small" style={{ background: serviceColor(span.service) }} />
        {span.service} · {span.kind} · {span.method} {span.path}
      </h3>
      <dl className="kv">
        {fields.map(([k, v]) => (
          <div key={k} className={k === 'error' ? 'error-text' : undefined}>
            <dt>{k}</dt>
            <dd className="mono">{v}</dd>
          </div>
        ))}
      </dl>
      <h4>Attributes</h4>
      {attributes.length === 0 ? (
        <p className="muted small">none</p>
      ) : (
        <dl className="kv">
          {attributes.map(([k, v]) => (
            <div key={k}>
              <dt className="mono">{k}</dt>
              <dd className="mono">{String(v)}</dd>
            </div>
          ))}
        </dl>
      )}
      <HeaderTable title="Request headers" testId="span-request-headers" headers={request} />
      <HeaderTable title="Response headers" testId="span-response-headers" headers={response} />
    </div>
  );
}

const REQUEST_HEADER = 'http.request.header.';
const RESPONSE_HEADER = 'http.response.header.';

/**
 * The sidecars record headers as OpenTelemetry attributes (`http.request.header.<name>`, redacted and
 * bounded in proxy/tracing/span-headers.ts); the detail shows them as two tables, the rest as attributes.
 */
export function splitHeaders(all: Span['attributes']): { attributes: [string, Span['attributes'][string]][]; request: [string, string][]; response: [string, string][] } {
  const attributes: [string, Span['attributes'][string]][] = [];
  const request: [string, string][] = [];
  const response: [string, string][] = [];
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith(REQUEST_HEADER)) request.push([k.slice(REQUEST_HEADER.length), String(v)]);
    else if (k.startsWith(RESPONSE_HEADER)) response.push([k.slice(RESPONSE_HEADER.length), String(v)]);
    else attributes.push([k, v]);
  }
  const byName = (a: [string, unknown], b: [string, unknown]) => a[0].localeCompare(b[0]);
  return { attributes: attributes.sort(byName), request: request.sort(byName), response: response.sort(byName) };
}

function HeaderTable({ title, testId, headers }: { title: string; testId: string; headers: [string, string][] }) {
  return (
    <>
      <h4>{title}</h4>
      {headers.length === 0 ? (
        <p className="muted small" data-testid={`${testId}-none`}>
          none recorded
        </p>
      ) : (
        <table className="grid header-table" data-testid={testId}>
          <thead>
            <tr>
              <th>name</th>
              <th>value</th>
            </tr>
          </thead>
          <tbody>
            {headers.map(([name, value]) => (
              <tr key={name} data-testid="header-row" data-header={name}>
                <td className="mono">{name}</td>
                <td className={value === '[redacted]' ? 'mono muted' : 'mono'}>{value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** Failed: an error recorded, a 5xx, or no response at all (0), except for a raw TCP connection, which never has one. */
export function isErrorSpan(span: Span): boolean {
  return span.status >= 500 || span.error !== null || (span.status === 0 && span.method !== 'TCP');
}

/**
 * Depth-first order of the span tree (children by start time). A span whose parent is not in the
 * trace (not reported yet, or from an untraced caller) is shown at the top level rather than lost.
 */
export function layoutTrace(spans: Span[]): { rows: Row[]; startMs: number; durationMs: number; services: string[] } {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of spans) {
    if (s.parentSpanId && s.parentSpanId !== s.spanId && byId.has(s.parentSpanId)) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else {
      roots.push(s);
    }
  }
  const byStart = (a: Span, b: Span) => a.startMs - b.startMs || (a.kind === b.kind ? 0 : a.kind === 'client' ? -1 : 1);
  const rows: Row[] = [];
  const seen = new Set<string>();
  const visit = (s: Span, depth: number) => {
    if (seen.has(s.spanId)) return; // a malformed trace with a parent cycle must not hang the UI
    seen.add(s.spanId);
    rows.push({ span: s, depth });
    for (const c of (children.get(s.spanId) ?? []).sort(byStart)) visit(c, depth + 1);
  };
  for (const r of roots.sort(byStart)) visit(r, 0);
  // Spans caught in a cycle are unreachable from any root; still show them.
  for (const s of spans) if (!seen.has(s.spanId)) visit(s, 0);

  const startMs = spans.reduce((m, s) => Math.min(m, s.startMs), Infinity);
  const endMs = spans.reduce((m, s) => Math.max(m, s.startMs + s.durationMs), -Infinity);
  const services = [...new Set(spans.map((s) => s.service))];
  return {
    rows,
    startMs: Number.isFinite(startMs) ? startMs : 0,
    durationMs: Number.isFinite(endMs - startMs) ? Math.max(endMs - startMs, 0.001) : 1,
    services,
  };
}
