// The policy file writer and the CLI surface: the mesh file keeps every byte but the include it gains;
// exit statuses 0 / 1 / 2 as the issue defines them; export and diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withInclude } from '../../src/import/policy-writer.js';
import { CLI, REPO } from '../helpers/mesh-process.js';
import { fixture } from './helpers.js';

test('withInclude adds one entry, keeps comments and flow style, and is idempotent', () => {
  const text = '# my mesh\nname: x   # the name\nmtls: STRICT\nservices:\n  a: { run: "node a.js" }   # keep me\n';
  const once = withInclude(text, 'devmesh.policy.yaml');
  assert.equal(once.text, '# my mesh\nname: x   # the name\nmtls: STRICT\ninclude:\n  - devmesh.policy.yaml\nservices:\n  a: { run: "node a.js" }   # keep me\n');
  assert.deepEqual(withInclude(once.text, 'devmesh.policy.yaml'), { text: once.text, changed: false });
  assert.equal(withInclude('name: x\ninclude: [a.yaml]\nservices: {}\n', 'b.yaml').text, 'name: x\ninclude: [a.yaml, b.yaml]\nservices: {}\n');
  assert.equal(withInclude('name: x\ninclude:\n    - a.yaml # mine\nservices: {}\n', 'b.yaml').text, 'name: x\ninclude:\n    - a.yaml # mine\n    - b.yaml\nservices: {}\n');
});

function cli(dir: string, args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('devmesh import / export / diff on a copy of the Bookinfo demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-import-'));
  try {
    cpSync(join(REPO, 'fixtures', 'bookinfo'), dir, { recursive: true });
    const before = readFileSync(join(dir, 'devmesh.yaml'), 'utf8');
    const dry = cli(dir, ['import', '--dry-run', fixture('istio/bookinfo-vs-reviews-80-20.yaml'), fixture('istio/bookinfo-dr-all.yaml')]);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: nothing written/);
    assert.equal(readFileSync(join(dir, 'devmesh.yaml'), 'utf8'), before);

    const json = cli(dir, ['import', '--json', fixture('istio/bookinfo-vs-reviews-80-20.yaml'), fixture('istio/bookinfo-dr-all.yaml')]);
    assert.equal(json.status, 0, json.stderr);
    const out = JSON.parse(json.stdout) as { written: string; policy: { routes: Record<string, unknown[]> } };
    assert.equal(out.written, join(dir, 'devmesh.policy.yaml'));
    const after = readFileSync(join(dir, 'devmesh.yaml'), 'utf8');
    assert.equal(after.replace('include:\n  - devmesh.policy.yaml\n', ''), before, 'only the include was added');
    assert.equal(cli(dir, ['validate']).status, 0);

    // A folder with invalid documents: the rest imports, the exit status is 1.
    const folder = cli(dir, ['import', join(REPO, '..', 'shared', 'fixtures', 'istio')]);
    assert.equal(folder.status, 1);
    assert.match(folder.stdout, /validation-peerauth-invalid\.yaml:\d+ \[document 1\] PeerAuthentication bad-port: spec\.portLevelMtls\.acd/);
    assert.match(folder.stdout, /wrote /);

    // Counted per resource: emojivoto's policy selects -svc apps the demo does not have, so nothing of it
    // applies (15 lines: its service account web is not local here either).
    const emojivoto = cli(dir, ['import', '--dry-run', fixture('linkerd/emojivoto-policy.yaml')]);
    assert.equal(emojivoto.status, 0, emojivoto.stderr);
    assert.match(emojivoto.stdout, /^9 resources: 0 mapped, 0 approximated, 9 ignored, 0 invalid\nfields: 0 mapped, 0 approximated, 15 not mapped, 0 invalid$/m);
    assert.match(emojivoto.stdout, /^ {2}not mapped {3}spec\.podSelector: selects no local service/m);
    const cors = cli(dir, ['import', '--dry-run', fixture('istio/testcfg-rule-cors-policy.yaml')]);
    assert.match(cors.stdout, /^not mapped, in resources that otherwise apply:\n {2}VirtualService cors: spec\.http\[0\]\.corsPolicy not mapped: the local sidecar does not answer CORS preflights/m);

    assert.equal(cli(dir, ['import']).status, 2);
    assert.equal(cli(dir, ['import', '--from', 'nginx', fixture('istio/bookinfo-dr-all.yaml')]).status, 2);
    assert.equal(cli(dir, ['import', '--map', 'nonsense', fixture('istio/bookinfo-dr-all.yaml')]).status, 2);
    assert.equal(cli(dir, ['export']).status, 2);

    // Back to the demo's own policy, then compare with Istio's rules.
    writeFileSync(join(dir, 'devmesh.policy.yaml'), '{}\n');
    const exp = cli(dir, ['export', '--to', 'istio']);
    assert.equal(exp.status, 0);
    assert.match(exp.stdout, /kind: VirtualService/);
    const gw = cli(dir, ['export', '--to', 'gateway-api']);
    assert.match(gw.stdout, /kind: HTTPRoute/);
    assert.match(gw.stderr, /Istio's default/);
    writeFileSync(join(dir, 'exported.yaml'), exp.stdout);
    const same = cli(dir, ['diff', 'exported.yaml']);
    assert.equal(same.status, 0, same.stdout);
    const diff = cli(dir, ['diff', fixture('istio/bookinfo-vs-reviews-jason-v2-v3.yaml')]);
    assert.equal(diff.status, 1);
    assert.match(diff.stdout, /reviews:\n {2}routes\[1 split\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
