// The trace inspector shows what happened (issue 15), in headless Chromium against a real mesh
// (test/helpers/trace-truth-mesh.ts): a TCP connection that succeeded is listed as OK with its client and
// server spans in one waterfall; a gRPC call that failed with UNAVAILABLE is listed and drawn as
// UNAVAILABLE (not 200), and the topology's success rate for it is 0%; child bars lie within their parents'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TapResponse, TraceListResponse } from '../../src/contract/api.js';
import { startMesh, waitFor } from '../helpers/mesh-process.js';
import { TRACE_TRUTH_FILES, TRACE_TRUTH_MESH } from '../helpers/trace-truth-mesh.js';
import { openBrowserPage, NO_CHROMIUM } from './ui-browser.js';

test('trace inspector: a tcp connection OK in one trace, a gRPC UNAVAILABLE shown as such, children within parents', { skip: NO_CHROMIUM, timeout: 150_000 }, async (t) => {
  const mesh = await startMesh({ yaml: TRACE_TRUTH_MESH, files: TRACE_TRUTH_FILES, readyTimeoutMs: 60_000 });
  t.after(() => mesh.stop());
  const front = mesh.ingress['front']!;
  assert.equal(await (await fetch(`${front}/tcp`)).text(), 'ping');
  assert.equal(await (await fetch(`${front}/grpc`)).text(), 'grpc 14');
  for (let i = 0; i < 3; i++) assert.equal((await fetch(`${front}/chain`)).status, 200);
  const tcpTrace = await waitFor('the tcp trace with both spans', async () => {
    const r = await mesh.api<TraceListResponse>('/api/traces?service=db');
    return r.traces.find((x) => x.method === 'TCP' && x.spanCount === 2)?.traceId;
  }, 30_000);
  const grpcTrace = await waitFor('the grpc trace', async () => (await mesh.api<TraceListResponse>('/api/traces?service=echo')).traces[0]?.traceId, 30_000);

  const { page, pageErrors, shot } = await openBrowserPage(t);
  await page.goto(mesh.uiUrl);
  await page.locator('[data-testid=nav-traces]').click();

  // The list: the connection's outcome, the call's gRPC status.
  const tcpRow = page.locator(`[data-testid=trace-row][data-trace-id="${tcpTrace}"]`);
  const grpcRow = page.locator(`[data-testid=trace-row][data-trace-id="${grpcTrace}"]`);
  await tcpRow.waitFor();
  await grpcRow.waitFor();
  assert.equal((await tcpRow.locator('[data-testid=trace-status]').innerText()).trim(), 'OK');
  assert.match((await tcpRow.locator('[data-testid=trace-status]').getAttribute('class')) ?? '', /status-ok/);
  assert.match(await grpcRow.locator('[data-testid=trace-status]').innerText(), /^UNAVAILABLE/);
  assert.match((await grpcRow.locator('[data-testid=trace-status]').getAttribute('class')) ?? '', /status-error/);
  assert.match((await grpcRow.locator('[data-testid=trace-status]').getAttribute('title')) ?? '', /gRPC status 14 UNAVAILABLE \(HTTP 200\)/);
  await shot('trace-truth-list');

  // The connection's waterfall: the client span (front's sidecar) and the server span (db's) in one trace, neither failed.
  await tcpRow.click();
  const tcpWaterfall = page.locator(`[data-testid=waterfall][data-trace-id="${tcpTrace}"]`);
  await tcpWaterfall.waitFor();
  const tcpSpans = tcpWaterfall.locator('[data-testid=span-row]');
  await waitFor('both tcp spans drawn', async () => (await tcpSpans.count()) === 2, 10_000);
  assert.deepEqual(await tcpWaterfall.locator('[data-testid=span-status]').allInnerTexts(), ['OK', 'OK']);
  assert.equal(await tcpWaterfall.locator('[data-testid=span-row].failed').count(), 0);
  assert.deepEqual((await tcpSpans.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-service')))).sort(), ['db', 'front']);

  // The call's waterfall: every span UNAVAILABLE and failed.
  await grpcRow.click();
  const grpcWaterfall = page.locator(`[data-testid=waterfall][data-trace-id="${grpcTrace}"]`);
  await grpcWaterfall.waitFor();
  await waitFor('the call and its three tries', async () => (await grpcWaterfall.locator('[data-testid=span-row]').count()) === 4, 10_000);
  const statuses = await grpcWaterfall.locator('[data-testid=span-status]').allInnerTexts();
  assert.deepEqual(statuses.map((s) => s.trim()), ['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
  assert.equal(await grpcWaterfall.locator('[data-testid=span-row].failed').count(), 4);
  await shot('trace-truth-grpc');

  // A chain through back: each child's bar lies within its parent's.
  const chain = (await mesh.api<TraceListResponse>('/api/traces?service=back')).traces[0]!.traceId;
  await page.goto(`${mesh.apiBase}/#/traces?trace=${chain}`);
  const chainWaterfall = page.locator(`[data-testid=waterfall][data-trace-id="${chain}"]`);
  await chainWaterfall.waitFor();
  await waitFor('the chain drawn', async () => (await chainWaterfall.locator('[data-testid=span-row][data-service=back]').count()) === 3, 10_000);
  const bars = await chainWaterfall.locator('[data-testid=span-row]').evaluateAll((rows) =>
    rows.map((r) => {
      const bar = r.querySelector('.bar')!.getBoundingClientRect();
      return { id: r.getAttribute('data-span-id')!, left: bar.left, right: bar.right };
    }),
  );
  const { spans } = await mesh.api<{ spans: { spanId: string; parentSpanId: string | null }[] }>(`/api/traces/${chain}`);
  const barOf = new Map(bars.map((b) => [b.id, b]));
  let nested = 0;
  for (const s of spans) {
    const child = barOf.get(s.spanId);
    const parent = s.parentSpanId === null ? undefined : barOf.get(s.parentSpanId);
    if (child === undefined || parent === undefined) continue;
    // A bar is at least 0.4% wide however short its span: a sub-pixel overhang of that minimum is allowed.
    assert.ok(child.left >= parent.left - 0.5 && (child.right <= parent.right + 0.5 || child.right - child.left <= 6), `span ${s.spanId} drawn outside its parent: ${JSON.stringify({ child, parent })}`);
    nested++;
  }
  assert.ok(nested >= 6, `${nested} child bars checked`);

  // Tap: the same call live, by its gRPC status (the API's event carries it; the row shows it, not 200).
  const tapped = await mesh.api<TapResponse>('/api/tap?service=echo&afterSeq=0');
  assert.ok(tapped.events.some((e) => e.grpcStatus === 14 && e.status === 200), JSON.stringify(tapped.events.map((e) => [e.status, e.grpcStatus])));
  await page.goto(`${mesh.apiBase}/#/tap?service=echo`);
  await page.locator('[data-testid=tap]').waitFor();
  const tapStatus = page.locator('[data-testid=tap-row] [data-testid=tap-status]');
  await waitFor('a live gRPC call in the tap', async () => {
    assert.equal(await (await fetch(`${front}/grpc`)).text(), 'grpc 14');
    return (await tapStatus.count()) > 0 || undefined;
  }, 15_000);
  assert.ok((await tapStatus.allInnerTexts()).every((text) => text.trim() === 'UNAVAILABLE'), (await tapStatus.allInnerTexts()).join(', '));
  assert.match((await tapStatus.first().getAttribute('title')) ?? '', /gRPC status 14 UNAVAILABLE \(HTTP 200\)/);
  assert.deepEqual(pageErrors, []);
});
