// The renderer's only way to talk to the control plane: typed on the shared contract, so a change
// of path or shape in src/contract/api.ts breaks the UI build instead of the UI at runtime.
import {
  API,
  type ApiError as ApiErrorBody,
  type StatusResponse,
  type TraceDetailResponse,
  type TraceListResponse,
  type TraceQuery,
} from '../src/contract/api';

const TOKEN_KEY = 'devmesh.token';

/** Why a call failed, in a form the UI can explain: no answer at all, or an answer with a status. */
export type ApiFailure =
  | { kind: 'network' } // control plane down or unreachable
  | { kind: 'unauthorized' } // 401: missing or wrong token
  | { kind: 'http'; status: number; code: string }; // any other non-2xx answer

export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';
  constructor(message: string, readonly failure: ApiFailure) {
    super(message);
  }
}

/**
 * The token arrives once in the URL fragment (`#token=…`, which browsers never send to servers).
 * It is moved to sessionStorage and removed from the address bar so it is not left in history,
 * bookmarks or screenshots; a reload of the same tab still finds it.
 */
export function takeToken(): string | null {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const fromHash = params.get('token');
  if (fromHash) {
    try {
      window.sessionStorage.setItem(TOKEN_KEY, fromHash);
    } catch {
      // Storage can be disabled; the token still works for this page's lifetime.
    }
    params.delete('token');
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : '');
    window.history.replaceState(window.history.state, '', url);
    return fromHash;
  }
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export interface ApiClient {
  status(signal?: AbortSignal): Promise<StatusResponse>;
  traces(query: TraceQuery, signal?: AbortSignal): Promise<TraceListResponse>;
  trace(traceId: string, signal?: AbortSignal): Promise<TraceDetailResponse>;
}

export function createApiClient(token: string | null, baseUrl = ''): ApiClient {
  async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(baseUrl + path, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        cache: 'no-store',
        signal,
      });
    } catch (err) {
      // Let aborts through untouched: callers cancel on purpose and ignore them.
      if (signal?.aborted) throw err;
      throw new ApiClientError(
        `Cannot reach the devmesh control plane at ${baseUrl || window.location.origin}. Is \`devmesh up\` still running?`,
        { kind: 'network' },
      );
    }
    if (res.status === 401) {
      throw new ApiClientError(
        token
          ? 'The control plane rejected this page’s token (401). Open the URL printed by `devmesh up` again; it changes on every start.'
          : 'No access token (401). Open the URL printed by `devmesh up`; it ends in #token=….',
        { kind: 'unauthorized' },
      );
    }
    if (!res.ok) {
      const body = await readErrorBody(res);
      throw new ApiClientError(`${path}: ${body?.error ?? res.statusText} (HTTP ${res.status})`, {
        kind: 'http',
        status: res.status,
        code: body?.code ?? 'unknown',
      });
    }
    return (await res.json()) as T;
  }

  return {
    status: (signal) => get<StatusResponse>(API.status, signal),
    traces: (query, signal) => get<TraceListResponse>(API.traces + queryString(query), signal),
    trace: (traceId, signal) => get<TraceDetailResponse>(API.trace(traceId), signal),
  };
}

function queryString(query: TraceQuery): string {
  const params = new URLSearchParams();
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  if (query.service) params.set('service', query.service);
  if (query.sinceMs !== undefined) params.set('sinceMs', String(Math.floor(query.sinceMs)));
  const s = params.toString();
  return s ? `?${s}` : '';
}

async function readErrorBody(res: Response): Promise<ApiErrorBody | null> {
  try {
    const body = (await res.json()) as Partial<ApiErrorBody>;
    return typeof body.error === 'string' ? { error: body.error, code: String(body.code ?? 'unknown') } : null;
  } catch {
    return null;
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}
