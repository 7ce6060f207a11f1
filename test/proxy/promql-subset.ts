// A small evaluator for the part of PromQL that Istio's Grafana dashboards use, so their queries can be run
// against real scrapes of real sidecars in a test: instant vector selectors with =, !=, =~, !~ matchers and
// a range ([...]); rate/irate over two scrapes; sum with by (...) before or after its argument; round,
// histogram_quantile, vector, query_result (Grafana's variable wrapper), label_join; + - * / between vectors
// (one-to-one on identical label sets) and scalars; `or`. Anything else is a located error, so a query
// outside the subset fails loudly instead of evaluating to something else.
//
// Semantics follow Prometheus: rate functions drop the metric name; regex matchers are anchored;
// histogram_quantile interpolates linearly inside the bucket where the rank falls, and a rank in the +Inf
// bucket answers the highest finite bound. (Prometheus' own parser, @prometheus-io/lezer-promql, would parse
// more than this, but evaluation is the part that matters here and it has none.)

export type Labels = Record<string, string>;
export interface Sample {
  labels: Labels;
  value: number;
}
export interface Scrape {
  atMs: number;
  series: Sample[];
}
export type Value = { kind: 'scalar'; value: number } | { kind: 'vector'; samples: Sample[] };

/** Prometheus text exposition format (what a sidecar's `metrics` answer carries), as samples with __name__. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) throw new Error(`exposition: cannot read line ${JSON.stringify(line)}`);
    const labels: Labels = { __name__: m[1]! };
    const body = m[3] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let lm: RegExpExecArray | null;
    while ((lm = re.exec(body)) !== null) labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ labels, value: m[4] === '+Inf' ? Infinity : Number(m[4]) });
  }
  return out;
}

type Node =
  | { t: 'num'; value: number }
  | { t: 'str'; value: string }
  | { t: 'sel'; matchers: Matcher[]; range: boolean }
  | { t: 'call'; name: string; args: Node[] }
  | { t: 'agg'; op: 'sum'; by: string[]; arg: Node }
  | { t: 'bin'; op: string; l: Node; r: Node };
interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

const TOKEN = /\s*(?:(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([a-zA-Z_:][a-zA-Z0-9_:]*)|("(?:[^"\\]|\\.)*")|(\[[^\]]*\])|(=~|!~|!=|[(){},=+\-*/]))/y;

class Parser {
  private pos = 0;
  private peeked: { kind: string; text: string; at: number } | null = null;
  constructor(private readonly src: string) {}

  private next(): { kind: string; text: string; at: number } {
    if (this.peeked !== null) {
      const p = this.peeked;
      this.peeked = null;
      return p;
    }
    if (/^\s*$/.test(this.src.slice(this.pos))) return { kind: 'eof', text: '', at: this.src.length };
    TOKEN.lastIndex = this.pos;
    const m = TOKEN.exec(this.src);
    if (m === null) throw this.error('unexpected text', this.pos);
    this.pos = TOKEN.lastIndex;
    const at = this.pos - m[0].trimStart().length;
    if (m[1] !== undefined) return { kind: 'num', text: m[1], at };
    if (m[2] !== undefined) return { kind: 'id', text: m[2], at };
    if (m[3] !== undefined) return { kind: 'str', text: JSON.parse(m[3]) as string, at };
    if (m[4] !== undefined) return { kind: 'range', text: m[4], at };
    return { kind: 'op', text: m[5]!, at };
  }
  private peek(): { kind: string; text: string; at: number } {
    this.peeked ??= this.next();
    return this.peeked;
  }
  private expect(text: string): void {
    const tok = this.next();
    if (tok.text !== text) throw this.error(`expected "${text}", found "${tok.text}"`, tok.at);
  }
  error(message: string, at: number): Error {
    return new Error(`promql at ${at}: ${message}: …${this.src.slice(at, at + 40)}`);
  }

  parse(): Node {
    const node = this.or();
    const tok = this.peek();
    if (tok.kind !== 'eof') throw this.error(`unexpected "${tok.text}"`, tok.at);
    return node;
  }
  private or(): Node {
    let l = this.additive();
    while (this.peek().text === 'or') {
      this.next();
      l = { t: 'bin', op: 'or', l, r: this.additive() };
    }
    return l;
  }
  private additive(): Node {
    let l = this.multiplicative();
    while (this.peek().text === '+' || this.peek().text === '-') {
      const op = this.next().text;
      l = { t: 'bin', op, l, r: this.multiplicative() };
    }
    return l;
  }
  private multiplicative(): Node {
    let l = this.primary();
    while (this.peek().text === '*' || this.peek().text === '/') {
      const op = this.next().text;
      l = { t: 'bin', op, l, r: this.primary() };
    }
    return l;
  }
  private labelList(): string[] {
    this.expect('(');
    const names: string[] = [];
    while (this.peek().text !== ')') {
      names.push(this.next().text);
      if (this.peek().text === ',') this.next();
    }
    this.expect(')');
    return names;
  }
  private primary(): Node {
    const tok = this.next();
    if (tok.kind === 'num') return { t: 'num', value: Number(tok.text) };
    if (tok.kind === 'str') return { t: 'str', value: tok.text };
    if (tok.text === '(') {
      const inner = this.or();
      this.expect(')');
      return inner;
    }
    if (tok.kind !== 'id') throw this.error(`unexpected "${tok.text}"`, tok.at);
    if (tok.text === 'sum') {
      let by: string[] = [];
      if (this.peek().text === 'by') {
        this.next();
        by = this.labelList();
      }
      this.expect('(');
      const arg = this.or();
      this.expect(')');
      if (this.peek().text === 'by') {
        this.next();
        by = this.labelList();
      }
      return { t: 'agg', op: 'sum', by, arg };
    }
    if (this.peek().text === '(') {
      this.next();
      const args: Node[] = [];
      while (this.peek().text !== ')') {
        args.push(this.or());
        if (this.peek().text === ',') this.next();
      }
      this.expect(')');
      return { t: 'call', name: tok.text, args };
    }
    const matchers: Matcher[] = [{ name: '__name__', op: '=', value: tok.text }];
    if (this.peek().text === '{') {
      this.next();
      while (this.peek().text !== '}') {
        const name = this.next().text;
        const op = this.next().text as Matcher['op'];
        if (!['=', '!=', '=~', '!~'].includes(op)) throw this.error(`bad matcher operator "${op}"`, tok.at);
        const value = this.next();
        if (value.kind !== 'str') throw this.error('matcher value must be a string', value.at);
        matchers.push({ name, op, value: value.text });
        if (this.peek().text === ',') this.next();
      }
      this.expect('}');
    }
    let range = false;
    if (this.peek().kind === 'range') {
      this.next();
      range = true;
    }
    return { t: 'sel', matchers, range };
  }
}

function matches(labels: Labels, m: Matcher): boolean {
  const v = labels[m.name] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return new RegExp(`^(?:${m.value})$`).test(v);
    case '!~':
      return !new RegExp(`^(?:${m.value})$`).test(v);
  }
}

function keyOf(labels: Labels, drop: readonly string[] = ['__name__']): string {
  return JSON.stringify(
    Object.keys(labels)
      .filter((k) => !drop.includes(k))
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

function withoutName(labels: Labels): Labels {
  const { __name__: _, ...rest } = labels;
  return rest;
}

/** Evaluates `expr` at the later of two scrapes; rate/irate use both (the earlier as the previous sample). */
export function evaluate(expr: string, scrapes: readonly [Scrape, Scrape]): Value {
  return evalNode(new Parser(expr).parse(), scrapes);
}

/** The set of label names and matchers an expression's selectors use, for reporting. */
export function selectorsOf(expr: string): Matcher[][] {
  const out: Matcher[][] = [];
  const walk = (n: Node): void => {
    if (n.t === 'sel') out.push(n.matchers);
    else if (n.t === 'call') n.args.forEach(walk);
    else if (n.t === 'agg') walk(n.arg);
    else if (n.t === 'bin') {
      walk(n.l);
      walk(n.r);
    }
  };
  walk(new Parser(expr).parse());
  return out;
}

function vector(v: Value, what: string): Sample[] {
  if (v.kind !== 'vector') throw new Error(`${what} needs a vector`);
  return v.samples;
}
function scalar(v: Value, what: string): number {
  if (v.kind !== 'scalar') throw new Error(`${what} needs a scalar`);
  return v.value;
}

function evalNode(n: Node, scrapes: readonly [Scrape, Scrape]): Value {
  switch (n.t) {
    case 'num':
      return { kind: 'scalar', value: n.value };
    case 'str':
      throw new Error(`a string ("${n.value}") outside a function`);
    case 'sel': {
      if (n.range) throw new Error('a range vector outside rate/irate');
      return { kind: 'vector', samples: scrapes[1].series.filter((s) => n.matchers.every((m) => matches(s.labels, m))) };
    }
    case 'agg': {
      const groups = new Map<string, Sample>();
      for (const s of vector(evalNode(n.arg, scrapes), 'sum')) {
        const labels: Labels = {};
        for (const l of n.by) if (s.labels[l] !== undefined) labels[l] = s.labels[l]!;
        const key = keyOf(labels);
        const g = groups.get(key);
        if (g === undefined) groups.set(key, { labels, value: s.value });
        else g.value += s.value;
      }
      return { kind: 'vector', samples: [...groups.values()] };
    }
    case 'bin':
      return binary(n.op, evalNode(n.l, scrapes), evalNode(n.r, scrapes));
    case 'call':
      return call(n, scrapes);
  }
}

function call(n: Extract<Node, { t: 'call' }>, scrapes: readonly [Scrape, Scrape]): Value {
  const args = n.args;
  switch (n.name) {
    case 'rate':
    case 'irate': {
      const sel = args[0];
      if (sel?.t !== 'sel' || !sel.range) throw new Error(`${n.name} needs a range vector selector`);
      const [before, now] = scrapes;
      const seconds = (now.atMs - before.atMs) / 1000;
      const previous = new Map<string, number>();
      for (const s of before.series) if (sel.matchers.every((m) => matches(s.labels, m))) previous.set(keyOf(s.labels, []), s.value);
      const out: Sample[] = [];
      for (const s of now.series) {
        if (!sel.matchers.every((m) => matches(s.labels, m))) continue;
        const prev = previous.get(keyOf(s.labels, []));
        // A series born between the scrapes counts from 0, as a counter that starts at its first value does in rate().
        const delta = prev === undefined ? s.value : s.value >= prev ? s.value - prev : s.value;
        out.push({ labels: withoutName(s.labels), value: delta / seconds });
      }
      return { kind: 'vector', samples: out };
    }
    case 'round': {
      const v = vector(evalNode(args[0]!, scrapes), 'round');
      const to = args[1] === undefined ? 1 : scalar(evalNode(args[1], scrapes), 'round');
      return { kind: 'vector', samples: v.map((s) => ({ labels: s.labels, value: Math.round(s.value / to) * to })) };
    }
    case 'vector':
      return { kind: 'vector', samples: [{ labels: {}, value: scalar(evalNode(args[0]!, scrapes), 'vector') }] };
    case 'query_result':
      return evalNode(args[0]!, scrapes);
    case 'label_join': {
      const v = vector(evalNode(args[0]!, scrapes), 'label_join');
      const strs = args.slice(1).map((a) => {
        if (a.t !== 'str') throw new Error('label_join takes strings after the vector');
        return a.value;
      });
      const [dst, sep, ...src] = strs as [string, string, ...string[]];
      return { kind: 'vector', samples: v.map((s) => ({ labels: { ...s.labels, [dst]: src.map((l) => s.labels[l] ?? '').join(sep) }, value: s.value })) };
    }
    case 'histogram_quantile':
      return { kind: 'vector', samples: histogramQuantile(scalar(evalNode(args[0]!, scrapes), 'histogram_quantile'), vector(evalNode(args[1]!, scrapes), 'histogram_quantile')) };
    default:
      throw new Error(`function ${n.name} is outside the subset`);
  }
}

function histogramQuantile(q: number, samples: Sample[]): Sample[] {
  const groups = new Map<string, { labels: Labels; buckets: Array<{ le: number; count: number }> }>();
  for (const s of samples) {
    const le = s.labels.le;
    if (le === undefined) continue;
    const { le: _, ...labels } = s.labels;
    const key = keyOf(labels);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { labels, buckets: [] }));
    g.buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: s.value });
  }
  const out: Sample[] = [];
  for (const { labels, buckets } of groups.values()) {
    buckets.sort((a, b) => a.le - b.le);
    const total = buckets[buckets.length - 1]?.count ?? 0;
    if (buckets.length < 2 || buckets[buckets.length - 1]!.le !== Infinity || total === 0) {
      out.push({ labels, value: NaN });
      continue;
    }
    const rank = q * total;
    const i = buckets.findIndex((b) => b.count >= rank);
    if (buckets[i]!.le === Infinity) {
      out.push({ labels, value: buckets[buckets.length - 2]!.le });
      continue;
    }
    const lower = i === 0 ? 0 : buckets[i - 1]!.le;
    const below = i === 0 ? 0 : buckets[i - 1]!.count;
    const inBucket = buckets[i]!.count - below;
    out.push({ labels, value: inBucket === 0 ? lower : lower + (buckets[i]!.le - lower) * ((rank - below) / inBucket) });
  }
  return out;
}

function arith(op: string, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    default:
      throw new Error(`operator ${op} is outside the subset`);
  }
}

function binary(op: string, l: Value, r: Value): Value {
  if (op === 'or') {
    const left = vector(l, 'or');
    const seen = new Set(left.map((s) => keyOf(s.labels)));
    return { kind: 'vector', samples: [...left, ...vector(r, 'or').filter((s) => !seen.has(keyOf(s.labels)))] };
  }
  if (l.kind === 'scalar' && r.kind === 'scalar') return { kind: 'scalar', value: arith(op, l.value, r.value) };
  if (l.kind === 'vector' && r.kind === 'scalar') return { kind: 'vector', samples: l.samples.map((s) => ({ labels: withoutName(s.labels), value: arith(op, s.value, r.value) })) };
  if (l.kind === 'scalar' && r.kind === 'vector') return { kind: 'vector', samples: r.samples.map((s) => ({ labels: withoutName(s.labels), value: arith(op, l.value, s.value) })) };
  const right = new Map(vector(r, op).map((s) => [keyOf(s.labels), s]));
  const out: Sample[] = [];
  for (const s of vector(l, op)) {
    const other = right.get(keyOf(s.labels));
    if (other !== undefined) out.push({ labels: withoutName(s.labels), value: arith(op, s.value, other.value) });
  }
  return { kind: 'vector', samples: out };
}
