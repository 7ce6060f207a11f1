// Istio's standard metrics, kept with prom-client in a registry of the sidecar's own, and handed to the
// control plane as Prometheus text when it sends a `scrape` message (protocol/index.ts). Label sets are cached
// per combination: the per-request cost is one Map lookup and two increments, no label-object hashing.
//
// prom-client is loaded without its index: the index also loads the
// pushgateway (http, https, zlib), cluster aggregation, summaries (tdigest) and default process metrics,
// about 9.7 MB of RSS in every sidecar, which needs only Registry, Counter and Histogram.
import { createRequire } from 'node:module';
import type { Counter as CounterType, Histogram as HistogramType, Registry as RegistryType } from 'prom-client';
import { METRIC_LABELS, type MetricLabel } from './protocol/index.js';
import { UNEXPECTED_KINDS, type UnexpectedKind } from './last-resort.js';

const require = createRequire(import.meta.url);
const Registry = require('prom-client/lib/registry.js') as typeof RegistryType;
const Counter = require('prom-client/lib/counter.js') as typeof CounterType;
const Histogram = require('prom-client/lib/histogram.js') as typeof HistogramType;
type Counter<T extends string> = CounterType<T>;
type Histogram<T extends string> = HistogramType<T>;

/** Istio's default buckets for istio_request_duration_milliseconds. */
const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

export type RequestLabels = Record<MetricLabel, string>;

/** prom-client's own per-label-set records (counter.js setValue, histogram.js createBaseValues). */
interface CounterEntry {
  value: number;
}
interface HistogramEntry {
  sum: number;
  count: number;
  bucketValues: Record<string, number>;
}

/**
 * One label set's series. prom-client's `labels(...).inc()` validates and hashes the label object on every
 * call; so after the first observation (made through the public API, which creates the records), later
 * ones update prom-client's records in place, exactly as its inc()/observe() would. If a prom-client
 * version keeps its records differently, the records are not found and every call uses the public API.
 */
interface Children {
  labels: RequestLabels;
  counter: CounterEntry | null;
  histogram: HistogramEntry | null;
}

function recordOf<T>(metric: object, labels: object): T | null {
  const map = (metric as { hashMap?: Record<string, { labels?: unknown }> }).hashMap;
  if (map === undefined) return null;
  for (const key in map) if (map[key]!.labels === labels) return map[key] as T;
  return null;
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
  private readonly cache = new Map<string, Children>();

  constructor() {
    // Every kind from the start at 0: a dashboard's rate() then sees the first one, and an alert can say "none".
    for (const kind of UNEXPECTED_KINDS) this.unexpectedErrors.inc({ kind }, 0);
  }

  request(labels: RequestLabels, durationMs: number): void {
    let key = '';
    for (let i = 0; i < METRIC_LABELS.length; i++) key += labels[METRIC_LABELS[i]!] + '\u0000';
    const children = this.cache.get(key);
    if (children === undefined) {
      this.requests.inc(labels);
      this.duration.observe(labels, durationMs);
      const counter = recordOf<CounterEntry>(this.requests, labels);
      const histogram = recordOf<HistogramEntry>(this.duration, labels);
      this.cache.set(key, { labels, counter: typeof counter?.value === 'number' ? counter : null, histogram: typeof histogram?.count === 'number' ? histogram : null });
      return;
    }
    if (children.counter !== null) children.counter.value += 1;
    else this.requests.inc(children.labels);
    const h = children.histogram;
    if (h !== null && Number.isFinite(durationMs)) {
      h.sum += durationMs;
      h.count += 1;
      // histogram.js findBound: the first upper bound at or above the value; none above the last.
      for (let i = 0; i < DURATION_BUCKETS_MS.length; i++) {
        if (durationMs <= DURATION_BUCKETS_MS[i]!) {
          h.bucketValues[DURATION_BUCKETS_MS[i]!] = (h.bucketValues[DURATION_BUCKETS_MS[i]!] ?? 0) + 1;
          break;
        }
      }
    } else this.duration.observe(children.labels, durationMs);
  }

  tcp(labels: TcpLabels, event: 'open' | 'close', sent = 0, received = 0): void {
    if (event === 'open') this.tcpOpened.inc(labels);
    else {
      this.tcpClosed.inc(labels);
      if (sent > 0) this.tcpSent.inc(labels, sent);
      if (received > 0) this.tcpReceived.inc(labels, received);
    }
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
