// What request handlers need from the sidecar, and nothing else: they read the current workload at
// request time so a config update changes the identity their spans carry.
import type { WorkloadIdentity } from './protocol/index.js';
import type { SpanExporter } from './tracing/span-exporter.js';
import type { SidecarMetrics } from './metrics.js';

export interface ProxyContext {
  readonly workload: WorkloadIdentity;
  readonly spans: SpanExporter;
  /** Percent of new traces that are recorded (tracing.sampling); a caller's decision is kept. */
  readonly samplingPercent: number;
  readonly metrics: SidecarMetrics;
  /** One line to the sidecar's log (stderr, which the control plane keeps per sidecar). */
  log(line: string): void;
}
