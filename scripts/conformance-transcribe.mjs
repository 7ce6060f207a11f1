// Transcribes the Gateway API conformance suite's test cases (Go composite literals of
// http.ExpectedResponse in conformance/tests/*.go) into data: one JSON file per upstream test under
// test/conformance/cases/, each naming its upstream file and commit. Run by hand when the pinned upstream
// commit changes; the harness reads only the JSON. Facts are transcribed, no upstream code is copied.
//
//   node scripts/conformance-transcribe.mjs [GIT_DIR]
// GIT_DIR defaults to the mirror /work/.mirror/kubernetes-sigs+gateway-api/repo (read with `git show`).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const gitDir = process.argv[2] ?? '/work/.mirror/kubernetes-sigs+gateway-api/repo';
const root = new URL('..', import.meta.url).pathname;
const git = (...args) => execFileSync('git', ['-C', gitDir, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
const commit = git('rev-parse', 'HEAD').trim();

/** The suite's named constants (conformance/utils/suite), as the tests use them. */
const CONSTANTS = {
  InfrastructureNamespace: 'gateway-conformance-infra',
  MeshNamespace: 'gateway-conformance-mesh',
  AppBackendNamespace: 'gateway-conformance-app-backend',
  WebBackendNamespace: 'gateway-conformance-web-backend',
  InfraBackendServiceNameV1: 'infra-backend-v1',
  InfraBackendServiceNameV2: 'infra-backend-v2',
  InfraBackendServiceNameV3: 'infra-backend-v3',
};

function tokenize(src) {
  const out = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith('//', i)) { i = src.indexOf('\n', i); if (i < 0) break; continue; }
    if (src.startsWith('/*', i)) { i = src.indexOf('*/', i) + 2; continue; }
    if (c === '"') {
      let j = i + 1;
      while (src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      out.push({ t: 'str', v: JSON.parse(src.slice(i, j + 1)) });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      out.push({ t: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    const num = /^-?\d+(\.\d+)?/.exec(src.slice(i, i + 32));
    if (num) { out.push({ t: 'num', v: Number(num[0]) }); i += num[0].length; continue; }
    const id = /^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*/.exec(src.slice(i, i + 200));
    if (id) { out.push({ t: 'id', v: id[0] }); i += id[0].length; continue; }
    if (src.startsWith(':=', i)) { out.push({ t: 'p', v: ':=' }); i += 2; continue; }
    out.push({ t: 'p', v: c });
    i++;
  }
  return out;
}

class Parser {
  constructor(tokens, vars) { this.k = tokens; this.i = 0; this.vars = vars; }
  peek(n = 0) { return this.k[this.i + n]; }
  next() { return this.k[this.i++]; }
  is(v, n = 0) { const t = this.peek(n); return t && t.t === 'p' && t.v === v; }
  expect(v) { const t = this.next(); if (!t || t.v !== v) throw new Error(`expected ${v}, got ${t && t.v} at token ${this.i}`); }
  /** Skips a type (map[K]V, []T, *T, pkg.T) up to the '{' of its literal. */
  type() {
    if (this.is('*') || this.is('&')) { this.next(); return this.type(); }
    if (this.is('[')) { this.next(); while (!this.is(']')) this.next(); this.next(); return this.type(); }
    const t = this.next();
    if (t.v === 'map') { this.expect('['); this.type(); this.expect(']'); return this.type(); }
    return t.v;
  }
  value() {
    let v = this.operand();
    // String concatenation ("/path" + suffix).
    while (this.is('+')) { this.next(); v = `${v}${this.operand()}`; }
    return v;
  }
  operand() {
    if (this.is('&')) this.next();
    if (this.is('{')) return this.composite();
    if (this.is('[')) { this.type(); return this.composite(); }
    const t = this.next();
    if (t.t === 'str' || t.t === 'num') return t.v;
    if (t.t !== 'id') throw new Error(`unexpected ${t.v} at token ${this.i}`);
    if (t.v === 'true' || t.v === 'false') return t.v === 'true';
    if (t.v === 'nil') return null;
    if (t.v === 'map') { this.i--; this.type(); return this.composite(); }
    if (this.is('{')) return this.composite();
    if (this.is('[') || this.is('(')) {
      // A call (ptr.To[int32](50), int32(3)…): its first argument is the value.
      if (this.is('[')) { while (!this.is(']')) this.next(); this.next(); }
      this.expect('(');
      const v = this.value();
      while (!this.is(')')) this.next();
      this.next();
      return v;
    }
    const last = t.v.split('.').pop();
    if (last in CONSTANTS) return CONSTANTS[last];
    if (t.v in this.vars) return this.vars[t.v];
    if (/^Status\w+$/.test(last)) return `$${t.v}`;
    return `$${t.v}`;
  }
  composite() {
    this.expect('{');
    const arr = [];
    const obj = {};
    let keyed = false;
    while (!this.is('}')) {
      const t = this.peek();
      if ((t.t === 'id' || t.t === 'str') && this.is(':', 1)) {
        keyed = true;
        this.next();
        this.next();
        // A map key may be one of the suite's constants (confsuite.InfraBackendServiceNameV1: 0.7).
        const last = t.t === 'id' ? t.v.split('.').pop() : '';
        obj[t.t === 'id' && t.v.includes('.') && last in CONSTANTS ? CONSTANTS[last] : t.v] = this.value();
      } else arr.push(this.value());
      if (this.is(',')) this.next();
    }
    this.next();
    return keyed ? obj : arr;
  }
}

/** http.ExpectedResponse literals of one test file, in order. */
function casesOf(src, vars) {
  const tokens = tokenize(src);
  const out = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.t !== 'id' || !/(^|\.)ExpectedResponse$/.test(t.v) || tokens[i + 1]?.v !== '{') continue;
    const slice = tokens[i - 1]?.v === ']' && tokens[i - 2]?.v === '[';
    const p = new Parser(tokens, vars);
    p.i = i + 1;
    const v = p.composite();
    if (slice) out.push(...v);
    else out.push(v);
    i = p.i - 1;
  }
  return out;
}

function varsOf(src) {
  const vars = {};
  for (const m of src.matchAll(/\b(\w+)\s*(?::=|=)\s*(?:\w+\.)?(\w+)\b/g)) if (m[2] in CONSTANTS) vars[m[1]] = CONSTANTS[m[2]];
  for (const m of src.matchAll(/\b(\w+)\s*(?::=|=)\s*"([^"]*)"/g)) vars[m[1]] ??= m[2];
  return vars;
}

const files = git('ls-tree', '--name-only', 'HEAD', 'conformance/tests/', 'conformance/tests/mesh/')
  .split('\n')
  .filter((f) => /\/(mesh\/)?(httproute|grpcroute|mesh)[-\w]*\.go$/.test(f));
const outDir = join(root, 'test', 'conformance', 'cases');
const manifestDir = join(root, 'test', 'conformance', 'manifests');
mkdirSync(outDir, { recursive: true });
let n = 0;
for (const file of files) {
  const src = git('show', `HEAD:${file}`);
  for (const block of src.split(/\nvar (?=\w+ = \w+\.ConformanceTest\{)/).slice(1)) {
    const name = /ShortName:\s*"([^"]+)"/.exec(block)?.[1];
    if (!name) continue;
    const manifests = [...(/Manifests:\s*\[\]string\{([^}]*)\}/.exec(block)?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) => `conformance/${m[1]}`);
    const features = [...(/Features:\s*\[\]features\.FeatureName\{([^}]*)\}/s.exec(block)?.[1] ?? '').matchAll(/features\.(\w+)/g)].map((m) => m[1]);
    const vars = varsOf(block);
    let cases;
    try {
      cases = casesOf(block, vars);
    } catch (err) {
      cases = [];
      console.error(`${file} ${name}: ${err.message}`);
    }
    // Weight tests: the expected share of each backend (checked with the suite's tolerance, 0.05 of 500).
    const weightsAt = block.indexOf('map[string]float64{');
    let weights;
    if (weightsAt >= 0) {
      const p = new Parser(tokenize(block.slice(weightsAt + 'map[string]float64'.length)), vars);
      weights = p.composite();
    }
    const profile = file.includes('/mesh/') || features.includes('SupportMesh') ? 'mesh' : 'gateway';
    const data = { test: name, manifestsDir: 'test/conformance/manifests', upstream: { repository: 'kubernetes-sigs/gateway-api', path: file, commit }, profile, features, manifests, cases, ...(weights ? { weights } : {}) };
    // The manifests, unchanged below a header naming their source.
    for (const m of manifests) {
      const target = join(manifestDir, m.replace(/^conformance\/tests\//, ''));
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, `# kubernetes-sigs/gateway-api ${m} at ${commit} (Apache-2.0), unchanged below this line\n${git('show', `HEAD:${m}`)}`);
    }
    writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`);
    n++;
  }
}
console.log(`${n} tests transcribed from ${gitDir} at ${commit}`);
