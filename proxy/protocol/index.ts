// The proxy protocol: everything the control plane and a sidecar say to each other.
// Both sides import this file and nothing else of each other (control plane → protocol ← proxy).
// It is the local equivalent of Envoy's xDS: the control plane pushes a versioned, complete snapshot;
// the sidecar answers ACK (applied) or NACK (rejected, with the reason) and keeps its last good snapshot.

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface WorkloadIdentity {
  service: string;
  /** Version label (the subset key); "" for a service without versions. */
  version: string;
  /** Stable instance id, e.g. "reviews-v2-0". */
  instanceId: string;
}

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Istio StringMatch: exactly one of the fields is set. */
export type StringMatch = { exact: string } | { prefix: string } | { regex: string };

/** One match block: every condition in it must hold (AND). Header and query names are lower case. */
export interface MatchBlock {
  uri?: StringMatch;
  method?: StringMatch;
  /** The Host / :authority of the request, without a port. */
  authority?: StringMatch;
  /** `{ regex: '.*' }` is how "present" is said (Istio's `{}`). */
  headers?: Record<string, StringMatch>;
  /** Each entry must NOT hold: the header is absent, or its value does not match. */
  withoutHeaders?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
  /**
   * The calling workload. Outbound, it is the sidecar's own workload (app = service, version);
   * an ingress gateway's workload is { app: "ingress" }.
   */
  sourceLabels?: { app?: string; version?: string };
}

/** Istio HeaderOperations; names are lower case. */
export interface HeaderOps {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface HeaderRewrite {
  request?: HeaderOps;
  response?: HeaderOps;
}

export interface RouteDestination {
  /** Destination service (a cluster below). */
  service: string;
  /** Version key; undefined means every instance of the service. */
  subset?: string;
  weight: number;
  /** Header operations applied when this destination is picked (after the rule's own). */
  headers?: HeaderRewrite;
}

export interface RetryPolicy {
  /** Retries after the first try; 0 disables. */
  attempts: number;
  perTryTimeoutMs?: number;
  /** Istio retryOn conditions, e.g. ["5xx", "connect-failure"], or numeric status codes as strings. */
  retryOn: string[];
}

/** Istio HTTPFaultInjection; percentages are 0–100 (absent in the mesh file = 100). */
export interface FaultPolicy {
  delay?: { fixedDelayMs: number; percent: number };
  /** Exactly one of httpStatus, grpcStatus. */
  abort?: { httpStatus?: number; grpcStatus?: number; percent: number };
}

export interface RedirectAction {
  /** Replaces the path (and query) of the request. */
  uri?: string;
  /** Replaces the prefix the rule matched (the whole path for another match); the query is kept. */
  prefixRewrite?: string;
  authority?: string;
  port?: number;
  /** Without port: 'protocol' gives the scheme's default port, 'request' the port the request came to. */
  derivePort?: 'protocol' | 'request';
  scheme?: 'http' | 'https';
  /** 301 unless set. */
  code: number;
}

export interface DirectResponseAction {
  status: number;
  body?: string;
}

export interface MirrorPolicy {
  service: string;
  subset?: string;
  /** 0–100; Istio mirrors 100% when mirrorPercentage is absent. */
  percent: number;
}

export interface RouteRule {
  name?: string;
  /** Blocks OR together; an empty list matches every request. */
  match: MatchBlock[];
  /** Empty when the rule redirects or answers directly. */
  destinations: RouteDestination[];
  redirect?: RedirectAction;
  directResponse?: DirectResponseAction;
  /** uri replaces the part of the path the match's uri prefix matched (the whole path for exact/regex). */
  rewrite?: { uri?: string; authority?: string };
  headers?: HeaderRewrite;
  mirror?: MirrorPolicy;
  /** A client-side fault turns the rule's retries and timeout off (Istio); the sidecar enforces it. */
  fault?: FaultPolicy;
  retries: RetryPolicy;
  timeoutMs?: number;
}

export type LoadBalancerPolicy =
  | { simple: 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' }
  | {
      /** Exactly one key. `sourceIp` hashes the calling workload (its instance id): on loopback every IP is 127.0.0.1. */
      consistentHash: { header?: string; cookie?: { name: string; path?: string; ttlMs?: number }; sourceIp?: boolean; queryParam?: string };
    };

/** Istio connectionPool, flattened; absent fields are unlimited (Envoy's defaults are effectively unlimited). */
export interface ConnectionPoolPolicy {
  /** tcp.maxConnections: connections per endpoint. */
  maxConnections?: number;
  connectTimeoutMs?: number;
  /** http.http1MaxPendingRequests: requests waiting for a connection, per cluster. */
  maxPendingRequests?: number;
  /** http.http2MaxRequests: requests in flight, per cluster. */
  maxRequests?: number;
  /** http.maxRequestsPerConnection; 0 = unlimited. */
  maxRequestsPerConnection?: number;
  /** http.maxRetries: retries in flight, per cluster. */
  maxRetries?: number;
  idleTimeoutMs?: number;
}

/** Istio outlierDetection with every default filled in by the control plane. */
export interface OutlierDetectionPolicy {
  /** 0 disables this trigger. */
  consecutive5xxErrors: number;
  consecutiveGatewayErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

/** Linkerd-style retry budget: retries ≤ ratio × requests + minPerSecond × ttl, over a sliding ttl window. */
export interface RetryBudgetPolicy {
  ratio: number;
  minPerSecond: number;
  ttlMs: number;
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerPolicy;
  connectionPool?: ConnectionPoolPolicy;
  outlierDetection?: OutlierDetectionPolicy;
  retryBudget?: RetryBudgetPolicy;
}

export interface Endpoint {
  instanceId: string;
  version: string;
  host: string;
  port: number;
}

export type AppProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

/** Where a destination service's instances are, and who they must prove to be. */
export interface Cluster {
  service: string;
  /** SPIFFE id the destination sidecars' certificates must carry ("" for an external destination). */
  spiffeId: string;
  /** false when the destination's inbound is DISABLE: talk plaintext. */
  tls: boolean;
  endpoints: Endpoint[];
  /** Absent = http. http2/grpc: HTTP/2 end to end; tcp: bytes passed through unparsed. */
  protocol?: AppProtocol;
  /** DestinationRule trafficPolicy; `subsets` entries replace fields of it for that version. */
  policy?: TrafficPolicy;
  subsetPolicies?: Record<string, TrafficPolicy>;
  /**
   * A destination outside the mesh (Istio ServiceEntry): endpoints are its host and port; `tls` then
   * means plain HTTPS verified against the system's CAs, no client certificate and no SPIFFE check.
   */
  external?: boolean;
}

/** A local listener the app (or a browser, for ingress) sends plain HTTP to. */
export interface OutboundListener {
  /** The service name the listener stands for (its virtual host). */
  service: string;
  /** 0 picks a free port on first apply; the port then stays for the sidecar's life. */
  port: number;
  /** First match wins; no match is a 404 from the sidecar. Ignored for a tcp destination. */
  routes: RouteRule[];
}

/** Istio AuthorizationPolicy, as the inbound evaluates it. Values support Istio's `*` prefix/suffix wildcards. */
export interface AuthorizationPolicy {
  name: string;
  action: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  /** null: the policy has no rules (an ALLOW with no rules allows nothing; a DENY denies nothing). */
  rules: AuthorizationRule[] | null;
}

/** from, to and when AND together; entries of from (and of to) OR; conditions of when AND. */
export interface AuthorizationRule {
  from?: AuthorizationSource[];
  to?: AuthorizationOperation[];
  when?: AuthorizationCondition[];
}

export interface AuthorizationSource {
  /** "<trust domain>/ns/<namespace>/sa/<service>", i.e. the SPIFFE id without spiffe://. */
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
}

export interface AuthorizationOperation {
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
  ports?: string[];
  notPorts?: string[];
  hosts?: string[];
  notHosts?: string[];
}

/** Keys: request.headers[<name>], source.principal, source.namespace, source.ip, destination.port, request.method, request.path. */
export interface AuthorizationCondition {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface InboundListener {
  /** 0 picks a free port on first apply. */
  port: number;
  appPort: number;
  /** The effective PeerAuthentication mode for this port. */
  mtls: MtlsMode;
  /** Absent = http. */
  protocol?: AppProtocol;
  /** Policies selecting this workload; empty or absent = allow all. */
  authorization?: AuthorizationPolicy[];
}

export interface SidecarConfig {
  /** Trust domain: SPIFFE ids are spiffe://<mesh>/ns/default/sa/<service>. */
  mesh: string;
  /**
   * Other trust domains whose peers the inbound accepts as the mesh's own (Istio meshConfig
   * trustDomainAliases, e.g. during a trust domain migration). Absent: only `mesh`.
   */
  trustDomainAliases?: string[];
  workload: WorkloadIdentity;
  tls: TlsMaterial;
  /** Absent for an ingress gateway, which only has outbound listeners. */
  inbound?: InboundListener;
  outbound: OutboundListener[];
  clusters: Cluster[];
  /** Absent: every new trace is recorded. */
  tracing?: { samplingPercent: number };
}

export interface ListenerPorts {
  inbound: number | null;
  /** Port per outbound listener, keyed by its service. */
  outbound: Record<string, number>;
}

export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  kind: 'server' | 'client';
  service: string;
  instanceId: string;
  /** For client spans, the destination service. */
  peerService: string | null;
  method: string;
  path: string;
  status: number;
  /** Epoch milliseconds. */
  startMs: number;
  durationMs: number;
  /** Tries made (1 = no retry). */
  attempts: number;
  error: string | null;
  attributes: Record<string, string | number | boolean>;
  /**
   * The request's and response's headers, redacted and bounded, as the control plane decodes them from a
   * batch: `> name: value` and `< name: value` lines (./span-headers.ts), which the trace store keeps as
   * they are; `http.<direction>.header.<name>` attributes once expanded (expandHeaderLines).
   */
  headers?: string;
}

/** One endpoint of an endpoint set, as the sidecar sees it now (plain data, for `devmesh explain`). */
export interface EndpointHealthSnapshot {
  instanceId: string;
  version: string;
  /** Requests in flight to this endpoint. */
  activeRequests: number;
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  /** Envoy's ejection multiplier, as of the endpoint's last outcome. */
  ejections: number;
  /** Epoch milliseconds the outlier ejection ends; null when the endpoint is not ejected now. */
  ejectedUntilMs: number | null;
  /** The load balancer would pick it now (ejected endpoints are, below minHealthPercent healthy). */
  inRotation: boolean;
}

/** One destination (a service, or one subset of it) of the applied config, with its endpoints' health. */
export interface EndpointSetSnapshot {
  service: string;
  subset: string | null;
  /** Requests admitted and not finished (what connectionPool limits count). */
  activeRequests: number;
  activeRetries: number;
  connectionPool: ConnectionPoolPolicy | null;
  outlierDetection: OutlierDetectionPolicy | null;
  /** Why the circuit breaker would refuse a request now; null when it would admit one. */
  shedding: string | null;
  endpoints: EndpointHealthSnapshot[];
}

export type ControlMessage =
  | { type: 'config'; version: number; config: SidecarConfig }
  /**
   * The config of version `of`, unchanged, under a new version: answered at once with an ACK of `version`
   * (nothing validated or rebuilt), or a NACK when the sidecar does not run `of`, after which the control
   * plane sends the whole config. Most sidecars' configs do not change with an edit; this keeps an edit's
   * cost to the sidecars it changes, as Istio pushes only to the proxies a change touches.
   */
  | { type: 'reconfirm'; version: number; of: number }
  /** Asks for the sidecar's metrics; answered by a `metrics` message with the same id. */
  | { type: 'scrape'; id: number }
  /** Asks for the sidecar's endpoint sets and their health; answered by an `endpointHealth` message with the same id. */
  | { type: 'endpointHealth'; id: number }
  | { type: 'shutdown' };

export type SidecarMessage =
  | { type: 'ack'; version: number; ports: ListenerPorts }
  | { type: 'nack'; version: number; reason: string }
  /** Spans encoded by the sidecar; decodeSpanBatch gives the SpanRecords (headers made header lines there). */
  | { type: 'spans'; batch: Uint8Array }
  /**
   * Prometheus text exposition (prom-client's `register.metrics()`), Istio's standard metrics:
   * `istio_requests_total` (counter), `istio_request_duration_milliseconds` (histogram),
   * `istio_tcp_connections_opened_total`, `istio_tcp_sent_bytes_total`, `istio_tcp_received_bytes_total`,
   * with the labels in METRIC_LABELS. Each sidecar reports both ends of a call, like Istio:
   * reporter="source" from the caller's sidecar (outbound), reporter="destination" from the callee's (inbound).
   */
  | { type: 'metrics'; id: number; text: string }
  /** Every endpoint set of the applied config, read without changing any of them. */
  | { type: 'endpointHealth'; id: number; sets: EndpointSetSnapshot[] };

/**
 * Labels on the request metrics: every label of Istio's standard metrics, in the order of Istio's
 * reference ("Istio Standard Metrics", istio.io/latest/docs/reference/config/metrics/, Labels).
 */
export const METRIC_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'request_protocol',
  'response_code',
  'connection_security_policy',
  'response_flags',
  'source_canonical_service',
  'destination_canonical_service',
  'source_canonical_revision',
  'destination_canonical_revision',
  'source_cluster',
  'destination_cluster',
  'grpc_response_status',
] as const;
/** The labels a request's outcome decides; the others say who called whom. */
export const OUTCOME_LABELS = ['request_protocol', 'response_code', 'response_flags', 'grpc_response_status'] as const;
export type OutcomeLabel = (typeof OUTCOME_LABELS)[number];
export type MetricLabel = (typeof METRIC_LABELS)[number];

/** The header a sidecar sets on responses it made itself, so a proxy 503 is told apart from an app 503. */
export const PROXY_ERROR_HEADER = 'x-devmesh-error';
/** Response header naming the route rule that matched (explainability). */
export const ROUTE_HEADER = 'x-devmesh-route';
/** On a 403 from authorization: the policy and rule that decided, e.g. "deny-admin[0]" or "no ALLOW policy matched". */
export const AUTHZ_HEADER = 'x-devmesh-authz';
/**
 * The remaining time budget of a request, in milliseconds, sent upstream with every proxied request.
 * The next sidecar honours it: its inbound stops waiting for its app after that long, and an outbound call
 * made by an app that forwards the header gets at most that budget (like grpc-timeout).
 */
export const DEADLINE_HEADER = 'x-devmesh-timeout-ms';

export function spiffeId(mesh: string, service: string): string {
  return `spiffe://${mesh}/ns/default/sa/${service}`;
}
export { decodeSpanBatch } from './span-wire.js';
export { expandHeaderLines, headerLineNeedle, redactQuery } from './span-headers.js';
export { compileFullMatch, Re2SyntaxError } from './regex.js';
export { compileRouteMatcher, routeRequestOf, formatExplanation, type FullMatchEngine, type RouteRequest, type RouteExplanation, type RuleExplanation } from './route-match.js';
export { CONTROL_ENV, CONTROL_PROTOCOL, ControlConnection, FrameReader, ChannelError, encodeFrame, MAX_FRAME_BYTES, type ChannelHello, type ChannelMessage } from './control-channel.js';
