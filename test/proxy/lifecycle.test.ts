// A sidecar outlives a control plane that dies (serving with its last good config and dialing again, as
// Envoy does when istiod restarts), but not for ever: past the orphan grace period with no control plane it
// exits, so a mesh left alone leaks nothing even without its reaper.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { isAlive } from '../helpers/mesh-process.js';
import { echoApp, plainRequest, serverConfig, SIDECAR_MAIN, SidecarProcess, startApp, tempHome, TestMesh } from './helpers.js';

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('sidecar lifecycle', () => {
  const mesh = new TestMesh(tempHome({ after }));

  for (const how of ['shutdown', 'SIGTERM'] as const) {
    it(`exits promptly and frees its port on ${how}`, async (t) => {
      const app = await startApp(t, echoApp('reviews'));
      const sidecar = SidecarProcess.start(t, mesh.home);
      const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'PERMISSIVE' }));
      assert.equal(await portOpen(ports.inbound!), true);
      const started = Date.now();
      if (how === 'shutdown') sidecar.send({ type: 'shutdown' });
      else sidecar.child.kill('SIGTERM');
      const exit = await sidecar.exited;
      assert.equal(exit.code, 0);
      assert.ok(Date.now() - started < 2_000, `exited in ${Date.now() - started} ms`);
      assert.equal(await portOpen(ports.inbound!), false);
    });
  }

  it('keeps serving when the control channel drops, dials again and says what it runs', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'DISABLE' }));
    assert.equal(sidecar.hellos.length, 1);
    assert.equal(sidecar.hellos[0]!.token, 'test-token');
    assert.equal(sidecar.hellos[0]!.ackedVersion, 0, 'a new sidecar runs no config yet');

    sidecar.dropControlChannel();
    // Requests go on while no control plane is there.
    for (let i = 0; i < 20; i++) assert.equal((await plainRequest(ports.inbound!)).status, 200);
    const hello = await sidecar.waitFor(() => sidecar.hellos[1], 5_000, 'a second hello');
    assert.equal(hello.pid, sidecar.child.pid);
    assert.equal(hello.ackedVersion, 1, 'it tells the control plane the version it kept');
    assert.deepEqual(hello.ports, ports, 'and the ports that config bound');
    assert.match(sidecar.stderr, /serving with the last good config \(v1\) and dialing the control plane again/);
    assert.equal(sidecar.child.exitCode, null);
    // The new channel carries configs as the first one did.
    const again = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'DISABLE', port: ports.inbound! }));
    assert.equal(again.inbound, ports.inbound);
  });

  it('exits after the orphan grace period when no control plane comes back', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home, { DEVMESH_ORPHAN_GRACE_MS: '600' });
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'DISABLE' }));
    const dropped = Date.now();
    sidecar.stopAnswering();
    assert.equal((await plainRequest(ports.inbound!)).status, 200, 'serving within the grace period');
    const exit = await sidecar.exited;
    const after = Date.now() - dropped;
    assert.equal(exit.code, 0);
    assert.ok(after >= 550 && after < 3_000, `exited ${after} ms after its control plane went (grace 600 ms)`);
    assert.match(sidecar.stderr, /shutting down: the control plane has been gone for/);
    assert.equal(await portOpen(ports.inbound!), false);
  });

  it('exits when killed parent and control socket are both gone past the grace period', async (t) => {
    // A stand-in control plane that starts the sidecar, reports its pid, and then dies hard.
    const parent = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { spawn } from 'node:child_process';
         import { createServer } from 'node:net';
         const path = ${JSON.stringify(mesh.home)} + '/killed-parent.sock';
         createServer((s) => s.resume()).listen(path, () => {
           const child = spawn(process.execPath, [${JSON.stringify(SIDECAR_MAIN)}, 'orphan'], {
             env: { ...process.env, DEVMESH_CONTROL_SOCKET: path, DEVMESH_CONTROL_TOKEN: 't', DEVMESH_ORPHAN_GRACE_MS: '800' },
             stdio: 'ignore', detached: true,
           });
           child.on('spawn', () => console.log(child.pid));
         });
         setInterval(() => {}, 1000);`,
      ],
      { env: { ...process.env, DEVMESH_HOME: mesh.home }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let childPid = 0;
    t.after(() => {
      parent.kill('SIGKILL');
      if (childPid && isAlive(childPid)) process.kill(childPid, 'SIGKILL');
    });
    const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
    childPid = Number(line.toString().trim());
    assert.ok(childPid > 0);
    await new Promise((r) => setTimeout(r, 300));
    parent.kill('SIGKILL');
    await once(parent, 'exit');
    assert.equal(isAlive(childPid), true, 'it outlives its control plane');
    assert.equal(await waitUntil(() => !isAlive(childPid), 4_000), true, 'the orphaned sidecar exited after its grace period');
  });
});
