// Istio's standard metrics, kept with prom-client in a registry of the sidecar's own, and handed to the
// control plane as Prometheus text when it sends a `scrape` message (protocol.ts). Label sets are cached
// per combination: the per-request cost is one Map lookup and two increments, no label-object hashing.
import { Counter, Histogram, Registry } from 'prom-client';
import { METRIC_LABELS, type MetricLabel } from './protocol.js';

/** Istio's default buckets for istio_request_duration_milliseconds. */
const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

export type RequestLabels = Record<MetricLabel, string>;

interface Children {
  requests: ReturnType<Counter<MetricLabel>['labels']>;
  duration: ReturnType<Histogram<MetricLabel>['labels']>;
}

const TCP_LABELS = ['reporter', 'source_workload', 'destination_workload', 'destination_service', 'connection_security_policy'] as const;
type TcpLabel = (typeof TCP_LABELS)[number];
export type TcpLabels = Record<TcpLabel, string>;

export class SidecarMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'istio_requests_total', help: 'Requests, counted once at each end (reporter).', labelNames: METRIC_LABELS, registers: [this.registry] });
  private readonly duration = new Histogram({
    name: 'istio_request_duration_milliseconds',
    help: 'Request duration in milliseconds.',
    labelNames: METRIC_LABELS,
    buckets: DURATION_BUCKETS_MS,
    registers: [this.registry],
  });
  private readonly tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened.', labelNames: TCP_LABELS, registers: [this.registry] });
  private readonly tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed.', labelNames: TCP_LABELS, registers: [this.registry] });
  private readonly tcpSent = new Counter({ name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent towards the destination.', labelNames: TCP_LABELS, registers: [this.registry] });
  private readonly tcpReceived = new Counter({ name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the destination.', labelNames: TCP_LABELS, registers: [this.registry] });
  private readonly cache = new Map<string, Children>();

  request(labels: RequestLabels, durationMs: number): void {
    let key = '';
    for (let i = 0; i < METRIC_LABELS.length; i++) key += labels[METRIC_LABELS[i]!] + '\u0000';
    let children = this.cache.get(key);
    if (children === undefined) {
      children = { requests: this.requests.labels(labels), duration: this.duration.labels(labels) };
      this.cache.set(key, children);
    }
    children.requests.inc();
    children.duration.observe(durationMs);
  }

  tcp(labels: TcpLabels, event: 'open' | 'close', sent = 0, received = 0): void {
    if (event === 'open') this.tcpOpened.inc(labels);
    else {
      this.tcpClosed.inc(labels);
      if (sent > 0) this.tcpSent.inc(labels, sent);
      if (received > 0) this.tcpReceived.inc(labels, received);
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
