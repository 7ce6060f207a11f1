// devmesh up --json and down --json, run as a user runs them (bin/devmesh.js as a child process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI_APPS, CLI_YAML } from '../helpers/cli-mesh.js';
import { CLI, processesOfHome, tempHome, waitFor } from '../helpers/mesh-process.js';

/** Listens on 127.0.0.1:port, or gives null when something already does (the port is taken either way). */
function holdPort(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('up --json: one JSON object per line, ending in "ready" with the UI and ingress URLs; down --json stops it', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-cli-json-'));
  const home = tempHome();
  for (const [name, text] of Object.entries(CLI_APPS)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(join(dir, 'devmesh.yaml'), CLI_YAML);
  // OTLP's ports taken (by another mesh or collector, as happens when tests run side by side): the
  // receivers move to free ports, and nothing of it (grpc-js writes its own errors to stderr) breaks the JSON.
  const taken = await Promise.all([4317, 4318].map((port) => holdPort(port)));
  t.after(() => taken.forEach((s) => s?.close()));
  const env = { ...process.env, DEVMESH_HOME: home };
  const up = spawn(process.execPath, [CLI, 'up', '--json'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (up.exitCode === null) up.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  let out = '';
  up.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  up.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const events = await waitFor('the ready event', () => {
    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; message?: string; uiUrl?: string; ingress?: Record<string, string>; running?: number; instances?: number });
    return lines.some((e) => e.event === 'ready') ? lines : undefined;
  }, 120_000);
  assert.ok(events.every((e) => e.event === 'log' || e.event === 'ready'));
  assert.match(events[0]!.message!, /^devmesh: starting /);
  const ready = events.find((e) => e.event === 'ready')!;
  assert.equal(ready.running, 2);
  assert.equal(ready.instances, 2);
  assert.match(ready.uiUrl!, /^http:\/\/127\.0\.0\.1:\d+\/#token=/);
  assert.equal((await fetch(`${ready.ingress!.front}/json`)).status, 200);

  const down = spawnSync(process.execPath, [CLI, 'down', '--json'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  const answer = JSON.parse(down.stdout) as { ok: boolean; mesh: string; stopped: string | null };
  assert.equal(answer.mesh, 'clitest');
  assert.equal(answer.stopped, 'up');
  assert.equal(answer.ok, down.status === 0);
  assert.equal(await exited, 0);
});

test('up whose reader goes away (devmesh up | head -1) stops its mesh, mid-start or on a later signal; nothing is left', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-cli-epipe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(CLI_APPS)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(join(dir, 'devmesh.yaml'), CLI_YAML);
  for (const when of ['after the first line', 'ready, then SIGTERM'] as const) {
    const home = tempHome();
    const up = spawn(process.execPath, [CLI, 'up'], { cwd: dir, env: { ...process.env, DEVMESH_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    let out = '';
    let stderr = '';
    up.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    up.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await waitFor(when, () => (when === 'after the first line' ? out.includes('\n') : /^ready: /m.test(out)), 120_000);
    up.stdout.destroy();
    if (when === 'ready, then SIGTERM') up.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 90_000))]);
    if (code === 'hung') up.kill('SIGKILL');
    assert.equal(code, 0, `${when}: ${stderr}`);
    assert.doesNotMatch(stderr, /EPIPE|Error/, when);
    await waitFor(`${when}: nothing left of the mesh`, () => processesOfHome(home).length === 0, 20_000);
    rmSync(home, { recursive: true, force: true });
  }
});
