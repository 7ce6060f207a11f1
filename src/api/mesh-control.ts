// What the API needs of a running mesh. The control plane satisfies it structurally, without importing
// the API: dependencies point from the API to the control plane, never back (src/host/ joins the two).
import type { ExplainRequest, ExplainResponse, StatusResponse } from '../contract/api.js';
import type { LifecycleOperations } from '../control-plane/lifecycle-operations.js';
import type { Telemetry } from '../telemetry/telemetry.js';

/** The status the mesh itself reports; where its UI is, the API adds (the mesh does not know its API). */
export type MeshStatus = Omit<StatusResponse, 'uiUrl'>;

export interface MeshControl {
  status(): MeshStatus;
  /** Re-reads the mesh file and pushes it; resolves when every sidecar answered. */
  reload(): Promise<void>;
  readonly operations: LifecycleOperations;
  /** Every sidecar's Prometheus text (sidecars that do not answer in time are left out). */
  scrapeSidecars(): Promise<{ pod: string; text: string }[]>;
  /** Explains a request against the applied configuration, with the caller's sidecars' endpoint health. */
  explain(q: ExplainRequest): Promise<ExplainResponse>;
  /** The spans, logs, tap and metrics the mesh keeps. */
  readonly telemetry: Telemetry;
}
