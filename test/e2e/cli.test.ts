// The devmesh command as a user runs it: the real bin/devmesh.js as a child process, against a real
// `devmesh up` of a two-service mesh, then against the same mesh stopped. Each command's output, --json
// shape and exit status (0 ok, 1 failed, 2 usage), and a reader that goes away (EPIPE) ending it quietly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { LogLine, OperationStatus, StatusResponse, TapEvent, TraceSummary } from '../../src/contract/api.js';
import { CLI_APPS, CLI_YAML, json, runCli } from '../helpers/cli-mesh.js';
import { CLI, startMesh, waitFor } from '../helpers/mesh-process.js';

/** Runs a command whose stdout reader is gone before it writes: it must end 0 with nothing on stderr. */
async function withClosedStdout(args: string[], cwd: string, home: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, DEVMESH_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stderr };
}

/** Starts a --follow command and resolves with its output once `until` matches it; then stops it. */
async function follow(args: string[], cwd: string, home: string, act: () => Promise<void>, until: RegExp): Promise<string> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, DEVMESH_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitFor(`${args.join(' ')} to start`, () => out.length > 0 || undefined, 20_000).catch(() => undefined);
    await act();
    await waitFor(`${args.join(' ')} to print ${until}`, () => until.test(out), 20_000);
    return out;
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}
test('against a running mesh, then the same mesh stopped: status, traces, logs, tap, restart, doctor', { timeout: 240_000 }, async (t) => {
  const mesh = await startMesh({ yaml: CLI_YAML, files: CLI_APPS });
  t.after(() => mesh.stop());
  const run = (args: string[]) => runCli(args, mesh.home, mesh.dir);
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${mesh.ingress.front}/hello/${i}`)).status, 200);

  // status
  const status = run(['status', '--json']);
  assert.equal(status.status, 0, status.stderr);
  const s = json<StatusResponse & { running: boolean }>(status);
  assert.equal(s.running, true);
  assert.deepEqual(s.services.map((x) => x.name).sort(), ['back', 'front']);
  assert.match(run(['status']).stdout, /^mesh clitest {2}config v\d+/);

  // traces, through the API
  const traces = await waitFor('three traces', () => {
    const r = run(['traces', '--json']);
    const list = json<{ source: string; traces: TraceSummary[] }>(r);
    return list.traces.filter((x) => x.path.startsWith('/hello/')).length >= 3 ? list : undefined;
  });
  assert.equal(traces.source, 'running');
  for (const service of ['front', 'back']) assert.ok(traces.traces.every((x) => !x.path.startsWith('/hello/') || x.services.includes(service)), service);
  assert.match(run(['traces', '--service', 'back']).stdout, /GET \/hello\/\d/);

  // logs: both services, one service, --follow
  const logs = await waitFor('the apps\' log lines', () => {
    const l = json<{ source: string; lines: LogLine[] }>(run(['logs', '--json']));
    return l.lines.some((x) => x.text === 'back served /hello/2') ? l : undefined;
  });
  assert.equal(logs.source, 'running');
  assert.ok(logs.lines.some((x) => x.text === 'front served /hello/0' && x.stream === 'stdout' && x.service === 'front'));
  const backOnly = run(['logs', 'back']);
  assert.equal(backOnly.status, 0, backOnly.stderr);
  assert.match(backOnly.stdout, /^back-0 ! back served \/hello\/0$/m);
  assert.doesNotMatch(backOnly.stdout, /front served/);
  assert.equal(run(['logs', 'nosuch']).status, 2);
  const followed = await follow(['logs', 'front', '--follow'], mesh.dir, mesh.home, async () => void (await fetch(`${mesh.ingress.front}/followed-log`)), /front-0 \| front served \/followed-log/);
  assert.doesNotMatch(followed, /back served/);

  // tap: recent events as JSON, and --follow
  const tap = json<{ events: TapEvent[]; lastSeq: number }>(run(['tap', '--json']));
  assert.ok(tap.events.some((e) => e.path === '/hello/1' && e.service === 'back' && e.direction === 'inbound' && e.status === 200), JSON.stringify(tap.events.slice(0, 3)));
  const tapped = await follow(['tap', 'back', '--follow'], mesh.dir, mesh.home, async () => void (await fetch(`${mesh.ingress.front}/tapped`)), /inbound .*back-0 {2}GET \/tapped {2}200/);
  // Only requests to or from back (the filter is the service on either side).
  for (const line of tapped.trim().split('\n')) assert.match(line, /→ back(-0)? /, line);

  // EPIPE: a reader that goes away ends each command quietly, status 0
  for (const args of [['status'], ['traces'], ['logs'], ['tap'], ['schema'], ['help']]) {
    const closed = await withClosedStdout(args, mesh.dir, mesh.home);
    assert.equal(closed.code, 0, `${args.join(' ')}: ${closed.stderr}`);
    assert.doesNotMatch(closed.stderr, /EPIPE|Error/, args.join(' '));
  }
  const piped = spawnSync('/bin/sh', ['-c', `"${process.execPath}" "${CLI}" status | head -1`], { cwd: mesh.dir, env: { ...process.env, DEVMESH_HOME: mesh.home }, encoding: 'utf8' });
  assert.match(piped.stdout, /^mesh clitest/);
  assert.equal(piped.stderr, '');

  // restart: waits for the operation; the instance has a new pid
  const backPid = s.services.find((x) => x.name === 'back')!.instances[0]!.pid;
  const restarted = run(['restart', 'back', '--json']);
  assert.equal(restarted.status, 0, restarted.stdout + restarted.stderr);
  const op = json<{ operation: OperationStatus }>(restarted).operation;
  assert.equal(op.state, 'succeeded');
  assert.equal(op.service, 'back');
  const after = json<StatusResponse>(run(['status', '--json'])).services.find((x) => x.name === 'back')!.instances[0]!;
  assert.notEqual(after.pid, backPid);
  assert.equal(after.state, 'running');
  assert.equal((await fetch(`${mesh.ingress.front}/after-restart`)).status, 200);
  assert.match(run(['restart', 'front']).stdout, /^restarting front[\s\S]*^restarted front/m);
  const noSuch = run(['restart', 'nosuch', '--json']);
  assert.equal(noSuch.status, 2);
  assert.match(json<{ error: string }>(noSuch).error, /no service "nosuch"/);

  // doctor sees the running mesh's ports as its own
  const doctor = json<{ checks: { name: string; status: string; message: string }[] }>(run(['doctor', '--json']));
  assert.match(doctor.checks.find((c) => c.name === 'ports')!.message, /the mesh is running/);
  assert.equal(doctor.checks.find((c) => c.name === 'CA')!.status, 'pass');

  // Stopped: traces and logs read what the mesh left; live commands fail with exit 1.
  mesh.child.kill('SIGTERM');
  await waitFor('devmesh up to exit', () => mesh.child.exitCode !== null || mesh.child.signalCode !== null, 60_000);
  const stoppedStatus = run(['status', '--json']);
  assert.equal(stoppedStatus.status, 1);
  assert.equal(json<{ running: boolean }>(stoppedStatus).running, false);
  const storedTraces = run(['traces', '--json', '--limit', '100']);
  assert.equal(storedTraces.status, 0, storedTraces.stderr);
  const stored = json<{ source: string; traces: TraceSummary[] }>(storedTraces);
  assert.equal(stored.source, 'stopped');
  for (const path of ['/hello/0', '/hello/1', '/hello/2', '/after-restart']) assert.ok(stored.traces.some((x) => x.path === path), path);
  assert.match(run(['traces']).stderr, /no mesh is running: read the trace store of the stopped mesh clitest/);
  const storedLogs = json<{ source: string; lines: LogLine[] }>(run(['logs', '--json']));
  assert.equal(storedLogs.source, 'stopped');
  assert.ok(storedLogs.lines.some((l) => l.instanceId === 'back-0' && l.stream === 'stderr' && l.text === 'back served /hello/1'));
  assert.ok(storedLogs.lines.some((l) => l.service === 'front' && l.text === 'front served /after-restart'));
  const storedBack = run(['logs', 'back']);
  assert.equal(storedBack.status, 0, storedBack.stderr);
  assert.match(storedBack.stdout, /^back-0 ! back served \/after-restart$/m);
  assert.doesNotMatch(storedBack.stdout, /front served/);
  for (const live of [['tap'], ['restart', 'back']]) {
    const r = run([...live, '--json']);
    assert.equal(r.status, 1, live.join(' '));
    assert.equal(json<{ code: string }>(r).code, 'NO_MESH');
  }
});
