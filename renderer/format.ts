// Small display helpers shared by the panels, so a service has the same colour everywhere.

// Distinct on both the dark background and each other; red is left out because red means error.
const PALETTE = ['#4e9cf5', '#43c59e', '#b38cf5', '#f2b544', '#3fc1d9', '#f27fb2', '#9ccc65', '#ff9f5a', '#7986f2', '#d4c74e'];

// A service keeps its colour for the life of the page. Colours are handed out in order rather than
// hashed, so the first ten services never share one (a hash of two names collides one time in ten).
const assigned = new Map<string, string>();

/** Hands the mesh's services their colours in name order; names seen only in spans (the ingress gateway) get theirs when first drawn. */
export function registerServices(names: readonly string[]): void {
  for (const name of [...names].sort()) serviceColor(name);
}

export function serviceColor(service: string): string {
  let color = assigned.get(service);
  if (!color) {
    color = PALETTE[assigned.size % PALETTE.length]!;
    assigned.set(service, color);
  }
  return color;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 100 ? 1 : 0)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function formatUptime(sinceMs: number, nowMs: number): string {
  const s = Math.max(0, Math.floor((nowMs - sinceMs) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** HTTP status class, for colouring: 0 means no response at all (connection failed). */
export function statusClass(status: number, error?: string | null): 'ok' | 'redirect' | 'client-error' | 'error' {
  if (error || status >= 500 || status === 0) return 'error';
  if (status >= 400) return 'client-error';
  if (status >= 300) return 'redirect';
  return 'ok';
}

const GRPC_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

export interface Outcome {
  label: string;
  title: string;
  cls: ReturnType<typeof statusClass>;
}

/**
 * What an exchange ended with, as the status column shows it. A gRPC call answers HTTP 200 whatever
 * happened: its grpc status is the outcome. A raw TCP connection has no status at all (0): it failed only
 * when an error was recorded. Anything else: its HTTP status, 0 (no response) shown as ERR.
 */
export function outcomeOf(o: { status: number; error: string | null; grpcStatus: number | null; connection: boolean }): Outcome {
  if (o.grpcStatus !== null) {
    const name = GRPC_NAMES[o.grpcStatus] ?? String(o.grpcStatus);
    const cls = o.error !== null || o.status >= 500 ? 'error' : o.grpcStatus === 0 ? 'ok' : 'client-error';
    return { label: name, title: `gRPC status ${o.grpcStatus} ${name} (HTTP ${o.status})${o.error ? `: ${o.error}` : ''}`, cls };
  }
  if (o.connection && o.status === 0) {
    return o.error === null ? { label: 'OK', title: 'connection closed without error', cls: 'ok' } : { label: 'ERR', title: o.error, cls: 'error' };
  }
  return { label: o.status ? String(o.status) : 'ERR', title: o.error ?? `HTTP ${o.status}`, cls: statusClass(o.status, o.error) };
}

/** A span's outcome: its rpc.grpc.status_code when it has one; a TCP span is a connection. */
export function spanOutcome(span: { status: number; error: string | null; method: string; attributes: Record<string, string | number | boolean> }): Outcome {
  const grpc = span.attributes['rpc.grpc.status_code'];
  return outcomeOf({ status: span.status, error: span.error, grpcStatus: typeof grpc === 'number' ? grpc : null, connection: span.method === 'TCP' });
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
