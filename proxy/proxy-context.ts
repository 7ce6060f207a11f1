// What request handlers need from the sidecar, and nothing else: they read the current workload at
// request time so a config update changes the identity their spans carry.
import type { WorkloadIdentity } from './protocol/index.js';
import type { SpanExporter } from './tracing/span-exporter.js';
import type { SidecarMetrics } from './metrics.js';
import type { Availability } from './outbound/availability.js';
import type { RequestJoin } from './tracing/request-join.js';

export interface ProxyContext {
  readonly workload: WorkloadIdentity;
  /** The mesh's trust domain (SPIFFE ids are spiffe://<trustDomain>/ns/default/sa/<service>). */
  readonly trustDomain: string;
  readonly spans: SpanExporter;
  /** Percent of new traces that are recorded (tracing.sampling); a caller's decision is kept. */
  readonly samplingPercent: number;
  readonly metrics: SidecarMetrics;
  /** Destinations without endpoints: requests wait for a config that brings some (outbound/availability.ts). */
  readonly availability: Availability;
  /** Which server span each in-flight inbound request (by x-request-id) is: outbound calls carrying only that id join it. */
  readonly joins: RequestJoin;
  /** One line to the sidecar's log (stderr, which the control plane keeps per sidecar). */
  log(line: string): void;
}
