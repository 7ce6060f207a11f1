// The devmesh command without a running mesh, as a user runs it (bin/devmesh.js as a child process):
// --version, per-command --help, the exit statuses of the convention (0 ok, 1 failed, 2 usage), the
// JSON answer of status --json when no mesh runs, and doctor's checks.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, runCli } from '../helpers/cli-mesh.js';
import { REPO, tempHome } from '../helpers/mesh-process.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** The home of the commands run without a mesh: nothing ever runs in it. */
const EMPTY_HOME = tempHome();
after(() => rmSync(EMPTY_HOME, { recursive: true, force: true }));

const cli = (args: string[], opts: { home?: string } = {}) => runCli(args, opts.home ?? EMPTY_HOME);

test('without a mesh: --version, per-command --help, usage errors exit 2, status --json exits 1 with a JSON answer', () => {
  const version = cli(['--version']);
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout, `devmesh ${VERSION}\n`);
  assert.deepEqual(json(cli(['--version', '--json'])), { version: VERSION, node: process.version });

  for (const command of ['up', 'status', 'logs', 'tap', 'restart', 'doctor', 'traces', 'import', 'export', 'diff']) {
    const help = cli([command, '--help']);
    assert.equal(help.status, 0, `${command} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^usage: devmesh ${command}\\b`), command);
    assert.match(help.stdout, /exit status: 0 ok, 1 failed/, command);
    if (command === 'up' || command === 'import') assert.equal(cli(['help', command]).stdout, help.stdout, `help ${command}`);
  }
  const global = cli(['--help']);
  assert.equal(global.status, 0);
  assert.match(global.stdout, /devmesh logs \[SERVICE\] \[--follow\]/);
  assert.match(global.stdout, /DEVMESH_HOME/);

  const bare = cli([]);
  assert.equal(bare.status, 2);
  const unknownCommand = cli(['frobnicate']);
  assert.equal(unknownCommand.status, 2);
  assert.match(unknownCommand.stderr, /unknown command "frobnicate"/);
  const unknownOption = cli(['status', '--bogus']);
  assert.equal(unknownOption.status, 2);
  assert.match(unknownOption.stderr, /status: Unknown option '--bogus'[\s\S]*usage: devmesh status/);
  const unknownJson = cli(['up', '--bogus', '--json']);
  assert.equal(unknownJson.status, 2);
  assert.equal(json<{ code: string }>(unknownJson).code, 'USAGE');
  assert.equal(cli(['restart']).status, 2);

  const status = cli(['status']);
  assert.equal(status.status, 1);
  assert.match(status.stderr, /no mesh is running \(start one with: devmesh up\)/);
  const statusJson = cli(['status', '--json']);
  assert.equal(statusJson.status, 1);
  assert.deepEqual(json(statusJson), { ok: false, code: 'NO_MESH', error: 'no mesh is running (start one with: devmesh up)', running: false });
  assert.equal(cli(['tap', '--json']).status, 1);

  const invalid = cli(['validate', '--json', 'no-such.yaml']);
  assert.equal(invalid.status, 1);
  assert.equal(json<{ ok: boolean }>(invalid).ok, false);
  const valid = cli(['validate', '--json', join(REPO, 'fixtures/bookinfo/devmesh.yaml')]);
  assert.equal(valid.status, 0, valid.stderr);
  assert.deepEqual(json<{ services: string[] }>(valid).services.sort(), ['details', 'productpage', 'ratings', 'reviews']);
});

test('ca export --json and init --json answer one JSON object', () => {
  const ca = cli(['ca', 'export', '--json']);
  assert.equal(ca.status, 0, ca.stderr);
  const pem = json<{ pem: string; written: string | null }>(ca);
  assert.match(pem.pem, /^-----BEGIN CERTIFICATE-----/);
  assert.equal(pem.written, null);
  assert.equal(cli(['ca', 'export']).stdout, pem.pem);
  assert.equal(cli(['ca', 'import']).status, 2);

  const dir = mkdtempSync(join(tmpdir(), 'devmesh-cli-init-'));
  try {
    writeFileSync(join(dir, 'docker-compose.yml'), 'services:\n  web:\n    image: nginx:1.27\n    ports: ["8080:80"]\n');
    const init = runCli(['init', '--from', 'docker-compose.yml', '--json'], EMPTY_HOME, dir);
    assert.equal(init.status, 0, init.stderr);
    const answer = json<{ written: string; services: string[]; notCarriedOver: string[]; problems: string | null }>(init);
    assert.equal(answer.written, join(dir, 'devmesh.yaml'));
    assert.deepEqual(answer.services, ['web']);
    assert.equal(answer.problems, null);
    const again = runCli(['init', '--from', 'docker-compose.yml', '--json'], EMPTY_HOME, dir);
    assert.equal(again.status, 2);
    assert.match(json<{ error: string }>(again).error, /exists \(use --force to overwrite\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('doctor: one line per check with a fix, --json, exit 1 only when a check fails', () => {
  // A home with no CA yet: the CA check warns (and the trust check waits for a CA).
  const home = tempHome();
  after(() => rmSync(home, { recursive: true, force: true }));
  const r = cli(['doctor', join(REPO, 'fixtures/bookinfo/devmesh.yaml')], { home });
  const checks = json<{ ok: boolean; checks: { name: string; status: string; message: string; fix?: string }[] }>(cli(['doctor', '--json', join(REPO, 'fixtures/bookinfo/devmesh.yaml')], { home }));
  assert.deepEqual(
    checks.checks.map((c) => c.name),
    ['node', 'sqlite', 'state folder', 'disk', 'CA', 'mesh file', 'ports', 'otlp ports', 'docker', 'electron', 'chromium'],
  );
  assert.equal(checks.checks.find((c) => c.name === 'node')!.status, 'pass');
  assert.equal(checks.checks.find((c) => c.name === 'sqlite')!.status, 'pass');
  for (const c of checks.checks) if (c.status !== 'pass') assert.ok(c.fix, `${c.name} has a fix`);
  assert.equal(r.status, checks.ok ? 0 : 1);
  for (const c of checks.checks) assert.match(r.stdout, new RegExp(`^[√‼×] ${c.name}: `, 'm'));
  // A mesh file that does not load is a failed check.
  const bad = cli(['doctor', '--json', join(REPO, 'package.json')], { home });
  assert.equal(bad.status, 1);
  assert.equal(json<{ checks: { name: string; status: string }[] }>(bad).checks.find((c) => c.name === 'mesh file')!.status, 'fail');
});
