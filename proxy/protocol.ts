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

/** One match block: every condition in it must hold (AND). */
export interface MatchBlock {
  uri?: StringMatch;
  method?: StringMatch;
  headers?: Record<string, StringMatch>;
}

export interface RouteDestination {
  /** Destination service (a cluster below). */
  service: string;
  /** Version key; undefined means every instance of the service. */
  subset?: string;
  weight: number;
}

export interface RetryPolicy {
  /** Retries after the first try; 0 disables. */
  attempts: number;
  perTryTimeoutMs?: number;
  /** Istio retryOn conditions, e.g. ["5xx", "connect-failure"], or numeric status codes as strings. */
  retryOn: string[];
}

export interface RouteRule {
  name?: string;
  /** Blocks OR together; an empty list matches every request. */
  match: MatchBlock[];
  destinations: RouteDestination[];
  retries: RetryPolicy;
  timeoutMs?: number;
}

export interface Endpoint {
  instanceId: string;
  version: string;
  host: string;
  port: number;
}

/** Where a destination service's instances are, and who they must prove to be. */
export interface Cluster {
  service: string;
  /** SPIFFE id the destination sidecars' certificates must carry. */
  spiffeId: string;
  /** false when the destination's inbound is DISABLE: talk plaintext. */
  tls: boolean;
  endpoints: Endpoint[];
}

/** A local listener the app (or a browser, for ingress) sends plain HTTP to. */
export interface OutboundListener {
  /** The service name the listener stands for (its virtual host). */
  service: string;
  /** 0 picks a free port on first apply; the port then stays for the sidecar's life. */
  port: number;
  /** First match wins; no match is a 404 from the sidecar. */
  routes: RouteRule[];
}

export interface InboundListener {
  /** 0 picks a free port on first apply. */
  port: number;
  appPort: number;
  mtls: MtlsMode;
}

export interface SidecarConfig {
  /** Trust domain: SPIFFE ids are spiffe://<mesh>/ns/default/sa/<service>. */
  mesh: string;
  workload: WorkloadIdentity;
  tls: TlsMaterial;
  /** Absent for an ingress gateway, which only has outbound listeners. */
  inbound?: InboundListener;
  outbound: OutboundListener[];
  clusters: Cluster[];
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
}

export type ControlMessage =
  | { type: 'config'; version: number; config: SidecarConfig }
  /** Asks for the sidecar's metrics; answered by a `metrics` message with the same id. */
  | { type: 'scrape'; id: number }
  | { type: 'shutdown' };

export type SidecarMessage =
  | { type: 'ack'; version: number; ports: ListenerPorts }
  | { type: 'nack'; version: number; reason: string }
  | { type: 'spans'; spans: SpanRecord[] }
  /**
   * Prometheus text exposition (prom-client's `register.metrics()`), Istio's standard metrics:
   * `istio_requests_total` (counter), `istio_request_duration_milliseconds` (histogram),
   * `istio_tcp_connections_opened_total`, `istio_tcp_sent_bytes_total`, `istio_tcp_received_bytes_total`,
   * with the labels in METRIC_LABELS. Each sidecar reports both ends of a call, like Istio:
   * reporter="source" from the caller's sidecar (outbound), reporter="destination" from the callee's (inbound).
   */
  | { type: 'metrics'; id: number; text: string };

/** Labels on the request metrics, as in Istio's standard metrics. */
export const METRIC_LABELS = [
  'reporter',
  'source_workload',
  'source_version',
  'destination_workload',
  'destination_version',
  'destination_service',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;
export type MetricLabel = (typeof METRIC_LABELS)[number];

/** The header a sidecar sets on responses it made itself, so a proxy 503 is told apart from an app 503. */
export const PROXY_ERROR_HEADER = 'x-devmesh-error';
/** Response header naming the route rule that matched (explainability). */
export const ROUTE_HEADER = 'x-devmesh-route';

export function spiffeId(mesh: string, service: string): string {
  return `spiffe://${mesh}/ns/default/sa/${service}`;
}
