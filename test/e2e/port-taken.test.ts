// A port the control plane picked for a sidecar can be taken before the sidecar binds it: by another
// program, or by any outgoing connection the kernel hands it to. The sidecar NACKs its first config; the
// control plane gives that listener another port, and the app, started after, is told the new one. (The
// sidecars here take the race for real: DEVMESH_SIDECAR_TEST_FAULT=port-taken-once makes another listener
// bind their first outbound port just before they do; proxy/last-resort.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMesh } from '../helpers/mesh-process.js';

const APP = `const http = require('node:http');
const next = process.env.NEXT ? process.env[process.env.NEXT] : null;
http.createServer(async (req, res) => {
  let tail = '';
  try {
    if (next) tail = ' > ' + (await (await fetch(next + '/')).text());
  } catch (err) {
    res.statusCode = 502;
    tail = ' > ' + next + ' failed: ' + (err.cause?.code ?? err.message);
  }
  res.end(process.env.DEVMESH_SERVICE + tail);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

test('a picked port taken before its sidecar binds it: the listener gets another, the app is told it, the mesh starts and serves', async (t) => {
  const mesh = await startMesh({
    yaml: `name: taken
ingress:
  - { port: 0, service: front }
services:
  front:
    run: node app.js
    upstreams: [middle]
    env: { NEXT: MIDDLE_URL }
  middle:
    run: node app.js
    upstreams: [back]
    env: { NEXT: BACK_URL }
  back:
    run: node app.js
`,
    files: { 'app.js': APP },
    env: { DEVMESH_SIDECAR_TEST_FAULT: 'port-taken-once' },
  });
  t.after(() => mesh.stop());
  const res = await fetch(`${mesh.ingress.front}/`);
  const body = await res.text();
  const said = `${res.status} ${body} (${res.headers.get('x-devmesh-error') ?? 'no x-devmesh-error'})\n${mesh.stdout().slice(-4000)}`;
  assert.equal(res.status, 200, said);
  assert.equal(body, 'front > middle > back', `each app reaches its upstream through the port its sidecar really listens on: ${said}`);
  const moved = mesh.stdout().match(/port \d+ was taken before its sidecar could bind it; trying \d+/g) ?? [];
  assert.ok(moved.length >= 1, `the move is said:\n${mesh.stdout()}`);
});
