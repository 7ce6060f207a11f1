// The API contract between the control plane and its clients (the React UI, the CLI, the Electron shell).
// Plain types only: this file imports nothing, so the renderer can use it without pulling in Node code.
// Every request carries `Authorization: Bearer <token>`; the server listens on 127.0.0.1 only.

export type InstanceState =
  | 'pending' // waiting for its sidecar or its upstreams
  | 'starting' // process spawned, waiting for health
  | 'running'
  | 'backoff' // crashed; a restart is scheduled
  | 'stopping'
  | 'stopped'
  | 'failed'; // could not be started at all (e.g. command not found)

export interface SidecarStatus {
  pid: number | null;
  /** Last configuration version the sidecar acknowledged. */
  ackedVersion: number;
  /** Reason of the last NACK, if the newest push was rejected. */
  lastNack: string | null;
}

export interface InstanceStatus {
  id: string;
  version: string;
  state: InstanceState;
  pid: number | null;
  appPort: number;
  inboundPort: number | null;
  restarts: number;
  startedAtMs: number | null;
  lastExit: string | null;
  sidecar: SidecarStatus;
}

export interface ServiceStatus {
  name: string;
  upstreams: string[];
  mtls: 'STRICT' | 'PERMISSIVE' | 'DISABLE';
  instances: InstanceStatus[];
}

export interface IngressStatus {
  service: string;
  port: number;
  url: string;
}

export interface ConfigStatus {
  file: string;
  /** Version pushed to the sidecars. */
  version: number;
  /** Set while the file on disk is invalid: the mesh keeps running its last good configuration. */
  error: string | null;
}

export interface StatusResponse {
  mesh: string;
  uiUrl: string;
  config: ConfigStatus;
  ingress: IngressStatus[];
  services: ServiceStatus[];
}

export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  kind: 'server' | 'client';
  service: string;
  instanceId: string;
  peerService: string | null;
  method: string;
  path: string;
  status: number;
  startMs: number;
  durationMs: number;
  attempts: number;
  error: string | null;
  attributes: Record<string, string | number | boolean>;
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  method: string;
  path: string;
  status: number;
  startMs: number;
  durationMs: number;
  spanCount: number;
  services: string[];
  errorCount: number;
}

export interface TraceListResponse {
  traces: TraceSummary[];
}

export interface TraceDetailResponse {
  traceId: string;
  spans: Span[];
}

export interface TraceQuery {
  service?: string;
  limit?: number;
  /** Only traces that started after this epoch millisecond (for live polling). */
  sinceMs?: number;
}

export interface ApiError {
  error: string;
  code: string;
}

/** Paths of the API, shared so client and server cannot drift apart. */
export const API = {
  status: '/api/status',
  traces: '/api/traces',
  trace: (traceId: string) => `/api/traces/${encodeURIComponent(traceId)}`,
} as const;
