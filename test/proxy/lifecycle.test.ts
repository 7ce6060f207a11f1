// The sidecar must never outlive its control plane: that is what keeps the mesh from leaking processes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { isAlive } from '../helpers/mesh-process.js';
import { echoApp, serverConfig, SIDECAR_MAIN, SidecarProcess, startApp, tempHome, TestMesh } from './helpers.js';

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

  for (const how of ['disconnect', 'shutdown', 'SIGTERM'] as const) {
    it(`exits promptly and frees its port on ${how}`, async (t) => {
      const app = await startApp(t, echoApp('reviews'));
      const sidecar = SidecarProcess.start(t, mesh.home);
      const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'PERMISSIVE' }));
      assert.equal(await portOpen(ports.inbound!), true);
      const started = Date.now();
      if (how === 'disconnect') sidecar.child.disconnect();
      else if (how === 'shutdown') sidecar.send({ type: 'shutdown' });
      else sidecar.child.kill('SIGTERM');
      const exit = await sidecar.exited;
      assert.equal(exit.code, 0);
      assert.ok(Date.now() - started < 2_000, `exited in ${Date.now() - started} ms`);
      assert.equal(await portOpen(ports.inbound!), false);
    });
  }

  it('exits when its parent is killed', async (t) => {
    // A stand-in control plane that forks the sidecar, reports its pid, and then dies hard.
    const parent = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { fork } from 'node:child_process';
         const child = fork(${JSON.stringify(SIDECAR_MAIN)}, [], { env: process.env, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
         child.on('spawn', () => console.log(child.pid));
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
    assert.equal(isAlive(childPid), true);
    parent.kill('SIGKILL');
    await once(parent, 'exit');
    assert.equal(await waitUntil(() => !isAlive(childPid), 3_000), true, 'the orphaned sidecar exited');
  });
});
