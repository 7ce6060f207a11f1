// `devmesh export --to linkerd|consul` on a copy of the Bookinfo demo: the real CLI, its exit statuses, the
// notes on stderr, --format hcl|crd and --out DIR; and `devmesh diff` reads what export wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO } from '../helpers/mesh-process.js';

test('devmesh export --to linkerd and --to consul (hcl, crd, --out) on the demo mesh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-export-'));
  cpSync(join(REPO, 'fixtures', 'bookinfo'), dir, { recursive: true });
  const cli = (_: string, args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  try {
    const linkerd = cli(dir, ['export', '--to', 'linkerd']);
    assert.equal(linkerd.status, 0, linkerd.stderr);
    assert.match(linkerd.stdout, /apiVersion: policy\.linkerd\.io\/v1beta3\nkind: HTTPRoute/);
    assert.match(linkerd.stdout, /retry\.linkerd\.io\/http: 5xx/);
    assert.match(linkerd.stderr, /^note: routes\.reviews\[1\] \(split\): retry conditions: connect-failure/m);

    const hcl = cli(dir, ['export', '--to', 'consul']);
    assert.equal(hcl.status, 0, hcl.stderr);
    assert.match(hcl.stdout, /^# service-router-reviews\.hcl\nKind = "service-router"\nName = "reviews"/m);
    assert.match(hcl.stderr, /^note: routes\.reviews\[1\] \(split\): Consul has no per-try timeout/m);
    const crd = cli(dir, ['export', '--to', 'consul', '--format', 'crd']);
    assert.equal(crd.status, 0, crd.stderr);
    assert.match(crd.stdout, /apiVersion: consul\.hashicorp\.com\/v1alpha1\nkind: ServiceSplitter/);

    const out = cli(dir, ['export', '--to', 'consul', '--out', 'consul']);
    assert.equal(out.status, 0, out.stderr);
    assert.deepEqual(readdirSync(join(dir, 'consul')).sort(), ['proxy-defaults-global.hcl', 'service-defaults-reviews.hcl', 'service-resolver-reviews.hcl', 'service-router-reviews.hcl', 'service-splitter-reviews.hcl']);
    // What export wrote, read back by diff (rules that can never apply, like Consul's default route after
    // the catch-all, left out): the per-try timeout the note named is the one difference.
    const diff = cli(dir, ['diff', 'consul']);
    assert.equal(diff.status, 1, diff.stdout);
    assert.match(diff.stdout, /routes\[1 split\]\.retries\.perTryTimeoutMs\n {4}local: +1000\n {4}production: null\n\n1 difference in 1 service/);
    writeFileSync(join(dir, 'linkerd.yaml'), linkerd.stdout);
    assert.equal(cli(dir, ['diff', 'linkerd.yaml']).status, 1);

    for (const bad of [['export', '--to', 'nginx'], ['export', '--to', 'linkerd', '--format', 'crd'], ['export', '--to', 'consul', '--format', 'json']]) {
      const r = cli(dir, bad);
      assert.equal(r.status, 2, bad.join(' '));
      assert.match(r.stderr, /usage:/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
