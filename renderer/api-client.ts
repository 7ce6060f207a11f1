// The renderer's only way to talk to the control plane: typed on the shared contract, so a change
// of path or shape in src/contract/api.ts breaks the UI build instead of the UI at runtime.
import {
  API,
  type ApiError as ApiErrorBody,
  type AppLogQuery,
  type AppLogResponse,
  type AppMetricsResponse,
  type ApplyResponse,
  type ConfigDocumentResponse,
  type ExplainRequest,
  type ExplainResponse,
  type ExportRequest,
  type ExportResponse,
  type ImportApplyResponse,
  type ImportPreviewResponse,
  type ImportRequest,
  type LifecycleAction,
  type LogQuery,
  type LogResponse,
  type OperationResponse,
  type OtlpImportResponse,
  type ServiceMetricsResponse,
  type StatusResponse,
  type TapResponse,
  type TopologyResponse,
  type TraceDetailResponse,
  type TraceListResponse,
  type TraceQuery,
  type ValidateResponse,
} from '../src/contract/api';
import { splitUiToken } from '../src/contract/ui-link';

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
 * The token arrives once in the URL fragment, which browsers never send to servers: alone (`#token=…`,
 * as `devmesh up` prints it) or as one more parameter of a deep link (`#/traces?trace=…&token=…`; the
 * form is defined in src/contract/ui-link.ts). It is moved to sessionStorage and removed from the address
 * bar, the route kept, so it is not left in history, bookmarks or screenshots; a reload of the same tab
 * still finds it. It is sent only in the Authorization header, never in a URL.
 */
export function takeToken(): string | null {
  const { token: fromHash, rest } = splitUiToken(window.location.hash);
  if (fromHash !== null || rest !== window.location.hash.replace(/^#/, '')) {
    if (fromHash) {
      try {
        window.sessionStorage.setItem(TOKEN_KEY, fromHash);
      } catch {
        // Storage can be disabled; the token still works for this page's lifetime.
      }
    }
    const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : '');
    window.history.replaceState(window.history.state, '', url);
    if (fromHash) return fromHash;
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
  traceOtlp(traceId: string, signal?: AbortSignal): Promise<unknown>;
  importOtlp(body: unknown): Promise<OtlpImportResponse>;
  logs(query: LogQuery, signal?: AbortSignal): Promise<LogResponse>;
  topology(windowMs: number, signal?: AbortSignal): Promise<TopologyResponse>;
  serviceMetrics(service: string, windowMs: number, stepMs: number, signal?: AbortSignal): Promise<ServiceMetricsResponse>;
  lifecycle(action: LifecycleAction, service: string | null): Promise<OperationResponse>;
  tap(query: { service?: string; afterSeq?: number }, signal?: AbortSignal): Promise<TapResponse>;
  config(signal?: AbortSignal): Promise<ConfigDocumentResponse>;
  validateConfig(text: string, signal?: AbortSignal): Promise<ValidateResponse>;
  applyConfig(text: string, baseText?: string): Promise<ApplyResponse>;
  undoConfig(): Promise<ApplyResponse>;
  /** Translates production policy and validates it against the running mesh's file; writes nothing. */
  importPreview(req: ImportRequest, signal?: AbortSignal): Promise<ImportPreviewResponse>;
  /** Writes devmesh.policy.yaml (and the include); the running mesh pushes it like any edit. */
  importApply(req: ImportRequest): Promise<ImportApplyResponse>;
  exportPolicy(req: ExportRequest): Promise<ExportResponse>;
  /** Which rule a request would match in the applied config, with the caller's live endpoint health; sends nothing. */
  explain(req: ExplainRequest): Promise<ExplainResponse>;
  /** The OpenTelemetry log records apps sent (structured logs), newest `limit` matching, oldest first. */
  appLogs(query: AppLogQuery, signal?: AbortSignal): Promise<AppLogResponse>;
  /** The OpenTelemetry metrics a service's apps sent. */
  appMetrics(service: string, signal?: AbortSignal): Promise<AppMetricsResponse>;
}

export function createApiClient(token: string | null, baseUrl = ''): ApiClient {
  async function get<T>(path: string, signal?: AbortSignal, body?: unknown): Promise<T> {
    let res: Response;
    try {
      const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      res = await fetch(baseUrl + path, {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        cache: 'no-store',
        signal: signal ?? null,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
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
          : 'No access token (401). Open the URL printed by `devmesh up` (it ends in #token=…), or add &token=… to this link’s fragment.',
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
    traceOtlp: (traceId, signal) => get<unknown>(API.traceOtlp(traceId), signal),
    importOtlp: (body) => get<OtlpImportResponse>(API.importOtlp, undefined, body),
    logs: (query, signal) => get<LogResponse>(API.logs + queryString(query as Record<string, unknown>), signal),
    topology: (windowMs, signal) => get<TopologyResponse>(`${API.topology}?windowMs=${windowMs}`, signal),
    serviceMetrics: (service, windowMs, stepMs, signal) =>
      get<ServiceMetricsResponse>(`${API.serviceMetrics(service)}?windowMs=${windowMs}&stepMs=${stepMs}`, signal),
    lifecycle: (action, service) => get<OperationResponse>(service ? API.serviceAction(service, action) : API.meshAction(action), undefined, {}),
    tap: (query, signal) => get<TapResponse>(API.tap + queryString(query), signal),
    config: (signal) => get<ConfigDocumentResponse>(API.config, signal),
    validateConfig: (text, signal) => get<ValidateResponse>(API.configValidate, signal, { text }),
    applyConfig: (text, baseText) => get<ApplyResponse>(API.configApply, undefined, baseText === undefined ? { text } : { text, baseText }),
    undoConfig: () => get<ApplyResponse>(API.configUndo, undefined, {}),
    importPreview: (req, signal) => get<ImportPreviewResponse>(API.importPreview, signal, req),
    importApply: (req) => get<ImportApplyResponse>(API.importApply, undefined, req),
    exportPolicy: (req) => get<ExportResponse>(API.exportPolicy, undefined, req),
    explain: (req) => get<ExplainResponse>(API.explain, undefined, req),
    appLogs: (query, signal) => get<AppLogResponse>(API.appLogs + queryString(query as Record<string, unknown>), signal),
    appMetrics: (service, signal) => get<AppMetricsResponse>(API.appMetrics(service), signal),
  };
}

/** Query string of the defined, non-empty fields; numbers that are times are sent as whole milliseconds. */
function queryString(query: object): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, typeof v === 'number' && k.endsWith('Ms') ? String(Math.floor(v)) : String(v));
  }
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
