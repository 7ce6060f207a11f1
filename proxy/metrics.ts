// Istio's standard metrics, kept with prom-client in a registry of the sidecar's own, and handed to the
// control plane as Prometheus text when it sends a `scrape` message (protocol/index.ts). Every label of
// Istio's "Istio Standard Metrics" reference is there, so Istio's Grafana dashboards and Kiali's queries find
// their series (test/proxy/istio-dashboards.test.ts runs a dashboard's queries against a real scrape).
//
// The cost sits on every request, so labels are resolved in two steps: the identity half (who called whom:
// workload, namespace, principal, app, version, service, canonical service and revision, cluster, security
// policy) once per peer or destination, cached as a `PeerLabels`; the outcome half (protocol, response code,
// flags, gRPC status) per series, cached under the peer. A request then costs two Map lookups, one short
// key, and in-place increments of prom-client's own records.
//
// prom-client is loaded without its index: the index also loads the
// pushgateway (http, https, zlib), cluster aggregation, summaries (tdigest) and default process metrics,
// about 9.7 MB of RSS in every sidecar, which needs only Registry, Counter and Histogram.
import { createRequire } from 'node:module';
import type { Counter as CounterType, Histogram as HistogramType, Registry as RegistryType } from 'prom-client';
import { METRIC_LABELS, OUTCOME_LABELS, spiffeId, type MetricLabel, type OutcomeLabel, type WorkloadIdentity } from './protocol/index.js';
import { UNEXPECTED_KINDS, type UnexpectedKind } from './last-resort.js';

const require = createRequire(import.meta.url);
const Registry = require('prom-client/lib/registry.js') as typeof RegistryType;
const Counter = require('prom-client/lib/counter.js') as typeof CounterType;
const Histogram = require('prom-client/lib/histogram.js') as typeof HistogramType;
type Counter<T extends string> = CounterType<T>;
type Histogram<T extends string> = HistogramType<T>;

/** Envoy's default histogram buckets, which Istio keeps for its duration and size histograms. */
const BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

/** The identity half of the labels: fixed for a (reporter, peer or destination) pair. */
export const IDENTITY_LABELS = METRIC_LABELS.filter((l) => !OUTCOME_LABELS.includes(l as OutcomeLabel)) as Exclude<MetricLabel, OutcomeLabel>[];
type IdentityLabel = Exclude<MetricLabel, OutcomeLabel>;
/** Istio: grpc_response_status is on istio_requests_total only. */
const HISTOGRAM_LABELS = METRIC_LABELS.filter((l) => l !== 'grpc_response_status');
/** Istio's TCP metrics: the identity labels, request_protocol ("tcp") and response_flags. */
const TCP_LABELS = [...IDENTITY_LABELS, 'request_protocol', 'response_flags'] as const;

export type RequestLabels = Record<MetricLabel, string>;
type IdentityLabels = Record<IdentityLabel, string>;

/** prom-client's own per-label-set records (counter.js setValue, histogram.js createBaseValues). */
interface CounterEntry {
  value: number;
}
interface HistogramEntry {
  sum: number;
  count: number;
  bucketValues: Record<string, number>;
}

/** One outcome's histograms (shared by every gRPC status) and its counters by gRPC status. */
interface Series {
  labels: Omit<RequestLabels, 'grpc_response_status'>;
  duration: HistogramEntry | null;
  requestBytes: HistogramEntry | null;
  responseBytes: HistogramEntry | null;
  counters: Map<string, { labels: RequestLabels; entry: CounterEntry | null }>;
}

/**
 * The labels saying who called whom, resolved once per peer (inbound) or destination (outbound) and
 * reused by every request between them; get one from SidecarMetrics.inboundPeer / outboundPeer.
 */
export interface PeerLabels {
  readonly labels: IdentityLabels;
  /** Series under this peer, by outcome key. */
  readonly series: Map<string, Series>;
  tcp: Record<(typeof TCP_LABELS)[number], string> | null;
}

/**
 * prom-client's records are found once, after the first observation through the public API; later ones
 * update them in place, exactly as its inc()/observe() would. If a prom-client version keeps its records
 * differently, they are not found and every call goes through the public API.
 */
function recordOf<T>(metric: object, labels: object): T | null {
  const map = (metric as { hashMap?: Record<string, { labels?: unknown }> }).hashMap;
  if (map === undefined) return null;
  for (const key in map) if (map[key]!.labels === labels) return map[key] as T;
  return null;
}

function histogramOf(metric: object, labels: object): HistogramEntry | null {
  const h = recordOf<HistogramEntry>(metric, labels);
  return typeof h?.count === 'number' ? h : null;
}

/** histogram.js findBound: the first upper bound at or above the value; none above the last. */
function observeInPlace(h: HistogramEntry, value: number): void {
  h.sum += value;
  h.count += 1;
  for (let i = 0; i < BUCKETS.length; i++) {
    if (value <= BUCKETS[i]!) {
      h.bucketValues[BUCKETS[i]!] = (h.bucketValues[BUCKETS[i]!] ?? 0) + 1;
      break;
    }
  }
}

/** The namespace in a SPIFFE id (spiffe://<trust domain>/ns/<namespace>/sa/<account>), or "unknown". */
function namespaceOf(spiffe: string | null): string {
  if (spiffe === null) return 'unknown';
  const m = /\/ns\/([^/]+)\//.exec(spiffe);
  return m === null ? 'unknown' : m[1]!;
}

/** What one request's outcome adds to its peer's labels. */
export interface RequestOutcome {
  protocol: string;
  status: number;
  grpcStatus: string;
  flags: string;
  durationMs: number;
  /** Istio's request.total_size / response.total_size: header bytes plus body bytes. */
  requestBytes: number;
  responseBytes: number;
}

/** This sidecar's own identity, as Istio labels a workload. */
interface Self {
  workload: WorkloadIdentity;
  mesh: string;
  workloadName: string;
  principal: string;
  version: string;
  revision: string;
  cluster: string;
}

const NAMESPACE = 'default';

export class SidecarMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'istio_requests_total', help: 'Requests, counted once at each end (reporter).', labelNames: METRIC_LABELS, registers: [this.registry] });
  private readonly duration = this.histogram('istio_request_duration_milliseconds', 'Request duration in milliseconds.');
  private readonly requestSize = this.histogram('istio_request_bytes', 'Request sizes (headers and body) in bytes.');
  private readonly responseSize = this.histogram('istio_response_bytes', 'Response sizes (headers and body) in bytes.');
  private readonly tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened.', labelNames: TCP_LABELS, registers: [this.registry] });
  private readonly tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed.', labelNames: TCP_LABELS, registers: [this.registry] });
  private readonly tcpSent = new Counter({ name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent towards the destination.', labelNames: TCP_LABELS, registers: [this.registry] });
  private readonly tcpReceived = new Counter({ name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the destination.', labelNames: TCP_LABELS, registers: [this.registry] });
  private readonly spansDroppedTotal = new Counter({
    name: 'devmesh_spans_dropped_total',
    help: 'Spans this sidecar dropped because the control plane was not reading them (requests are not affected).',
    registers: [this.registry],
  });
  private readonly unexpectedErrors = new Counter({
    name: 'devmesh_proxy_unexpected_errors_total',
    help: 'Exceptions nobody caught, by kind; "fatal" ones make the sidecar exit for a restart, the others are per connection and it keeps serving.',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly configUpdates = new Counter({
    name: 'devmesh_proxy_config_updates_total',
    help: 'Config versions from the control plane, by outcome: applied (validated and swapped in), reconfirmed (the running config under a new version, nothing rebuilt), rejected (NACKed).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  /**
   * Label sets by caller (its SPIFFE id; '' for plaintext), [plaintext, mTLS]; and by the compiled endpoint
   * or destination a call went to (objects the config push makes, so a push's are forgotten with it).
   * Both are replaced when the sidecar's own identity changes.
   */
  private inbound = new Map<string, [PeerLabels | null, PeerLabels | null]>();
  private outbound = new WeakMap<object, PeerLabels>();
  private unrouted = new Map<string, PeerLabels>();
  private self: Self | null = null;

  constructor() {
    // Every kind from the start at 0: a dashboard's rate() then sees the first one, and an alert can say "none".
    for (const kind of UNEXPECTED_KINDS) this.unexpectedErrors.inc({ kind }, 0);
  }

  private histogram(name: string, help: string): Histogram<(typeof HISTOGRAM_LABELS)[number]> {
    return new Histogram({ name, help, labelNames: HISTOGRAM_LABELS, buckets: BUCKETS, registers: [this.registry] });
  }

  /** The sidecar's identity, for its side of every label set; `mesh` is the trust domain. */
  private selfFor(workload: WorkloadIdentity, mesh: string): Self {
    const self = this.self;
    if (self !== null && self.workload === workload && self.mesh === mesh) return self;
    this.inbound = new Map();
    this.outbound = new WeakMap();
    this.unrouted = new Map();
    const fresh: Self = {
      workload,
      mesh,
      workloadName: workload.service,
      principal: spiffeId(mesh, workload.service),
      version: workload.version || 'unknown',
      // Istio's canonical revision defaults to "latest" where a workload has no version label.
      revision: workload.version || 'latest',
      cluster: mesh,
    };
    this.self = fresh;
    return fresh;
  }

  /**
   * Labels for requests the inbound serves from `peer` (its verified SPIFFE id; null for plaintext).
   * The caller's version is not known to the inbound (Istio learns it by metadata exchange): "unknown".
   */
  inboundPeer(workload: WorkloadIdentity, mesh: string, peer: string | null, mtls: boolean): PeerLabels {
    const self = this.selfFor(workload, mesh);
    let pair = this.inbound.get(peer ?? '');
    if (pair === undefined) {
      if (this.inbound.size >= 4096) this.inbound.delete(this.inbound.keys().next().value!);
      pair = [null, null];
      this.inbound.set(peer ?? '', pair);
    }
    let labels = pair[mtls ? 1 : 0];
    if (labels === null) {
      const source = peer === null ? 'unknown' : peer.slice(peer.lastIndexOf('/') + 1);
      labels = this.peer({
        reporter: 'destination',
        source_workload: source,
        source_workload_namespace: namespaceOf(peer),
        source_principal: peer ?? 'unknown',
        source_app: source,
        source_version: 'unknown',
        source_canonical_service: source,
        source_canonical_revision: peer === null ? 'unknown' : 'latest',
        source_cluster: peer === null ? 'unknown' : self.cluster,
        destination_workload: self.workloadName,
        destination_workload_namespace: NAMESPACE,
        destination_principal: mtls ? self.principal : 'unknown',
        destination_app: self.workloadName,
        destination_version: self.version,
        destination_service: self.workloadName,
        destination_service_name: self.workloadName,
        destination_service_namespace: NAMESPACE,
        destination_canonical_service: self.workloadName,
        destination_canonical_revision: self.revision,
        destination_cluster: self.cluster,
        connection_security_policy: mtls ? 'mutual_tls' : 'none',
      });
      pair[mtls ? 1 : 0] = labels;
    }
    return labels;
  }

  /**
   * Labels for requests this sidecar sends to `service` (an endpoint of `version`; '' unknown), whose
   * principal is `principal` when the call is mTLS (null: plaintext, or not decided: no destination).
   */
  outboundPeer(
    workload: WorkloadIdentity,
    mesh: string,
    /** What the labels are cached on: the endpoint or destination (config objects), or null (keyed by service). */
    anchor: object | null,
    service: string,
    version: string,
    security: 'mutual_tls' | 'none' | 'unknown',
    meshPeer: boolean,
  ): PeerLabels {
    const self = this.selfFor(workload, mesh);
    let labels = anchor === null ? this.unrouted.get(service) : this.outbound.get(anchor);
    if (labels === undefined) {
      labels = this.peer({
        reporter: 'source',
        source_workload: self.workloadName,
        source_workload_namespace: NAMESPACE,
        source_principal: self.principal,
        source_app: self.workloadName,
        source_version: self.version,
        source_canonical_service: self.workloadName,
        source_canonical_revision: self.revision,
        source_cluster: self.cluster,
        destination_workload: service,
        destination_workload_namespace: NAMESPACE,
        destination_principal: security === 'mutual_tls' && meshPeer ? spiffeId(mesh, service) : 'unknown',
        destination_app: service,
        destination_version: version || 'unknown',
        destination_service: service,
        destination_service_name: service,
        destination_service_namespace: NAMESPACE,
        destination_canonical_service: service,
        destination_canonical_revision: version || 'latest',
        destination_cluster: self.cluster,
        connection_security_policy: security,
      });
      if (anchor !== null) this.outbound.set(anchor, labels);
      else {
        // Requests no route took (404s): one label set per listener, bounded all the same.
        if (this.unrouted.size >= 1024) this.unrouted.delete(this.unrouted.keys().next().value!);
        this.unrouted.set(service, labels);
      }
    }
    return labels;
  }

  private peer(labels: IdentityLabels): PeerLabels {
    return { labels, series: new Map(), tcp: null };
  }

  request(peer: PeerLabels, o: RequestOutcome): void {
    const key = `${o.status}\u0000${o.protocol}\u0000${o.flags}`;
    let series = peer.series.get(key);
    if (series === undefined) {
      const labels = { ...peer.labels, request_protocol: o.protocol, response_code: String(o.status), response_flags: o.flags };
      this.duration.observe(labels, o.durationMs);
      this.requestSize.observe(labels, o.requestBytes);
      this.responseSize.observe(labels, o.responseBytes);
      series = {
        labels,
        duration: histogramOf(this.duration, labels),
        requestBytes: histogramOf(this.requestSize, labels),
        responseBytes: histogramOf(this.responseSize, labels),
        counters: new Map(),
      };
      peer.series.set(key, series);
    } else {
      if (series.duration !== null && Number.isFinite(o.durationMs)) observeInPlace(series.duration, o.durationMs);
      else this.duration.observe(series.labels, o.durationMs);
      if (series.requestBytes !== null) observeInPlace(series.requestBytes, o.requestBytes);
      else this.requestSize.observe(series.labels, o.requestBytes);
      if (series.responseBytes !== null) observeInPlace(series.responseBytes, o.responseBytes);
      else this.responseSize.observe(series.labels, o.responseBytes);
    }
    const counter = series.counters.get(o.grpcStatus);
    if (counter === undefined) {
      const labels: RequestLabels = { ...series.labels, grpc_response_status: o.grpcStatus };
      this.requests.inc(labels);
      const entry = recordOf<CounterEntry>(this.requests, labels);
      series.counters.set(o.grpcStatus, { labels, entry: typeof entry?.value === 'number' ? entry : null });
    } else if (counter.entry !== null) counter.entry.value += 1;
    else this.requests.inc(counter.labels);
  }

  tcp(peer: PeerLabels, event: 'open' | 'close', sent = 0, received = 0): void {
    const labels = (peer.tcp ??= { ...peer.labels, request_protocol: 'tcp', response_flags: '-' });
    if (event === 'open') this.tcpOpened.inc(labels);
    else {
      this.tcpClosed.inc(labels);
      if (sent > 0) this.tcpSent.inc(labels, sent);
      if (received > 0) this.tcpReceived.inc(labels, received);
    }
  }

  configUpdate(outcome: 'applied' | 'reconfirmed' | 'rejected'): void {
    this.configUpdates.inc({ outcome });
  }

  unexpectedError(kind: UnexpectedKind): void {
    this.unexpectedErrors.inc({ kind });
  }

  spansDropped(count: number): void {
    this.spansDroppedTotal.inc(count);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * Istio's request.total_size for a request as the sidecar received it: the request line and header lines
 * (rawHeaders, as sent) plus the body's declared length. A body streamed without Content-Length (chunked,
 * HTTP/2 without the header) counts its headers only.
 */
export function requestSize(method: string, target: string, rawHeaders: readonly string[], contentLength: string | undefined): number {
  let size = method.length + target.length + 12; // "GET / HTTP/1.1\r\n"
  for (let i = 0; i < rawHeaders.length; i++) size += rawHeaders[i]!.length + (i & 1 ? 4 : 0); // ": " and CRLF per line
  return size + 2 + bodyLength(contentLength);
}

/** A Content-Length value as a number of bytes; 0 when absent or unusable. */
export function bodyLength(contentLength: string | string[] | number | undefined): number {
  const n = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** An upstream answer's body length: the whole body when it came at once, else its Content-Length (0 unknown). */
export function answerBodyLength(answer: { readonly headers: Record<string, string | string[] | undefined>; readonly complete?: Buffer | null }): number {
  return answer.complete?.length ?? bodyLength(answer.headers['content-length']);
}

/** The header bytes of a response as sentResponseHeaders gives them (the head Node wrote, or a flat list). */
export function responseHeadSize(sent: string | readonly string[]): number {
  if (typeof sent === 'string') return sent.length;
  let size = 17; // "HTTP/1.1 200 OK\r\n"
  for (let i = 0; i < sent.length; i++) size += sent[i]!.length + (i & 1 ? 4 : 0);
  return size + 2;
}
