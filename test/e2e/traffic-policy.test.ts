// The issue's example mesh end to end: header routing, weighted subsets, and retries masking a flaky upstream.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { ISSUE_ROUTES, SHOP_APPS, shopYaml } from '../helpers/shop-mesh.js';

let mesh: RunningMesh;

before(async () => {
  // catalog v1 fails every third request: the route's retries must hide that from the frontend.
  mesh = await startMesh({ yaml: shopYaml(ISSUE_ROUTES, ', FAIL_EVERY: "3"'), files: SHOP_APPS });
});
after(() => mesh?.stop());

async function get(headers: Record<string, string> = {}): Promise<{ status: number; version: string }> {
  const res = await fetch(`${mesh.ingress.frontend}/items`, { headers });
  const text = await res.text();
  return { status: res.status, version: res.status === 200 ? (JSON.parse(text) as { version: string }).version : text };
}

test('x-user: tester is routed to v2', async () => {
  for (let i = 0; i < 20; i++) assert.deepEqual(await get({ 'x-user': 'tester' }), { status: 200, version: 'v2' });
});

test('a 90/10 split holds within tolerance over 300 requests, and retries mask the flaky v1', async () => {
  const counts: Record<string, number> = {};
  for (let i = 0; i < 300; i++) {
    const r = await get();
    assert.equal(r.status, 200, `request ${i}: ${r.version}`);
    counts[r.version] = (counts[r.version] ?? 0) + 1;
  }
  const v2 = (counts.v2 ?? 0) / 300;
  assert.ok(v2 >= 0.04 && v2 <= 0.18, `v2 share ${v2} (${JSON.stringify(counts)}) is not about 10%`);
});

test('a retried request shows its attempt count in the span', async () => {
  const span = await waitFor('a client span with attempts > 1', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?service=catalog&limit=200');
    for (const t of list.traces) {
      const d = await mesh.api<TraceDetailResponse>(`/api/traces/${t.traceId}`);
      const s = d.spans.find((x) => x.kind === 'client' && x.service === 'frontend' && x.attempts > 1);
      if (s) return s;
    }
    return undefined;
  });
  assert.equal(span.peerService, 'catalog');
  assert.equal(span.status, 200);
  assert.match(String(span.attributes['retry.reasons'] ?? ''), /503|5xx/);
});
