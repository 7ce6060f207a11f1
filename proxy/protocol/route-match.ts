// Route matching as pure functions: compiled once per config (RE2 regexes compiled for full match, names lower
// cased), then evaluated per request with a few string comparisons. The sidecar's router and
// `devmesh explain` both run this code, so an explanation is exactly what the sidecar does.
// Semantics are Istio's: first matching rule wins; a rule matches when any of its blocks does; a block
// matches when all its conditions do; a rule without blocks matches every request.
import type { MatchBlock, RouteRule, StringMatch } from './index.js';
import { compileFullMatch } from './regex.js';

/** What matching looks at. Header names are lower case; `path` has no query string. */
export interface RouteRequest {
  method: string;
  path: string;
  /** The raw query string, without "?"; "" when there is none. */
  query: string;
  /** Host or :authority without the port. */
  authority: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The calling workload (sourceLabels): the sidecar's own service and version. */
  source: { app: string; version: string };
}

interface Condition {
  /** For explanations, e.g. `uri prefix "/api"` or `header x-user exact "tester"`. */
  readonly what: string;
  readonly test: (req: RouteRequest, cache: QueryCache) => boolean;
}

interface QueryCache {
  params: URLSearchParams | null;
}

interface CompiledRule {
  /** null: no match blocks, every request matches. */
  readonly blocks: Condition[][] | null;
}

export interface RouteMatcher {
  /** Index of the first matching rule, or -1. */
  first(req: RouteRequest): number;
  /** The match block of that rule that matched, after first(); -1 for a rule without blocks. */
  readonly lastBlock: number;
  /** The same evaluation, with the reason each rule before the match did not match. */
  explain(req: RouteRequest): RouteExplanation;
}

export interface RuleExplanation {
  index: number;
  name: string;
  matched: boolean;
  /** Per match block: the first condition that failed, or null for the block that matched. */
  blocks: Array<{ block: number; failed: string | null }>;
}

export interface RouteExplanation {
  /** The matching rule's index, or -1 (a 404 from the sidecar). */
  index: number;
  /** The rules evaluated, in order, up to and including the one that matched. */
  rules: RuleExplanation[];
}

export function describeStringMatch(m: StringMatch): string {
  if ('exact' in m) return `exact ${JSON.stringify(m.exact)}`;
  if ('prefix' in m) return `prefix ${JSON.stringify(m.prefix)}`;
  return `regex ${JSON.stringify(m.regex)}`;
}

/** Compiles a regex into a whole-value test. The sidecar's is RE2's (compileFullMatch); the regex bench swaps it. */
export type FullMatchEngine = (pattern: string) => (value: string) => boolean;

export function compileStringMatch(m: StringMatch, fullMatch: FullMatchEngine = compileFullMatch): (value: string) => boolean {
  if ('exact' in m && m.exact !== undefined) {
    const exact = m.exact;
    return (v) => v === exact;
  }
  if ('prefix' in m && m.prefix !== undefined) {
    const prefix = m.prefix;
    return (v) => v.startsWith(prefix);
  }
  // Envoy's safe_regex: RE2, matching the whole value, not a substring.
  return fullMatch((m as { regex: string }).regex);
}

function headerValue(req: RouteRequest, name: string): string | undefined {
  const raw = req.headers[name];
  if (raw === undefined) return undefined;
  return typeof raw === 'string' ? raw : raw.join(',');
}

function queryParam(req: RouteRequest, cache: QueryCache, name: string): string | null {
  if (req.query === '') return null;
  cache.params ??= new URLSearchParams(req.query);
  return cache.params.get(name);
}

function compileBlock(block: MatchBlock, fullMatch: FullMatchEngine): Condition[] {
  const out: Condition[] = [];
  if (block.uri) {
    const test = compileStringMatch(block.uri, fullMatch);
    out.push({ what: `uri ${describeStringMatch(block.uri)}`, test: (r) => test(r.path) });
  }
  if (block.method) {
    const test = compileStringMatch(block.method, fullMatch);
    out.push({ what: `method ${describeStringMatch(block.method)}`, test: (r) => test(r.method) });
  }
  if (block.authority) {
    const test = compileStringMatch(block.authority, fullMatch);
    out.push({ what: `authority ${describeStringMatch(block.authority)}`, test: (r) => test(r.authority) });
  }
  for (const [rawName, m] of Object.entries(block.headers ?? {})) {
    const name = rawName.toLowerCase();
    const test = compileStringMatch(m, fullMatch);
    out.push({
      what: `header ${name} ${describeStringMatch(m)}`,
      test: (r) => {
        const v = headerValue(r, name);
        return v !== undefined && test(v);
      },
    });
  }
  for (const [rawName, m] of Object.entries(block.withoutHeaders ?? {})) {
    const name = rawName.toLowerCase();
    const test = compileStringMatch(m, fullMatch);
    out.push({
      what: `without header ${name} ${describeStringMatch(m)}`,
      test: (r) => {
        const v = headerValue(r, name);
        return v === undefined || !test(v);
      },
    });
  }
  for (const [name, m] of Object.entries(block.queryParams ?? {})) {
    const test = compileStringMatch(m, fullMatch);
    out.push({
      what: `query ${name} ${describeStringMatch(m)}`,
      test: (r, cache) => {
        const v = queryParam(r, cache, name);
        return v !== null && test(v);
      },
    });
  }
  if (block.sourceLabels?.app !== undefined) {
    const app = block.sourceLabels.app;
    out.push({ what: `source app ${JSON.stringify(app)}`, test: (r) => r.source.app === app });
  }
  if (block.sourceLabels?.version !== undefined) {
    const version = block.sourceLabels.version;
    out.push({ what: `source version ${JSON.stringify(version)}`, test: (r) => r.source.version === version });
  }
  return out;
}

function blockMatches(block: readonly Condition[], req: RouteRequest, cache: QueryCache): boolean {
  for (let i = 0; i < block.length; i++) if (!block[i]!.test(req, cache)) return false;
  return true;
}

export function compileRouteMatcher(rules: readonly Pick<RouteRule, 'name' | 'match'>[], fullMatch: FullMatchEngine = compileFullMatch): RouteMatcher {
  const compiled: CompiledRule[] = rules.map((rule) => ({ blocks: rule.match.length === 0 ? null : rule.match.map((b) => compileBlock(b, fullMatch)) }));
  const names = rules.map((rule, i) => rule.name ?? String(i));
  const matcher = {
    lastBlock: -1,
    first(req: RouteRequest): number {
      const cache: QueryCache = { params: null };
      for (let i = 0; i < compiled.length; i++) {
        const blocks = compiled[i]!.blocks;
        if (blocks === null) {
          matcher.lastBlock = -1;
          return i;
        }
        for (let b = 0; b < blocks.length; b++) {
          if (blockMatches(blocks[b]!, req, cache)) {
            matcher.lastBlock = b;
            return i;
          }
        }
      }
      return -1;
    },
    explain(req: RouteRequest): RouteExplanation {
      const cache: QueryCache = { params: null };
      const out: RuleExplanation[] = [];
      for (let i = 0; i < compiled.length; i++) {
        const blocks = compiled[i]!.blocks;
        const rule: RuleExplanation = { index: i, name: names[i]!, matched: false, blocks: [] };
        out.push(rule);
        if (blocks === null) {
          rule.matched = true;
          return { index: i, rules: out };
        }
        for (let b = 0; b < blocks.length; b++) {
          const failed = blocks[b]!.find((c) => !c.test(req, cache));
          rule.blocks.push({ block: b, failed: failed?.what ?? null });
          if (failed === undefined) {
            rule.matched = true;
            return { index: i, rules: out };
          }
        }
      }
      return { index: -1, rules: out };
    },
  };
  return matcher;
}

/** Splits a request target into path and query, and the Host header into an authority without port. */
export function routeRequestOf(
  method: string,
  target: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  source: { app: string; version: string },
): RouteRequest {
  const q = target.indexOf('?');
  const host = headers[':authority'] ?? headers.host;
  const hostText = typeof host === 'string' ? host : Array.isArray(host) ? host[0] ?? '' : '';
  return {
    method,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? '' : target.slice(q + 1),
    authority: stripPort(hostText),
    headers,
    source,
  };
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** Human-readable lines for an explanation (what `devmesh explain` prints). */
export function formatExplanation(explanation: RouteExplanation): string[] {
  const lines: string[] = [];
  for (const rule of explanation.rules) {
    if (rule.matched) {
      const block = rule.blocks.find((b) => b.failed === null);
      lines.push(`rule ${rule.index} (${rule.name}): MATCH${block ? ` (match block ${block.block})` : ' (no match conditions: matches every request)'}`);
    } else {
      const why = rule.blocks.map((b) => `block ${b.block}: ${b.failed} does not hold`).join('; ');
      lines.push(`rule ${rule.index} (${rule.name}): no match — ${why}`);
    }
  }
  if (explanation.index === -1) lines.push('no rule matches: the sidecar answers 404 with x-devmesh-error: no-route');
  return lines;
}
