// Load balancing in two steps, as Istio does: a weighted pick of the route destination (once per
// request; retries stay within it), then the destination's load balancer over its endpoints (per try,
// so a retry lands on another endpoint; see endpoint-set.ts).
import type { DirectResponseAction, FaultPolicy, HeaderRewrite, RedirectAction } from '../protocol/index.js';
import type { EndpointSet } from './endpoint-set.js';
import type { CompiledRetry } from './retry.js';

export interface CompiledDestination {
  service: string;
  subset: string | undefined;
  weight: number;
  tls: boolean;
  /** Shared by every route that sends to the same service+subset, so balancing and limits are per destination. */
  set: EndpointSet;
  headers: HeaderRewrite | undefined;
}

export function pickDestination(destinations: readonly CompiledDestination[], totalWeight: number): CompiledDestination {
  if (destinations.length === 1) return destinations[0]!;
  // All weights 0: Istio would reject the rule; spreading evenly is the least surprising reading.
  if (totalWeight <= 0) return destinations[Math.floor(Math.random() * destinations.length)]!;
  let r = Math.random() * totalWeight;
  for (const d of destinations) {
    if (r < d.weight) return d;
    r -= d.weight;
  }
  // Floating point leftovers: the last destination that has any weight.
  for (let i = destinations.length - 1; i >= 0; i--) if (destinations[i]!.weight > 0) return destinations[i]!;
  return destinations[0]!;
}

export interface CompiledMirror {
  destination: CompiledDestination;
  percent: number;
}

export interface CompiledRoute {
  /** Rule name, or its index: what ROUTE_HEADER and the span's `route` say. */
  label: string;
  index: number;
  destinations: CompiledDestination[];
  totalWeight: number;
  redirect: RedirectAction | undefined;
  directResponse: DirectResponseAction | undefined;
  rewrite: { uri?: string; authority?: string } | undefined;
  /** The uri prefix of each match block (null when the block's uri is not a prefix), for rewrite. */
  blockPrefixes: Array<string | null>;
  headers: HeaderRewrite | undefined;
  mirror: CompiledMirror | undefined;
  fault: FaultPolicy | undefined;
  retry: CompiledRetry;
  timeoutMs: number | undefined;
}
