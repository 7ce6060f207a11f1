// The one-way dependency rule of ARCHITECTURE.md, enforced:
//   renderer → contract ← control plane → proxy protocol ← proxy
// and inside src/: cli, electron → host → api → control plane (host composes; nothing below looks up).
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

/** Is `path` inside one of the src/ folders named? */
const inSrc = (path: string, ...folders: string[]) => folders.some((f) => path.startsWith(`src/${f}/`));

// `allowed` gets the imported file and the importing one, both relative to the repository.
const RULES: { from: string; allowed: (target: string, file: string) => boolean; why: string }[] = [
  { from: 'src/contract', allowed: (t) => t.startsWith('src/contract/'), why: 'the contract is plain types that import nothing else' },
  { from: 'proxy', allowed: (t) => t.startsWith('proxy/'), why: 'the proxy may import only proxy/ (and npm packages), never the control plane' },
  { from: 'renderer', allowed: (t) => t.startsWith('renderer/') || t.startsWith('src/contract/'), why: 'the UI may import only renderer/ and src/contract/, never Node code' },
  { from: 'src', allowed: (t) => t.startsWith('src/') || t === 'proxy/protocol/index.ts', why: 'the control plane reaches the proxy only through proxy/protocol/index.ts' },
  { from: 'src/config', allowed: (t) => !t.startsWith('proxy/'), why: 'config/ loads, validates and models the mesh file; translating it into proxy types is src/sidecar-config/\'s' },
  { from: 'src/mesh-semantics', allowed: (t) => !t.startsWith('proxy/'), why: 'the meshes\' defaults are plain data, shared by sidecar config, diff, export and import' },
  { from: 'proxy/protocol', allowed: (t) => t.startsWith('proxy/protocol/'), why: 'the wire protocol is a leaf: both sides import it, it imports neither' },
  { from: 'proxy/inbound', allowed: (t) => !t.startsWith('proxy/outbound/'), why: 'the inbound and outbound wings are parallel stacks; what both need lives in proxy/ beside them' },
  { from: 'proxy/outbound', allowed: (t) => !t.startsWith('proxy/inbound/'), why: 'the inbound and outbound wings are parallel stacks; what both need lives in proxy/ beside them' },
  {
    from: 'src/control-plane',
    allowed: (t) => !inSrc(t, 'api', 'import', 'host', 'cli', 'electron'),
    why: 'the control plane imports nothing above it: the API reaches it through api/mesh-control.ts, and src/host/ wires the two',
  },
  { from: 'src/api', allowed: (t) => !inSrc(t, 'cli', 'host', 'electron'), why: 'the API serves the control plane; the CLI, the shell and src/host/ sit above it' },
  { from: 'src', allowed: (t, f) => !inSrc(t, 'host') || inSrc(f, 'cli', 'electron', 'host'), why: 'src/host/ is the composition root: only the CLI and the Electron shell start it' },
  { from: 'src', allowed: (t, f) => !inSrc(t, 'cli') || inSrc(f, 'cli'), why: 'src/cli/ is the devmesh command: what another folder needs does not live there' },
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
        else if (!rule.allowed(target, rel) && !(isTest(rel) && target.startsWith('test/helpers/'))) violations.push(`${rel}: imports ${spec}: ${rule.why}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
