// The one-way dependency rule of ARCHITECTURE.md, enforced:
//   renderer → contract ← control plane → proxy protocol ← proxy
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { REPO } from '../helpers/mesh-process.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return /\.(ts|tsx)$/.test(name) ? [full] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2])!);
}

const RULES: { from: string; allowed: (target: string) => boolean; why: string }[] = [
  { from: 'src/contract', allowed: (t) => t.startsWith('src/contract/'), why: 'the contract is plain types that import nothing else' },
  { from: 'proxy', allowed: (t) => t.startsWith('proxy/'), why: 'the proxy may import only proxy/ (and npm packages), never the control plane' },
  { from: 'renderer', allowed: (t) => t.startsWith('renderer/') || t.startsWith('src/contract/'), why: 'the UI may import only renderer/ and src/contract/, never Node code' },
  { from: 'src', allowed: (t) => t.startsWith('src/') || t === 'proxy/protocol/index.ts', why: 'the control plane reaches the proxy only through proxy/protocol/index.ts' },
  { from: 'proxy/protocol', allowed: (t) => t.startsWith('proxy/protocol/'), why: 'the wire protocol is a leaf: both sides import it, it imports neither' },
  { from: 'proxy/inbound', allowed: (t) => !t.startsWith('proxy/outbound/'), why: 'the inbound and outbound wings are parallel stacks; what both need lives in proxy/ beside them' },
  { from: 'proxy/outbound', allowed: (t) => !t.startsWith('proxy/inbound/'), why: 'the inbound and outbound wings are parallel stacks; what both need lives in proxy/ beside them' },
];

// A unit test beside its module (`<module>.test.ts`) obeys its folder's rule, and may also use the shared
// helpers in test/helpers/ (temporary homes, the CLI's path). Nothing imports a test file, so code that
// ships never pulls test code in.
const isTest = (path: string) => path.endsWith('.test.ts');
const TESTS_WHY = 'a test file is imported by nothing: shared test code lives in test/helpers/';

test('imports flow one way: renderer → contract ← control plane → proxy protocol ← proxy', () => {
  const violations: string[] = [];
  for (const rule of RULES) {
    for (const file of sources(join(REPO, rule.from))) {
      const rel = relative(REPO, file);
      if (rule.from === 'src' && rel.startsWith('src/contract/')) continue; // has its own, stricter rule
      for (const spec of imports(file)) {
        if (!spec.startsWith('.')) {
          if (rule.from === 'renderer' && spec.startsWith('node:')) violations.push(`${rel}: imports ${spec}: ${rule.why}`);
          if (rule.from === 'src/contract') violations.push(`${rel}: imports ${spec}: ${rule.why}`);
          continue;
        }
        const target = relative(REPO, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
        if (isTest(target)) violations.push(`${rel}: imports ${spec}: ${TESTS_WHY}`);
        else if (!rule.allowed(target) && !(isTest(rel) && target.startsWith('test/helpers/'))) violations.push(`${rel}: imports ${spec}: ${rule.why}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
