// The configuration version climbs only when what the sidecars are told changes. An instance's restart
// changes its endpoint set twice (out, back): two versions, each labelled with why; its other state changes
// (stopped, starting, a crash's backoff) make none, and a quiet mesh makes none at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigVersionRecord, StatusResponse } from '../../src/contract/api.js';
import { startMesh, waitFor } from '../helpers/mesh-process.js';

const APP = `
import { createServer } from 'node:http';
createServer((req, res) => res.end(String(process.pid))).listen(Number(process.env.PORT), '127.0.0.1');
`;

const YAML = `name: versions
ingress:
  - { port: 0, service: api }
services:
  api:
    run: node app.mjs
    upstreams: [back]
  back:
    run: node app.mjs
    replicas: 2
`;

test('restarts and a killed app move the config version by their endpoint changes only, and the history says why', { timeout: 180_000 }, async (t) => {
  const mesh = await startMesh({ yaml: YAML, files: { 'app.mjs': APP } });
  t.after(() => mesh.stop());
  const status = () => mesh.api<StatusResponse>('/api/status');
  const settled = async () => {
    // Settled: every sidecar has ACKed the current version.
    return waitFor('every sidecar on the current version', async () => {
      const s = await status();
      const acked = [...s.services.flatMap((x) => x.instances.map((i) => i.sidecar.ackedVersion)), ...s.ingress.map((i) => i.sidecar.ackedVersion)];
      return acked.every((v) => v === s.config.version) ? s : undefined;
    });
  };
  const start = await settled();
  // Quiet: no version is made while nothing changes.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await status()).config.version, start.config.version);

  const N = 3;
  for (let i = 0; i < N; i++) {
    const r = mesh.cli(['restart', 'api']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  }
  const afterApi = await settled();
  const apiVersions = afterApi.config.history!.filter((h) => h.version > start.config.version);
  t.diagnostic(`restart api ×${N}: v${start.config.version} → v${afterApi.config.version}: ${apiVersions.map((h) => `v${h.version} ${h.reason}`).reverse().join(' | ')}`);
  // One endpoint out and back per restart: at most 2 versions each.
  assert.ok(afterApi.config.version - start.config.version <= 2 * N, `${afterApi.config.version - start.config.version} versions for ${N} restarts`);
  assert.equal(apiVersions.filter((h) => h.reason === 'endpoints: api −api-0 (restarting)').length, N);
  assert.equal(apiVersions.filter((h) => h.reason === 'endpoints: api +api-0').length, N);
  // Every version was sent to every sidecar (2 back, 1 api, 1 ingress) and ACKed by each.
  for (const h of apiVersions) assert.deepEqual([h.sent, h.acked, h.nacks], [4, 4, []], JSON.stringify(h));

  // A rolling restart of two replicas: each goes out and comes back, the other serving meanwhile.
  const r = mesh.cli(['restart', 'back']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const afterBack = await settled();
  const backVersions = afterBack.config.history!.filter((h) => h.version > afterApi.config.version).map((h) => h.reason).reverse();
  assert.deepEqual(backVersions, ['endpoints: back −back-0 (restarting)', 'endpoints: back +back-0', 'endpoints: back −back-1 (restarting)', 'endpoints: back +back-1']);

  // A killed app: out while it is down (its state says why), back once healthy again; backoff and starting make none.
  const api = afterBack.services.find((s) => s.name === 'api')!.instances[0]!;
  process.kill(api.pid!, 'SIGKILL');
  const back = await waitFor('api running again', async () => {
    const s = await status();
    const i = s.services.find((x) => x.name === 'api')!.instances[0]!;
    return i.state === 'running' && i.pid !== api.pid ? s : undefined;
  });
  const afterKill = await settled();
  const killVersions: ConfigVersionRecord[] = afterKill.config.history!.filter((h) => h.version > afterBack.config.version);
  t.diagnostic(`kill api: ${killVersions.map((h) => `v${h.version} ${h.reason}`).reverse().join(' | ')}`);
  assert.equal(killVersions.length, 2, JSON.stringify(killVersions));
  assert.match(killVersions[1]!.reason, /^endpoints: api −api-0 \((backoff|stopped|starting)\)$/);
  assert.equal(killVersions[0]!.reason, 'endpoints: api +api-0');
  assert.ok(back.config.version <= afterKill.config.version);
  // devmesh status --json carries the history too.
  const json = JSON.parse(mesh.cli(['status', '--json']).stdout) as StatusResponse;
  assert.equal(json.config.history![0]!.version, afterKill.config.version);
  assert.match(mesh.cli(['status']).stdout, new RegExp(`^mesh versions {2}config v${afterKill.config.version} {2}\\(endpoints: api \\+api-0\\)$`, 'm'));
});
