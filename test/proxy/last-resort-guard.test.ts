// The sidecar's last-resort guard (proxy/last-resort.ts): an exception nobody caught is counted and logged;
// one that belongs to a single connection or stream leaves the sidecar serving, anything else makes it
// exit for a restart with its own exit code.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { ControlMessage, SidecarMessage } from '../../proxy/protocol/index.js';
import { EXIT_UNEXPECTED_ERROR } from '../../proxy/last-resort.js';
import { mergeExpositions } from '../../src/telemetry/mesh-metrics.js';
import { echoApp, plainRequest, serverConfig, SidecarProcess, startApp, tempHome, TestMesh } from './helpers.js';

async function scrape(sidecar: SidecarProcess, id: number): Promise<string> {
  sidecar.send({ type: 'scrape', id });
  const reply = await sidecar.waitFor(
    () => sidecar.messages.find((m): m is Extract<SidecarMessage, { type: 'metrics' }> => m.type === 'metrics' && m.id === id),
    5_000,
    `metrics reply ${id}`,
  );
  return reply.text;
}

/** Polls: stderr arriving does not wake SidecarProcess.waitFor, which listens to IPC messages. */
async function stderrMatches(sidecar: SidecarProcess, pattern: RegExp, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(sidecar.stderr)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${pattern} in the sidecar's stderr:\n${sidecar.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function counter(text: string, kind: string): number {
  const m = new RegExp(`^devmesh_proxy_unexpected_errors_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : -1;
}

describe('last-resort guard', () => {
  const home = tempHome({ after });
  const mesh = new TestMesh(home);

  it('a client that resets its connection before its first byte does not take the sidecar down', async (t) => {
    // A real hostile client: nothing sent, then a TCP RST while the PERMISSIVE inbound waits to classify it.
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'PERMISSIVE' }));
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(ports.inbound!, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.resetAndDestroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sidecar.child.exitCode, null, `the sidecar must stay up\n${sidecar.stderr}`);
    assert.equal((await plainRequest(ports.inbound!)).status, 200, 'and keep serving');
    // Caught where it happens, or at worst by the guard as a per-connection error: never fatal.
    assert.equal(counter(await scrape(sidecar, 1), 'fatal'), 0);
  });

  it('a control message it does not know, or a frame that is not one, is logged and never fatal', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home);
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'DISABLE' }));
    sidecar.send({ type: { nested: true } } as unknown as ControlMessage);
    await stderrMatches(sidecar, /ignoring unknown control message type \[object Object\]/);
    // A frame of a kind no devmesh end writes: the channel is dropped and dialed again, the sidecar serves on.
    sidecar.sendRaw(Buffer.from([0, 0, 0, 2, 9, 0]));
    await stderrMatches(sidecar, /unknown control frame kind 9/);
    await sidecar.waitFor(() => sidecar.hellos[1], 5_000, 'the sidecar to dial again');
    assert.equal((await plainRequest(ports.inbound!)).status, 200);
    assert.equal(counter(await scrape(sidecar, 1), 'fatal'), 0);
  });

  it('an error emitted by a stream is counted and logged, and the sidecar keeps serving', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    // No honest trigger is left once the per-connection handlers are right (that is the point of them), so
    // this test uses the hidden hook: on SIGUSR2 a real stream emits ECONNRESET with no listener.
    const sidecar = SidecarProcess.start(t, mesh.home, { DEVMESH_SIDECAR_TEST_FAULT: 'stream-econnreset' });
    const ports = await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'DISABLE' }));
    assert.equal(counter(await scrape(sidecar, 1), 'socket'), 0, 'every kind is exported from the start');
    sidecar.child.kill('SIGUSR2');
    await stderrMatches(sidecar, /unexpected error/);
    assert.match(sidecar.stderr, /unexpected error \(uncaughtException, socket\): ECONNRESET .*keeps serving: it belongs to one connection or stream/);
    const text = await scrape(sidecar, 2);
    assert.equal(counter(text, 'socket'), 1);
    // As the control plane's /metrics federates it, beside the other sidecars'.
    assert.match(mergeExpositions([{ pod: 'reviews-v1-0', text }]), /^devmesh_proxy_unexpected_errors_total\{kind="socket",pod="reviews-v1-0"\} 1$/m);
    assert.equal(sidecar.child.exitCode, null);
    assert.equal((await plainRequest(ports.inbound!)).status, 200);
  });

  it('a programming error makes the sidecar log why and exit with its own exit code', async (t) => {
    const app = await startApp(t, echoApp('reviews'));
    const sidecar = SidecarProcess.start(t, mesh.home, { DEVMESH_SIDECAR_TEST_FAULT: 'rejection-typeerror' });
    await sidecar.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort: app.port, mtls: 'DISABLE' }));
    sidecar.child.kill('SIGUSR2');
    const exit = await sidecar.exited;
    assert.equal(exit.code, EXIT_UNEXPECTED_ERROR);
    assert.match(sidecar.stderr, /unexpected error \(unhandledRejection, fatal\): TypeError: .*exiting for a restart \(exit code 70\): not a connection or stream error, so the sidecar's state may be corrupt/);
    assert.equal(sidecar.stderr.match(/unexpected error/g)?.length, 1, 'one line');
  });
});
