// The request's deadline: the route timeout, capped by what the caller has left — the x-devmesh-timeout-ms a
// sidecar upstream of the app propagated, or a gRPC caller's own grpc-timeout. Each try then tells the
// upstream what remains, in x-devmesh-timeout-ms and, to a gRPC upstream, as its grpc-timeout.
import type { IncomingHttpHeaders } from 'node:http';
import { DEADLINE_HEADER } from '../protocol/index.js';

/** The shortest of `routeMs` and the caller's deadlines; undefined: no deadline at all (no timers then). */
export function requestDeadline(routeMs: number | undefined, headers: IncomingHttpHeaders): number | undefined {
  let timeoutMs = routeMs;
  const propagated = Number(headers[DEADLINE_HEADER]);
  if (propagated > 0 && (timeoutMs === undefined || propagated < timeoutMs)) timeoutMs = propagated;
  const grpcTimeout = headers['grpc-timeout'];
  if (grpcTimeout !== undefined) {
    const deadline = parseGrpcTimeout(grpcTimeout);
    if (deadline !== null && (timeoutMs === undefined || deadline < timeoutMs)) timeoutMs = deadline;
  }
  return timeoutMs;
}

/** The try's headers with the remaining `budgetMs` announced upstream (and re-encoded for a gRPC upstream, as Envoy does). */
export function withBudget(headers: string[], budgetMs: number, grpc: boolean): string[] {
  const out = [...headers, DEADLINE_HEADER, String(Math.max(1, Math.floor(budgetMs)))];
  return grpc ? withGrpcTimeout(out, budgetMs) : out;
}

const GRPC_TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/** A grpc-timeout value ("100m", "5S": at most 8 digits and a unit) in milliseconds; null when malformed. */
export function parseGrpcTimeout(value: string | string[]): number | null {
  const m = /^(\d{1,8})([HMSmun])$/.exec(Array.isArray(value) ? value[0] ?? '' : value);
  if (m === null) return null;
  const ms = Number(m[1]) * GRPC_TIMEOUT_UNITS[m[2]!]!;
  return ms > 0 ? Math.max(1, ms) : null;
}

/** The header list with grpc-timeout replaced by `ms`, in milliseconds (rounded up, so never 0). */
function withGrpcTimeout(headers: string[], ms: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== 'grpc-timeout') out.push(headers[i]!, headers[i + 1]!);
  out.push('grpc-timeout', `${Math.min(99_999_999, Math.max(1, Math.ceil(ms)))}m`);
  return out;
}
