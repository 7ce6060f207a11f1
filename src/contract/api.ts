// The API contract between the control plane and its clients (the React UI, the CLI, the Electron shell).
// Plain types (and a few pure helpers both sides share): this file imports nothing, so the renderer can
// use it without pulling in Node code.
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
  /** Times the sidecar died and was started again (a crash, a kill): each one dropped its in-flight requests. */
  restarts: number;
  /** How the sidecar last ended ("sidecar killed by SIGKILL"), null while it never has. */
  lastExit: string | null;
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
  /**
   * What the last state change said, e.g. "pulling inventory:1.4: 40% of 27.1 MB, 3/5 layers" or
   * "building devmesh-shop-api:latest" while pending; null when it said nothing (running says nothing).
   */
  detail?: string | null;
  sidecar: SidecarStatus;
}

export interface ServiceStatus {
  name: string;
  /** Watch mode: the patterns whose change restarts the service (absent when it watches nothing, or watch mode is off). */
  watch?: { paths: string[]; ignore: string[] };
  upstreams: string[];
  mtls: 'STRICT' | 'PERMISSIVE' | 'DISABLE';
  instances: InstanceStatus[];
}

export interface IngressStatus {
  service: string;
  port: number;
  url: string;
  /** The ingress gateway's own proxy process. */
  sidecar: SidecarStatus;
}

export interface ConfigStatus {
  file: string;
  /** Version pushed to the sidecars. */
  version: number;
  /** Set while the file on disk is invalid: the mesh keeps running its last good configuration. */
  error: string | null;
  /**
   * The versions this control plane made, newest first (the last 50): a version is made only when what the
   * sidecars are told changes (the mesh file's policy, an endpoint set, certificates), and says why.
   */
  history?: ConfigVersionRecord[];
  /** Watch mode is on (`devmesh up` without --no-watch) for the services that list `watch:`. */
  watching?: boolean;
}

/** One configuration version: why it was made, and how the sidecars it was sent to answered. */
export interface ConfigVersionRecord {
  version: number;
  atMs: number;
  /**
   * What changed, e.g. "mesh file edited: routes.catalog", "endpoints: web −web-0 (restarting)",
   * "endpoints: web +web-0", "certificates renewed", "first configuration".
   */
  reason: string;
  /** Sidecars it was sent to, those that ACKed it, and the NACK (or no-answer) reasons. */
  sent: number;
  acked: number;
  nacks: string[];
}

export interface StatusResponse {
  mesh: string;
  uiUrl: string;
  config: ConfigStatus;
  ingress: IngressStatus[];
  services: ServiceStatus[];
  /** Start/stop/restart operations asked for through the API, newest first (the last few). */
  operations?: OperationStatus[];
  /** Where apps send their own OpenTelemetry spans, metrics and logs (OTLP/HTTP, loopback); null when disabled. */
  otlpEndpoint?: string | null;
  /** The headers a request to otlpEndpoint must carry (the ingest token); apps started by devmesh get them in OTEL_EXPORTER_OTLP_HEADERS. */
  otlpHeaders?: Record<string, string>;
  /** The OTLP/gRPC endpoint beside otlpEndpoint (traces, metrics and logs; same headers); null when disabled. */
  otlpGrpcEndpoint?: string | null;
}

export type LifecycleAction = 'start' | 'stop' | 'restart';

export type OperationState = 'running' | 'succeeded' | 'failed';

export interface OperationStatus {
  id: number;
  action: LifecycleAction;
  /** A service name, or null for the whole mesh. */
  service: string | null;
  state: OperationState;
  startedAtMs: number;
  finishedAtMs: number | null;
  /** What it is doing now, or why it failed. */
  detail: string;
}

export interface OperationResponse {
  operation: OperationStatus;
}

export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  /** 'internal' only comes from apps' own OpenTelemetry spans (OTLP ingest); sidecars report server/client. */
  kind: 'server' | 'client' | 'internal';
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
  /** The root span's gRPC status (`rpc.grpc.status_code`) for a gRPC call, whose HTTP status is 200 whatever happened; null otherwise. */
  grpcStatus: number | null;
}

export interface TraceListResponse {
  traces: TraceSummary[];
}

export interface TraceDetailResponse {
  traceId: string;
  spans: Span[];
}

export type TraceStatusFilter = 'ok' | 'error' | number;

export interface TraceQuery {
  /** Traces with a span of this service, or a call to it. */
  service?: string;
  /** Traces in which a sidecar matched this route rule (the `route` span attribute, e.g. "reviews/split"). */
  route?: string;
  /** 'error': a span failed; 'ok': none did; a number: the root span's HTTP status. */
  status?: TraceStatusFilter;
  minDurationMs?: number;
  /** `key=value` (a span attribute equal to value) or `key` (a span has the attribute). */
  attribute?: string;
  /** Start time range, epoch milliseconds, inclusive. */
  fromMs?: number;
  toMs?: number;
  limit?: number;
  /** Only traces that started after this epoch millisecond (for live polling). */
  sinceMs?: number;
}

export interface TraceRetention {
  maxSpans: number;
  maxAgeMs: number;
}

// ---- logs ----

export interface LogLine {
  /** Increases by one per line across the mesh; `afterSeq` polls from it. */
  seq: number;
  service: string;
  instanceId: string;
  stream: 'stdout' | 'stderr';
  timeMs: number;
  text: string;
  /** The trace that was active when the line was written, where known. */
  traceId: string | null;
  /** 'logged': the app wrote a trace id or traceparent; 'inferred': the line was written while exactly one request was being served by that instance. */
  traceSource: 'logged' | 'inferred' | null;
}

export interface LogQuery {
  service?: string;
  instance?: string;
  /** Case-insensitive substring. */
  search?: string;
  afterSeq?: number;
  limit?: number;
}

export interface LogResponse {
  lines: LogLine[];
  lastSeq: number;
}

// ---- topology and golden metrics ----

export interface EdgeStats {
  source: string;
  target: string;
  requests: number;
  rps: number;
  /** 0..1; null without requests. */
  successRate: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface TopologyResponse {
  windowMs: number;
  edges: EdgeStats[];
}

export interface MetricPoint {
  /** Bucket start, epoch ms. */
  tMs: number;
  requests: number;
  rps: number;
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ServiceMetricsResponse {
  service: string;
  stepMs: number;
  /** Requests served by the service (server spans of its sidecars). */
  inbound: MetricPoint[];
  /** Calls it made (client spans of its sidecar). */
  outbound: MetricPoint[];
  /** Where the figures come from, said plainly in the UI. */
  source: string;
}

// ---- tap ----

export interface TapEvent {
  seq: number;
  timeMs: number;
  traceId: string;
  spanId: string;
  /** The reporting sidecar's service. */
  service: string;
  instanceId: string;
  direction: 'inbound' | 'outbound';
  /** The other side: the caller for inbound (when known), the destination for outbound. */
  peer: string | null;
  method: string;
  path: string;
  status: number;
  /** A gRPC call's status code (rpc.grpc.status_code): the call's outcome, where its HTTP status is 200 whatever happened. */
  grpcStatus: number | null;
  durationMs: number;
  route: string | null;
  attempts: number;
  error: string | null;
}

export interface TapResponse {
  events: TapEvent[];
  lastSeq: number;
}

// ---- configuration editing ----

export interface ConfigProblemDto {
  line: number;
  column: number;
  message: string;
}

export interface ConfigRevision {
  revision: number;
  savedAtMs: number;
  /** 'api' for edits applied from the UI, 'disk' for the text found on disk at start. */
  origin: 'disk' | 'api' | 'undo';
}

export interface ConfigDocumentResponse {
  file: string;
  text: string;
  /** Pushed version (as in status). */
  version: number;
  error: string | null;
  revisions: ConfigRevision[];
}

export interface ValidateRequest {
  text: string;
}

export interface ValidateResponse {
  valid: boolean;
  problems: ConfigProblemDto[];
}

export interface ApplyRequest {
  text: string;
  /** The text the edit started from: a file changed on disk since is a conflict (409), not overwritten. */
  baseText?: string;
}

export interface ApplyResponse {
  applied: boolean;
  problems: ConfigProblemDto[];
  /** Pushed version after the apply, and each sidecar's answer to it. */
  version: number;
  sidecars: { id: string; ackedVersion: number; lastNack: string | null }[];
  error: string | null;
}

// ---- OTLP ----

export interface OtlpImportResponse {
  imported: number;
}

// ---- app telemetry over OTLP: structured logs and app metrics (issue 15) ----

export type AttributeValue = string | number | boolean;

/** One OpenTelemetry log record an app sent (OTLP logs), as stored. */
export interface AppLogRecord {
  /** Increases by one per record across the mesh; `afterSeq` polls from it. */
  seq: number;
  /** The record's time (its observed time when the SDK sent none), epoch ms. */
  timeMs: number;
  service: string;
  instanceId: string;
  /** OpenTelemetry severity number, 1–24 (TRACE 1–4, DEBUG 5–8, INFO 9–12, WARN 13–16, ERROR 17–20, FATAL 21–24); 0 unspecified. */
  severityNumber: number;
  /** As the app said it (e.g. "WARN"), or derived from the number. */
  severityText: string;
  /** The body; a structured body as JSON. */
  body: string;
  attributes: Record<string, AttributeValue>;
  /** Resource attributes other than service.name / service.instance.id. */
  resource: Record<string, AttributeValue>;
  scope: string | null;
  eventName: string | null;
  traceId: string | null;
  spanId: string | null;
}

export type SeverityName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface AppLogQuery {
  service?: string;
  instance?: string;
  /** At least this severity: a name (warn) or an OpenTelemetry severity number. */
  minSeverity?: SeverityName | number;
  /** Case-insensitive substring of the body. */
  search?: string;
  /** `key=value` (an attribute equal to value) or `key` (the record has the attribute). */
  attribute?: string;
  traceId?: string;
  spanId?: string;
  afterSeq?: number;
  limit?: number;
}

export interface AppLogResponse {
  /** Oldest first. */
  records: AppLogRecord[];
  lastSeq: number;
}

export type AppMetricType = 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';

export interface AppMetricPoint {
  tMs: number;
  /** gauge/sum: the value; histogram/summary: the mean (sum / count), null without observations. */
  value: number | null;
  /** histogram/summary only. */
  count?: number;
  sum?: number;
}

export interface AppMetricSeries {
  attributes: Record<string, AttributeValue>;
  /** Oldest first, bounded. */
  points: AppMetricPoint[];
  /** A cumulative monotonic sum's (or histogram's count's) increase per second over the last two points. */
  ratePerSec: number | null;
}

export interface AppMetric {
  name: string;
  description: string;
  unit: string;
  type: AppMetricType;
  monotonic: boolean;
  temporality: 'cumulative' | 'delta' | null;
  instrumentationScope: string | null;
  series: AppMetricSeries[];
}

export interface AppMetricsResponse {
  service: string;
  metrics: AppMetric[];
  /** Said plainly in the UI. */
  source: string;
}

export interface ApiError {
  error: string;
  code: string;
}

// ---- policy import (devmesh import, for the UI's import wizard) ----

export type ImportSourceFormat = 'istio' | 'gateway-api' | 'linkerd' | 'consul';
export type ImportOutcome = 'mapped' | 'approximated' | 'ignored' | 'invalid';

export interface ImportReportEntry {
  file: string;
  /** 0-based index of the document in its file. */
  document: number;
  line?: number;
  format: ImportSourceFormat | 'unknown';
  kind: string;
  name: string;
  /** Field path in the resource, e.g. spec.http[0].retries. */
  path: string;
  outcome: ImportOutcome;
  /** mapped: what it became; approximated: how; ignored: why; invalid: what is wrong. */
  detail: string;
}

export interface ImportReport {
  /** One per resource, with what it became as a whole: mapped only when all of it was; approximated when it
   *  partly maps (something changed or dropped); ignored when nothing of it applies; invalid. */
  documents: { file: string; document: number; format: ImportSourceFormat | 'unknown'; kind: string; name: string; outcome: ImportOutcome }[];
  entries: ImportReportEntry[];
  unmappedHosts: { host: string; suggestion: string | null }[];
  /** Resources by outcome (the documents'). */
  counts: Record<ImportOutcome, number>;
  /** Entries (fields) by outcome; an ignored field reads "not mapped". */
  fieldCounts: Record<ImportOutcome, number>;
}

export interface ImportRequest {
  files: { name: string; text: string }[];
  /** Forces the format; detected per document when absent. */
  from?: ImportSourceFormat;
  /** Production name → local name (or local/version), like --map. */
  map?: Record<string, string>;
}

export interface ImportPreviewResponse {
  report: ImportReport;
  /** The policy file as it would be written (YAML). */
  policyText: string;
  /** Ingress entries production gateways imply (a policy file cannot add them). */
  ingress: { service: string; port: number | null; from: string }[];
  /** Set when the imported policy does not fit the mesh: nothing would be written. */
  error: string | null;
}

export interface ImportApplyResponse extends ImportPreviewResponse {
  /** Path of the policy file written, or null when nothing was (error). */
  written: string | null;
}

// ---- policy export (devmesh export, for the UI's export panel) ----

export type ExportFormat = 'istio' | 'gateway-api' | 'linkerd' | 'consul';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['istio', 'gateway-api', 'linkerd', 'consul'];
/** How Consul config entries are written: HCL files (`consul config write`) or consul-k8s CRDs. */
export type ConsulForm = 'hcl' | 'crd';
export const CONSUL_FORMS: readonly ConsulForm[] = ['hcl', 'crd'];

export interface ExportRequest {
  to: ExportFormat;
  /** Consul only; HCL when absent. */
  format?: ConsulForm;
}

export interface ExportResponse {
  /** Everything as one text (YAML documents, or HCL files each under a `# <file>` line). */
  text: string;
  /** What the target cannot express, located (`routes.reviews[1] (split): …`). */
  notes: string[];
  /** One file per entry when the format is so (Consul HCL), else null. */
  files: { name: string; text: string }[] | null;
}

// ---- explain (devmesh explain, against the running mesh) ----

/**
 * ExplainRequest headers out of "name: value" lines, as `devmesh explain -H` and the UI's Explain form take
 * them: blank lines are skipped; throws naming the first line that is not "name: value".
 */
export function headersFromLines(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`"${line}": expected "name: value"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** POST body of /api/explain: the request to explain. Nothing is sent; the answer describes what would happen. */
export interface ExplainRequest {
  /** Destination service: the outbound listener the caller calls. */
  to: string;
  /** Calling service, optionally "service:version"; "ingress" (the default) for the ingress gateway of `to`. */
  from?: string;
  method: string;
  /** Path with an optional query string. */
  path: string;
  /** Request headers; names are case-insensitive. */
  headers?: Record<string, string>;
}

/** The part of the matched route rule a client needs; the answer carries the whole rule as the sidecar gets it. */
export interface ExplainRule {
  name?: string;
  destinations: { service: string; subset?: string; weight: number }[];
}

/** One endpoint (instance) of a destination, as the caller's sidecar sees it now. */
export interface ExplainEndpoint {
  instanceId: string;
  version: string;
  /** Ejected by outlier detection now. */
  ejected: boolean;
  /** Epoch milliseconds the ejection ends; null when not ejected. */
  ejectedUntilMs: number | null;
  /** Envoy's ejection multiplier: +1 per ejection, −1 per interval spent un-ejected (decayed to now). */
  ejections: number;
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  /** Requests in flight to this endpoint from the caller's sidecar. */
  activeRequests: number;
  /** Whether the load balancer would pick it now (an ejected endpoint is back in rotation below minHealthPercent). */
  inRotation: boolean;
}

/** One destination the matched rule could send to, as one caller sidecar sees it. */
export interface ExplainDestination {
  service: string;
  subset: string | null;
  weight: number;
  /** Set for the rule's mirror target: the percent of requests copied there (answers discarded); weight is 0. */
  mirrorPercent?: number;
  /** false when this sidecar has no endpoint set for the destination (e.g. it is not one of the caller's upstreams). */
  known: boolean;
  /** Requests in flight to the destination (what connectionPool limits count). */
  activeRequests: number;
  activeRetries: number;
  /** connectionPool (circuit breaker) limits; null when none are set. */
  limits: { maxConnections?: number; maxPendingRequests?: number; maxRequests?: number; maxRetries?: number } | null;
  /** The circuit breaker would refuse a new request now (503 overflow), and why. */
  shedding: boolean;
  sheddingReason: string | null;
  /** Outlier detection is configured for the destination. */
  outlierDetection: boolean;
  endpoints: ExplainEndpoint[];
}

/** The endpoint health one caller sidecar reported, or why it could not. */
export interface ExplainSidecarHealth {
  /** Instance id of the caller's sidecar (e.g. "frontend-0", or "ingress-frontend"). */
  sidecar: string;
  /** Configuration version that sidecar last ACKed. */
  ackedVersion: number;
  /** Set when the sidecar did not answer (not running, or no answer in time); destinations is then empty. */
  error: string | null;
  destinations: ExplainDestination[];
}

export type ExplainHealth =
  | { available: true; sidecars: ExplainSidecarHealth[] }
  | { available: false; reason: string };

export interface ExplainResponse {
  /** Configuration version the running mesh has applied (its last good configuration), which was explained. */
  configVersion: number;
  /** Index of the matching rule; -1 when none matches (the sidecar answers 404). */
  ruleIndex: number;
  rule: ExplainRule | null;
  /** Live endpoint health of the matched rule's destinations, from the caller's sidecars. */
  health: ExplainHealth;
  /** The whole answer for a person: why the rule matched, what it does, then the health lines. */
  lines: string[];
}

/** Paths of the API, shared so client and server cannot drift apart. */
export const API = {
  status: '/api/status',
  traces: '/api/traces',
  trace: (traceId: string) => `/api/traces/${encodeURIComponent(traceId)}`,
  /** GET: one trace as OTLP JSON; POST /api/traces/otlp: import OTLP JSON. */
  traceOtlp: (traceId: string) => `/api/traces/${encodeURIComponent(traceId)}/otlp`,
  importOtlp: '/api/traces/otlp',
  logs: '/api/logs',
  topology: '/api/topology',
  serviceMetrics: (service: string) => `/api/services/${encodeURIComponent(service)}/metrics`,
  serviceAction: (service: string, action: LifecycleAction) => `/api/services/${encodeURIComponent(service)}/${action}`,
  meshAction: (action: LifecycleAction) => `/api/mesh/${action}`,
  tap: '/api/tap',
  config: '/api/config',
  configValidate: '/api/config/validate',
  configApply: '/api/config/apply',
  configUndo: '/api/config/undo',
  /** POST ImportRequest → ImportPreviewResponse (writes nothing). */
  importPreview: '/api/import/preview',
  /** POST ImportRequest → ImportApplyResponse: writes devmesh.policy.yaml and includes it; the mesh reloads. */
  importApply: '/api/import/apply',
  /** POST ExportRequest → ExportResponse: the mesh file's policy (with its includes) in a production format. */
  exportPolicy: '/api/export',
  /** POST ExplainRequest → ExplainResponse: which rule would match, against the applied config, with live endpoint health. */
  explain: '/api/explain',
  // ---- app telemetry over OTLP (issue 15) ----
  /** GET AppLogQuery → AppLogResponse: the OpenTelemetry log records apps sent (structured logs). */
  appLogs: '/api/app-logs',
  /** GET → AppMetricsResponse: the OpenTelemetry metrics a service's apps sent. */
  appMetrics: (service: string) => `/api/services/${encodeURIComponent(service)}/app-metrics`,
  /** Prometheus text; no token needed (loopback only), so a local Prometheus can scrape it. */
  metrics: '/metrics',
} as const;
