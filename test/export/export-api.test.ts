// POST /api/export on the real API server (loopback HTTP, token) over a copy of the Bookinfo demo's files:
// every format, Consul's two forms, a request the schema refuses (400), and a mesh file that does not load (409).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiServer } from '../../src/api/api-server.js';
import { importApiHandlers } from '../../src/api/import-api-handlers.js';
import { API, EXPORT_FORMATS, type ExportResponse, type StatusResponse } from '../../src/contract/api.js';
import { REPO } from '../helpers/mesh-process.js';

test('POST /api/export: every format, Consul as HCL files or CRDs, located notes; bad requests are 400, a broken mesh file 409', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-export-api-'));
  cpSync(join(REPO, 'fixtures', 'bookinfo'), dir, { recursive: true });
  // The export handler is the thing under test; the status and trace handlers are never called here.
  const server = new ApiServer('t0ken', { status: () => ({}) as StatusResponse, listTraces: () => ({ traces: [], total: 0 }), getTrace: () => null, ...importApiHandlers(join(dir, 'devmesh.yaml')) });
  const port = await server.listen(0);
  t.after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const post = async (body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}${API.exportPolicy}`, { method: 'POST', headers: { authorization: 'Bearer t0ken', 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    return { status: res.status, body: (await res.json()) as ExportResponse & { code?: string; error?: string } };
  };
  const kinds: Record<string, RegExp> = { istio: /kind: VirtualService/, 'gateway-api': /kind: HTTPRoute/, linkerd: /apiVersion: policy\.linkerd\.io\/v1beta3\nkind: HTTPRoute/, consul: /Kind = "service-splitter"/ };
  for (const to of EXPORT_FORMATS) {
    const r = await post({ to });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(r.body.text, kinds[to]!);
  }
  const hcl = await post({ to: 'consul', format: 'hcl' });
  assert.deepEqual(hcl.body.files?.map((f) => f.name).sort(), ['proxy-defaults-global.hcl', 'service-defaults-reviews.hcl', 'service-resolver-reviews.hcl', 'service-router-reviews.hcl', 'service-splitter-reviews.hcl']);
  assert.deepEqual(hcl.body.notes, ['routes.reviews[1] (split): Consul has no per-try timeout; perTryTimeout 1s left out']);
  const crd = await post({ to: 'consul', format: 'crd' });
  assert.equal(crd.body.files, null);
  assert.match(crd.body.text, /apiVersion: consul\.hashicorp\.com\/v1alpha1\nkind: ServiceRouter/);
  const linkerd = await post({ to: 'linkerd' });
  assert.ok(linkerd.body.notes.some((n) => n.startsWith('routes.reviews[1] (split): retry conditions: connect-failure')), linkerd.body.notes.join('\n'));

  for (const bad of [{ to: 'nginx' }, { to: 'linkerd', format: 'crd' }, { to: 'consul', format: 'json' }, {}]) {
    const r = await post(bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
  writeFileSync(join(dir, 'devmesh.yaml'), 'name: broken\nservices: {}\n');
  const broken = await post({ to: 'istio' });
  assert.equal(broken.status, 409);
  assert.equal(broken.body.code, 'MESH_INVALID');
});
