// Slowloris: a few connections dribble header bytes at the ingress and at an outbound listener while a
// normal client keeps calling. The normal client's p99 is compared with the same batch measured just
// before the attack (on a shared two-core machine a wall-clock constant would say more about the machine).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { normalRequest, pctl, sidecarsSurvive, startAdversarialMesh, type AdversarialMesh, type Target } from './adversarial-mesh.js';

let adv: AdversarialMesh;
before(async () => {
  adv = await startAdversarialMesh();
});
after(() => adv?.mesh.stop());

const BATCH = 30;
const LORIS = 6;

async function batch(t: Target, tag: string): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < BATCH; i++) {
    const started = performance.now();
    const r = await normalRequest(t, `/latency-${tag}-${i}`);
    assert.equal(r.responses[0]?.status, 200, `normal request ${tag} ${i}: ${r.raw.toString('latin1').slice(0, 120)} ${r.error ?? ''}`);
    ms.push(performance.now() - started);
  }
  return ms;
}

/** Connections that send a request head one header line at a time, every 150 ms, never finishing it. */
function slowloris(t: Target): { stop(): number } {
  let answered = 0;
  const sockets = Array.from({ length: LORIS }, (_, i) => {
    const s = net.connect({ host: '127.0.0.1', port: t.port });
    s.on('error', () => {});
    s.on('data', () => answered++);
    s.once('connect', () => s.write(`GET /loris-${i} HTTP/1.1\r\nHost: ${t.host}\r\n`));
    return s;
  });
  let n = 0;
  const timer = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write(`X-Loris-${n}: ${'z'.repeat(20)}\r\n`);
    n++;
  }, 150);
  return {
    stop() {
      clearInterval(timer);
      for (const s of sockets) s.destroy();
      return answered;
    },
  };
}

for (const name of ['ingress', 'outbound'] as const) {
  test(`slowloris at the ${name}: a normal client keeps its latency`, async () => {
    const t = adv[name];
    await batch(t, `${name}-warm`); // first requests pay for connections and code warming up
    const { quiet, attacked, loris } = await sidecarsSurvive(adv, async () => {
      const quiet = await batch(t, `${name}-quiet`);
      const attack = slowloris(t);
      await new Promise((r) => setTimeout(r, 500));
      const attacked = await batch(t, `${name}-attacked`);
      const loris = attack.stop();
      return { quiet, attacked, loris };
    });
    const before = pctl(quiet, 99);
    const during = pctl(attacked, 99);
    console.log(`slowloris at the ${name}: p99 of ${BATCH} requests ${before.toFixed(1)} ms before, ${during.toFixed(1)} ms with ${LORIS} slowloris connections`);
    // Generous on a shared machine, and still far below what a sidecar stuck on the slow heads would take.
    const bound = 5 * Math.max(before, 5);
    assert.ok(during <= bound, `p99 ${during.toFixed(1)} ms under attack, ${before.toFixed(1)} ms before (bound ${bound.toFixed(1)} ms)`);
    assert.equal(adv.requests(t.app).filter((l) => l.includes('/loris-')).length, 0, 'an unfinished head never reaches the app');
    // An answer to a slow head (a 408 from a header timeout) is allowed; only the app must never see it.
    void loris;
  });
}
