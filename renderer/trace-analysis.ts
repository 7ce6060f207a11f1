// Pure functions over a trace's spans: the critical path, retries as sibling attempts, and the span-by-span
// comparison of two traces. Kept apart from the components so they are easy to reason about (and test).
import type { Span } from '../src/contract/api';

const end = (s: Span) => s.startMs + s.durationMs;

function childrenIndex(spans: readonly Span[]): { roots: Span[]; children: Map<string, Span[]> } {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of spans) {
    if (s.parentSpanId && s.parentSpanId !== s.spanId && ids.has(s.parentSpanId)) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  return { roots, children };
}

/**
 * The spans on the critical path: from the root, repeatedly the child that finished last before the
 * current point, then the point moves to that child's start (the child that the parent was waiting for).
 * Time not covered by a child is the parent's own work. Clock differences between sidecars are tolerated.
 */
export function criticalPath(spans: readonly Span[]): Set<string> {
  const { roots, children } = childrenIndex(spans);
  const path = new Set<string>();
  const visit = (s: Span, limit: number) => {
    if (path.has(s.spanId)) return;
    path.add(s.spanId);
    let cursor = Math.min(end(s), limit);
    const kids = [...(children.get(s.spanId) ?? [])].sort((a, b) => end(b) - end(a));
    for (const k of kids) {
      if (k.startMs >= cursor) continue; // overlapped by a later child already on the path
      visit(k, cursor);
      cursor = k.startMs;
    }
  };
  const root = [...roots].sort((a, b) => a.startMs - b.startMs || b.durationMs - a.durationMs)[0];
  if (root) visit(root, Infinity);
  return path;
}

export interface AttemptInfo {
  /** 1-based attempt number among the retried call's tries. */
  attempt: number;
  of: number;
  /** Why this attempt was retried (from the caller's `retry.reasons`), null for the last one. */
  retryReason: string | null;
}

/** Tries the sidecar reported as `retry.reasons` (comma-separated, one per retry). */
export function retryReasons(span: Span): string[] {
  const r = span.attributes['retry.reasons'];
  return typeof r === 'string' && r !== '' ? r.split(',') : [];
}

/**
 * Every try of a retried call reaches the destination's sidecar with the same parent (the caller's client
 * span), so the server spans under a client span with attempts > 1 are sibling attempts, in start order.
 */
export function attemptsOf(spans: readonly Span[]): Map<string, AttemptInfo> {
  const { children } = childrenIndex(spans);
  const out = new Map<string, AttemptInfo>();
  for (const s of spans) {
    if (s.kind !== 'client' || s.attempts <= 1) continue;
    const reasons = retryReasons(s);
    const tries = (children.get(s.spanId) ?? []).filter((c) => c.kind === 'server').sort((a, b) => a.startMs - b.startMs);
    // Tries that never reached a server (connect failures) have no span: number the ones we see from the end.
    const offset = Math.max(0, s.attempts - tries.length);
    tries.forEach((c, i) => {
      const attempt = offset + i + 1;
      out.set(c.spanId, { attempt, of: s.attempts, retryReason: attempt < s.attempts ? (reasons[attempt - 1] ?? 'retried') : null });
    });
  }
  return out;
}

/** Attempts that left no span (e.g. connection refused): shown as placeholders under the retried call. */
export function missingAttempts(span: Span, spans: readonly Span[]): { attempt: number; reason: string }[] {
  if (span.kind !== 'client' || span.attempts <= 1) return [];
  const seen = spans.filter((c) => c.parentSpanId === span.spanId && c.kind === 'server').length;
  const reasons = retryReasons(span);
  const missing = Math.max(0, span.attempts - seen);
  return Array.from({ length: missing }, (_, i) => ({ attempt: i + 1, reason: reasons[i] ?? 'no response' }));
}

export interface CompareRow {
  key: string;
  depth: number;
  label: string;
  service: string;
  a: Span | null;
  b: Span | null;
  /** b − a in ms, when both exist. */
  deltaMs: number | null;
}

/** Ids and numbers in paths differ between two requests of the same kind; they should still pair up. */
export function normalizePath(path: string): string {
  return path
    .split('?')[0]!
    .replace(/\/[0-9a-f]{8,}(?=\/|$)/gi, '/:id')
    .replace(/\/\d+(?=\/|$)/g, '/:n');
}

function keyed(spans: readonly Span[]): { key: string; depth: number; span: Span }[] {
  const { roots, children } = childrenIndex(spans);
  const out: { key: string; depth: number; span: Span }[] = [];
  const visit = (list: Span[], parentKey: string, depth: number) => {
    const counts = new Map<string, number>();
    for (const s of [...list].sort((a, b) => a.startMs - b.startMs)) {
      const base = `${s.service}|${s.kind}|${s.method} ${normalizePath(s.path)}`;
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      const key = `${parentKey}/${base}#${n}`;
      out.push({ key, depth, span: s });
      visit(children.get(s.spanId) ?? [], key, depth + 1);
    }
  };
  visit(roots, '', 0);
  return out;
}

/** Pairs the spans of two traces by position in the tree (service, kind, operation, order among siblings). */
export function compareTraces(a: readonly Span[], b: readonly Span[]): CompareRow[] {
  const ka = keyed(a);
  const kb = new Map(keyed(b).map((r) => [r.key, r]));
  const rows: CompareRow[] = [];
  const used = new Set<string>();
  for (const r of ka) {
    const other = kb.get(r.key) ?? null;
    if (other) used.add(r.key);
    rows.push({
      key: r.key,
      depth: r.depth,
      label: `${r.span.method} ${normalizePath(r.span.path)}`,
      service: r.span.service,
      a: r.span,
      b: other?.span ?? null,
      deltaMs: other ? other.span.durationMs - r.span.durationMs : null,
    });
  }
  for (const [key, r] of kb) {
    if (used.has(key)) continue;
    rows.push({ key, depth: r.depth, label: `${r.span.method} ${normalizePath(r.span.path)}`, service: r.span.service, a: null, b: r.span, deltaMs: null });
  }
  return rows;
}
