// Issue 11 (3) and (6): STRICT refuses a client certificate from another trust domain (even one signed by
// the mesh CA); secrets in query strings never reach the trace store; sidecar crashes are counted in
// `devmesh status --json`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceStatus, Span, StatusResponse, TraceSummary } from '../../src/contract/api.js';
import { normalRequest, probeId, rawExchange, sidecarsSurvive, startAdversarialMesh, waitFor, type AdversarialMesh } from './adversarial-mesh.js';

let adv: AdversarialMesh;
before(async () => {
  adv = await startAdversarialMesh();
});
after(() => adv?.mesh.stop());

test('STRICT: a client certificate for the right service from another trust domain is refused', async () => {
  const id = probeId('td');
  const leaf = adv.ca.issue({ commonName: 'front', uris: ['spiffe://other.example/ns/default/sa/front'] });
  const foreign = { ...adv.inbound, tls: { ca: adv.ca.rootPem, cert: leaf.certPem, key: leaf.keyPem } };
  const r = await sidecarsSurvive(adv, () => rawExchange(foreign, `GET /probe-${id} HTTP/1.1\r\nHost: back\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 }));
  const status = r.responses[0]?.status;
  assert.ok(status === undefined || status === 403, `refused at the handshake or with 403, got ${status}: ${r.raw.toString('latin1').slice(0, 200)}`);
  if (status === 403) assert.equal(r.responses[0]!.headers.find(([n]) => n.toLowerCase() === 'x-devmesh-error')?.[1], 'denied');
  assert.deepEqual(adv.requests('back-0').filter((l) => l.includes(id)), [], 'the app never sees the request');
  // The same client with this mesh's trust domain is let in: the refusal is about the domain.
  const ok = await normalRequest(adv.inbound, `/probe-${id}-ok`);
  assert.equal(ok.responses[0]?.status, 200);
});

test('secrets in query strings are not stored in spans as sent', async () => {
  const id = probeId('qs');
  const secrets = ['tok-SEKRET-1', 'key-SEKRET-2', 'acc-SEKRET-3', 'pw-SEKRET-4'];
  const path = `/qs-${id}?token=${secrets[0]}&api_key=${secrets[1]}&access_token=${secrets[2]}&password=${secrets[3]}&page=2`;
  const r = await normalRequest(adv.ingress, path);
  assert.equal(r.responses[0]?.status, 200);
  const summary = await waitFor('the trace of the request', async () => {
    const { traces } = await adv.mesh.api<{ traces: TraceSummary[] }>('/api/traces?limit=100');
    return traces.find((t) => t.path.includes(`qs-${id}`));
  });
  const trace = await waitFor('its ingress and front spans', async () => {
    const t = await adv.mesh.api<{ spans: Span[] }>(`/api/traces/${summary.traceId}`);
    return t.spans.length >= 2 ? t : undefined;
  });
  const stored = JSON.stringify({ summary, spans: trace.spans });
  for (const s of secrets) assert.ok(!stored.includes(s), `${s} is stored: ${stored.slice(0, 600)}`);
  assert.ok(stored.includes('page=2'), 'other query parameters are kept');
});

function sidecarRestarts(i: InstanceStatus): number {
  // The count may land on the sidecar's own status or the instance's; either way `status` must show it.
  const own = (i.sidecar as { restarts?: number }).restarts;
  return Math.max(own ?? 0, i.restarts);
}

test('sidecar crashes are counted: kill -9 three times, `devmesh status --json` reports 3 restarts', async () => {
  const instance = async (): Promise<InstanceStatus> => (await adv.status()).services.find((s) => s.name === 'back')!.instances[0]!;
  for (let k = 0; k < 3; k++) {
    const before = await instance();
    assert.ok(before.sidecar.pid);
    process.kill(before.sidecar.pid, 'SIGKILL');
    await waitFor(`back-0's sidecar back after kill ${k + 1}`, async () => {
      const i = await instance();
      return i.sidecar.pid !== null && i.sidecar.pid !== before.sidecar.pid && i.sidecar.ackedVersion > 0 ? i : undefined;
    });
  }
  const cli = adv.mesh.cli(['status', '--json']);
  assert.equal(cli.status, 0, cli.stderr);
  const s = JSON.parse(cli.stdout) as StatusResponse;
  const back = s.services.find((x) => x.name === 'back')!.instances[0]!;
  assert.ok(sidecarRestarts(back) >= 3, `status --json after 3 sidecar crashes: ${JSON.stringify(back)}`);
  const served = await waitFor('back to serve through its new sidecar', async () => {
    const r = await normalRequest(adv.outbound, '/after-crashes');
    return r.responses[0]?.status === 200 ? r : undefined;
  });
  assert.equal(served.responses[0]?.status, 200);
});
