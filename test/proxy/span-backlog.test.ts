// A control plane that stops reading its IPC channel (stalled, or far behind) must not make a sidecar hold
// every span in memory: past MAX_UNWRITTEN_BYTES waiting, batches are dropped and counted, requests are
// answered as before, and spans flow again once the control plane reads. The stall is real: this test
// process is the sidecar's parent, and it blocks its own event loop (spawnSync of the load generator), so
// it reads nothing from the channel while the load runs.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { SidecarMessage } from '../../proxy/protocol/index.js';
import { MAX_UNWRITTEN_BYTES } from '../../proxy/tracing/span-exporter.js';
import { clientConfig, httpClient, route, SidecarProcess, tempHome, TestMesh } from './helpers.js';

/** Requests the load generator sends, each with a header this big: about 11 MB of spans in all. */
const REQUESTS = 896; // a multiple of the 8 in flight
const HEADER_BYTES = 12_000;

describe('span backlog', () => {
  const mesh = new TestMesh(tempHome({ after }));

  it('drops and counts spans past the bound while the control plane does not read, answering every request', async (t) => {
    const sidecar = SidecarProcess.start(t, mesh.home);
    const routes = [route({ name: 'ok', destinations: [], directResponse: { status: 200, body: 'ok' } })];
    const ports = await sidecar.apply(clientConfig({ tls: mesh.tls('web'), service: 'web', outbound: [{ service: 'shop', port: 0, routes }], clusters: [] }));
    const base = `http://127.0.0.1:${ports.outbound.shop!}`;

    // The load runs in another process while this one (the sidecar's parent) is blocked in spawnSync.
    const load = spawnSync(
      process.execPath,
      [
        '-e',
        `const http = require('node:http');
         const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
         const big = 'v'.repeat(${HEADER_BYTES});
         let ok = 0, done = 0;
         const one = (i) => new Promise((resolve) => {
           const req = http.get('${base}/load/' + i, { agent, headers: { 'x-big': big } }, (res) => {
             res.resume();
             res.on('end', () => { if (res.statusCode === 200) ok++; resolve(); });
           });
           req.on('error', () => resolve());
         });
         (async () => {
           for (let i = 0; i < ${REQUESTS}; i += 8) await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((k) => one(i + k)));
           // Past the exporter's flush interval, so the last batch has been sent (or dropped) too.
           await new Promise((r) => setTimeout(r, 400));
           console.log(JSON.stringify({ ok }));
           agent.destroy();
         })();`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(load.status, 0, load.stderr);
    assert.deepEqual(JSON.parse(load.stdout), { ok: REQUESTS }, 'every request answered while the control plane was stalled');

    // The control plane reads again: what was kept arrives, and the sidecar says what it dropped.
    const received = () => sidecar.spans.filter((s) => s.path.startsWith('/load/')).length;
    await sidecar.waitFor(() => (sidecar.stderr.includes('dropping spans') ? true : undefined), 10_000, 'the drop to be logged');
    const get = httpClient(t);
    assert.equal((await get(`${base}/after`)).status, 200);
    await sidecar.waitForSpans((s) => s.path === '/after', 1, 10_000);
    // The log line travels on stderr, a pipe apart from the IPC channel the span came on: wait for it too.
    const resumed = /sending spans again: \d+ were dropped while the control plane was not reading/;
    await sidecar.waitFor(() => (resumed.test(sidecar.stderr) ? true : undefined), 10_000, 'the resumption to be logged');
    assert.match(sidecar.stderr, /dropping spans: \d+\.\d MB of them wait unread by the control plane/);

    sidecar.send({ type: 'scrape', id: 1 });
    const metrics = await sidecar.waitFor(
      () => sidecar.messages.find((m): m is Extract<SidecarMessage, { type: 'metrics' }> => m.type === 'metrics' && m.id === 1),
      5_000,
      'metrics',
    );
    const dropped = Number(/^devmesh_spans_dropped_total (\d+)$/m.exec(metrics.text)?.[1]);
    const kept = received();
    t.diagnostic(`kept ${kept} spans, dropped ${dropped}`);
    assert.ok(dropped > 0, `some spans were dropped (${dropped})`);
    assert.equal(kept + dropped, REQUESTS, `every span was either delivered (${kept}) or counted as dropped (${dropped})`);
    // What waited stayed within the bound (plus the batch that crossed it).
    const spanBytes = HEADER_BYTES + 300;
    assert.ok(kept * spanBytes <= MAX_UNWRITTEN_BYTES + 2 * 1024 * 1024, `${kept} spans of ~${spanBytes} bytes kept, bound ${MAX_UNWRITTEN_BYTES}`);
  });
});
