// Route matching, compiled once per config: regexes built and anchored, header names lowercased, so the
// per-request work is a few string comparisons. Semantics are Istio's: first matching rule wins; a rule
// matches when any of its blocks does; a block matches when all its conditions do; no blocks = match all.
import type { IncomingHttpHeaders } from 'node:http';
import type { MatchBlock, RouteRule, StringMatch } from '../protocol.js';
import type { CompiledRoute } from './balancer.js';

type Matcher = (value: string) => boolean;

interface CompiledBlock {
  uri: Matcher | null;
  method: Matcher | null;
  headers: Array<[name: string, test: Matcher]>;
}

interface RouteEntry {
  /** null: the rule has no match blocks and takes every request. */
  blocks: CompiledBlock[] | null;
  route: CompiledRoute;
}

function compileStringMatch(m: StringMatch): Matcher {
  if ('exact' in m && m.exact !== undefined) {
    const exact = m.exact;
    return (v) => v === exact;
  }
  if ('prefix' in m && m.prefix !== undefined) {
    const prefix = m.prefix;
    return (v) => v.startsWith(prefix);
  }
  // Envoy's safe_regex (RE2) matches the whole value, not a substring.
  const re = new RegExp(`^(?:${(m as { regex: string }).regex})$`);
  return (v) => re.test(v);
}

function compileBlock(block: MatchBlock): CompiledBlock {
  return {
    uri: block.uri ? compileStringMatch(block.uri) : null,
    method: block.method ? compileStringMatch(block.method) : null,
    headers: Object.entries(block.headers ?? {}).map(([name, m]) => [name.toLowerCase(), compileStringMatch(m)]),
  };
}

function blockMatches(block: CompiledBlock, method: string, path: string, headers: IncomingHttpHeaders): boolean {
  if (block.uri !== null && !block.uri(path)) return false;
  if (block.method !== null && !block.method(method)) return false;
  for (let i = 0; i < block.headers.length; i++) {
    const [name, test] = block.headers[i]!;
    const raw = headers[name];
    if (raw === undefined) return false;
    if (!test(typeof raw === 'string' ? raw : raw.join(','))) return false;
  }
  return true;
}

export class RouteTable {
  private readonly entries: RouteEntry[];

  constructor(rules: readonly RouteRule[], compileRoute: (rule: RouteRule, index: number) => CompiledRoute) {
    this.entries = rules.map((rule, i) => ({
      blocks: rule.match.length === 0 ? null : rule.match.map(compileBlock),
      route: compileRoute(rule, i),
    }));
  }

  match(method: string, path: string, headers: IncomingHttpHeaders): CompiledRoute | null {
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (entry.blocks === null) return entry.route;
      for (let b = 0; b < entry.blocks.length; b++) {
        if (blockMatches(entry.blocks[b]!, method, path, headers)) return entry.route;
      }
    }
    return null;
  }
}
