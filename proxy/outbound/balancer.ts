// Load balancing in two steps, as Istio does: a weighted pick of the route destination (once per
// request; retries stay within it), then round robin over that destination's endpoints (per try, so a
// retry lands on the next endpoint).
import type { Pool } from 'undici';
import type { CompiledRetry } from './retry.js';

export interface UpstreamEndpoint {
  instanceId: string;
  version: string;
  pool: Pool;
}

export class EndpointRing {
  private next = 0;

  constructor(readonly endpoints: readonly UpstreamEndpoint[]) {}

  pick(): UpstreamEndpoint | undefined {
    const n = this.endpoints.length;
    if (n === 0) return undefined;
    const endpoint = this.endpoints[this.next % n];
    this.next = (this.next + 1) % n;
    return endpoint;
  }
}

export interface CompiledDestination {
  service: string;
  subset: string | undefined;
  weight: number;
  tls: boolean;
  /** Shared by every route that sends to the same service+subset, so round robin is per destination. */
  ring: EndpointRing;
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

export interface CompiledRoute {
  /** Rule name, or its index: what ROUTE_HEADER and the span's `route` say. */
  label: string;
  destinations: CompiledDestination[];
  totalWeight: number;
  retry: CompiledRetry;
  timeoutMs: number | undefined;
}
