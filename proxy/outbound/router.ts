// The outbound router: the pure matcher of ../route-match.ts (shared with `devmesh explain`) over the
// compiled routes of one listener.
import type { RouteRule } from '../protocol/index.js';
import { compileRouteMatcher, type RouteMatcher, type RouteRequest } from '../protocol/route-match.js';
import type { CompiledRoute } from './balancer.js';

export class RouteTable {
  private readonly routes: CompiledRoute[];
  readonly matcher: RouteMatcher;

  constructor(rules: readonly RouteRule[], compileRoute: (rule: RouteRule, index: number) => CompiledRoute) {
    this.routes = rules.map(compileRoute);
    this.matcher = compileRouteMatcher(rules);
  }

  /** The first matching route, and the match block that matched (-1: the rule has none). */
  match(req: RouteRequest): CompiledRoute | null {
    const i = this.matcher.first(req);
    return i === -1 ? null : this.routes[i]!;
  }

  get lastBlock(): number {
    return this.matcher.lastBlock;
  }
}
