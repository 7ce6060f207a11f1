// devmesh installed as users install it: `npm pack` of this checkout, `npm i -g` of the tarball into a
// clean prefix (packages from the local npm cache first, the registry for what it lacks), then the
// installed `devmesh --version`, `devmesh doctor` and a one-service `devmesh up` serving a request; and
// `npx` of the same tarball. better-sqlite3 is native: npm 11 runs its install script only when allowed
// (--allow-scripts), and that script (prebuild-install) takes the prebuilt binary from a local folder
// (npm_config_better_sqlite3_local_prebuilds) holding the binary this checkout runs on, so nothing is
// compiled or downloaded from GitHub.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesOfHome, REPO, tempHome, waitFor } from '../helpers/mesh-process.js';

const NPM_TIMEOUT_MS = 15 * 60_000;

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeout ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A prebuild-install folder holding the better-sqlite3 binary of this checkout, named as its download would be. */
function localPrebuilds(dir: string): string {
  const pkg = JSON.parse(readFileSync(join(REPO, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string };
  const stage = join(dir, 'stage');
  mkdirSync(join(stage, 'build/Release'), { recursive: true });
  copyFileSync(join(REPO, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'), join(stage, 'build/Release/better_sqlite3.node'));
  const out = join(dir, 'prebuilds');
  mkdirSync(out);
  const name = `better-sqlite3-v${pkg.version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  sh('tar', ['-czf', join(out, name), '-C', stage, 'build']);
  return out;
}

const APP = `import { createServer } from 'node:http';
createServer((req, res) => res.end('installed ' + req.url)).listen(Number(process.env.PORT), '127.0.0.1');
`;

test('npm pack, npm i -g into a clean prefix and npx: devmesh --version, doctor, and a tiny mesh up', { timeout: 2 * NPM_TIMEOUT_MS + 180_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'devmesh-install-'));
  const home = tempHome();
  t.after(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

  // The tarball: built files only (the checkout is built before tests run, so prepare is not re-run).
  const packStarted = Date.now();
  const packed = JSON.parse(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work])) as { filename: string; files: { path: string }[] }[];
  const tarball = join(work, packed[0]!.filename);
  const files = packed[0]!.files.map((f) => f.path);
  for (const f of ['package.json', 'bin/devmesh.js', 'dist/src/cli/main.js', 'dist/proxy/main.js', 'dist/bundle/proxy/main.js', 'dist/renderer/index.html', 'dist/renderer/app.js', 'schema/devmesh.schema.json', 'fixtures/bookinfo/devmesh.yaml']) {
    assert.ok(files.includes(f), `the tarball has ${f}`);
  }
  assert.deepEqual(files.filter((f) => f.startsWith('dist/test/') || /\.test\.js$/.test(f) || f.startsWith('src/') || f.startsWith('node_modules/')), []);
  t.diagnostic(`npm pack: ${((Date.now() - packStarted) / 1000).toFixed(1)} s, ${files.length} files`);

  const env = { ...process.env, npm_config_better_sqlite3_local_prebuilds: localPrebuilds(work), npm_config_update_notifier: 'false' };
  const npmFlags = ['--prefer-offline', '--allow-scripts=better-sqlite3', '--no-audit', '--no-fund'];
  const prefix = join(work, 'prefix');
  const installStarted = Date.now();
  sh('npm', ['install', '--global', '--prefix', prefix, ...npmFlags, tarball], { cwd: work, env, timeout: NPM_TIMEOUT_MS });
  t.diagnostic(`npm i -g of the tarball: ${((Date.now() - installStarted) / 1000).toFixed(1)} s`);

  const devmesh = join(prefix, 'bin', 'devmesh');
  const userEnv = { ...process.env, DEVMESH_HOME: home };
  assert.equal(sh(devmesh, ['--version'], { cwd: work, env: userEnv }), `devmesh ${version}\n`);
  const doctor = spawnSync(devmesh, ['doctor', '--json'], { cwd: work, env: userEnv, encoding: 'utf8', timeout: 60_000 });
  const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; message: string }[] }).checks;
  assert.equal(checks.find((c) => c.name === 'sqlite')!.status, 'pass', JSON.stringify(checks));

  // A one-service mesh from the installed command: up, a request through the ingress, Ctrl-C.
  const meshDir = join(work, 'mesh');
  mkdirSync(meshDir);
  writeFileSync(join(meshDir, 'app.mjs'), APP);
  writeFileSync(join(meshDir, 'devmesh.yaml'), 'name: installed\ningress:\n  - port: 0\n    service: hello\nservices:\n  hello:\n    run: node app.mjs\n');
  const up = spawn(devmesh, ['up'], { cwd: meshDir, env: userEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  up.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  up.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  try {
    await waitFor('the installed devmesh up to be ready', () => {
      if (up.exitCode !== null) throw new Error(`devmesh up exited ${up.exitCode}:\n${out}`);
      return /^ready: 1\/1 instances running/m.test(out);
    }, 120_000);
    const ingress = /^ingress hello: (\S+)$/m.exec(out)![1]!;
    const res = await fetch(`${ingress}/from-the-tarball`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'installed /from-the-tarball');
    const status = JSON.parse(sh(devmesh, ['status', '--json'], { cwd: meshDir, env: userEnv })) as { running: boolean; services: { name: string }[] };
    assert.equal(status.running, true);
    // Its sidecars run the proxy bundled into one file (scripts/bundle-proxy.mjs), which boots faster.
    const commandLines = processesOfHome(home).map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'));
    const proxies = commandLines.filter((argv) => argv.some((a) => a.endsWith('/proxy/main.js')));
    assert.ok(proxies.length >= 2, JSON.stringify(commandLines));
    assert.ok(proxies.every((argv) => argv[1]!.endsWith('/dist/bundle/proxy/main.js')), JSON.stringify(proxies));
  } finally {
    up.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out);
  await waitFor('nothing left of the installed mesh', () => processesOfHome(home).length === 0, 20_000);

  // npx of the same tarball (npm exec installs it into npm's own cache folder).
  const npxStarted = Date.now();
  const npx = sh('npm', ['exec', '--yes', ...npmFlags, `--package=${tarball}`, '--', 'devmesh', '--version'], { cwd: work, env: { ...env, DEVMESH_HOME: home }, timeout: NPM_TIMEOUT_MS });
  assert.match(npx, new RegExp(`devmesh ${version.replace(/\./g, '\\.')}\\n$`));
  t.diagnostic(`npx of the tarball: ${((Date.now() - npxStarted) / 1000).toFixed(1)} s`);
});
