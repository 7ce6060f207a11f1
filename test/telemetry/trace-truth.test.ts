// What the trace store says about a real mesh is what happened (issue 15): a TCP connection that
// succeeded is one trace with its client and server spans and no error; a gRPC call that failed with
// UNAVAILABLE is a failure with rpc.grpc.status_code 14 although HTTP said 200 (and so are the golden
// metrics and Istio's grpc_response_status); span starts keep their microseconds from the sidecar to the
// API, so no child span ends after its parent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Span, TopologyResponse, TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { startMesh, waitFor } from '../helpers/mesh-process.js';
import { TRACE_TRUTH_FILES, TRACE_TRUTH_MESH } from '../helpers/trace-truth-mesh.js';

test('a real mesh: tcp connections as one successful trace, gRPC UNAVAILABLE as a failure, children within their parents', { timeout: 150_000 }, async (t) => {
  const mesh = await startMesh({ yaml: TRACE_TRUTH_MESH, files: TRACE_TRUTH_FILES, readyTimeoutMs: 60_000 });
  t.after(() => mesh.stop());
  const front = mesh.ingress['front']!;
  for (let i = 0; i < 3; i++) {
    assert.equal(await (await fetch(`${front}/tcp`)).text(), 'ping', 'the app\'s bytes went through unchanged');
    assert.equal(await (await fetch(`${front}/grpc`)).text(), 'grpc 14');
  }
  for (let i = 0; i < 10; i++) assert.equal((await fetch(`${front}/chain`)).status, 200);

  await t.test('a tcp connection: one trace, client and server span, no error', async () => {
    const traces = await waitFor('tcp traces with both spans', async () => {
      const r = await mesh.api<TraceListResponse>('/api/traces?service=db&limit=50');
      const tcp = r.traces.filter((x) => x.method === 'TCP');
      return tcp.length >= 3 && tcp.every((x) => x.spanCount === 2) ? tcp : undefined;
    }, 30_000);
    for (const summary of traces) {
      assert.equal(summary.errorCount, 0);
      assert.equal(summary.rootService, 'db');
      const { spans } = await mesh.api<TraceDetailResponse>(`/api/traces/${summary.traceId}`);
      const client = spans.find((s) => s.kind === 'client')!;
      const server = spans.find((s) => s.kind === 'server')!;
      assert.deepEqual([client.service, server.service, server.parentSpanId], ['front', 'db', client.spanId]);
      assert.deepEqual([client.error, server.error, client.status, server.status], [null, null, 0, 0]);
      assert.equal(server.attributes['bytes.in'], 4);
    }
  });

  await t.test('a gRPC call that failed with UNAVAILABLE: status 14 and an error, in the list, the spans and the metrics', async () => {
    const failed = await waitFor('grpc traces', async () => {
      const r = await mesh.api<TraceListResponse>('/api/traces?service=echo&status=error&limit=50');
      return r.traces.length >= 3 ? r.traces : undefined;
    }, 30_000);
    for (const summary of failed) {
      assert.deepEqual([summary.status, summary.grpcStatus], [200, 14], 'HTTP said 200; the call failed');
      const { spans } = await mesh.api<TraceDetailResponse>(`/api/traces/${summary.traceId}`);
      const client = spans.find((s) => s.kind === 'client')!;
      assert.equal(client.attributes['rpc.grpc.status_code'], 14);
      assert.equal(client.error, 'grpc-unavailable');
      assert.equal(client.attempts, 3, 'retried twice on unavailable (Istio\'s default), then given up');
      const servers = spans.filter((s) => s.kind === 'server');
      assert.equal(servers.length, 3);
      assert.ok(servers.every((s) => s.error === 'grpc-unavailable' && s.attributes['rpc.grpc.status_code'] === 14));
    }
    assert.equal((await mesh.api<TraceListResponse>('/api/traces?service=echo&status=ok&limit=50')).traces.length, 0);
    // The golden metrics are computed from the same spans: front → echo never succeeded, front → db always did.
    const { edges } = await mesh.api<TopologyResponse>('/api/topology?windowMs=300000');
    const edge = (target: string) => edges.find((e) => e.source === 'front' && e.target === target);
    assert.deepEqual([edge('echo')?.successRate, edge('db')?.successRate], [0, 1], JSON.stringify(edges));
    const metrics = await (await fetch(`${mesh.apiBase}/metrics`, { headers: { authorization: `Bearer ${mesh.token}` } })).text();
    // Istio's counter agrees: echo's sidecar counted each of the 9 tries as grpc_response_status 14.
    const echoFailures = metrics
      .split('\n')
      .filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"') && l.includes('destination_workload="echo"') && l.includes('grpc_response_status="14"'));
    assert.equal(echoFailures.reduce((n, l) => n + Number(l.split(' ').at(-1)), 0), 9, metrics.split('\n').filter((l) => l.includes('echo')).join('\n'));
  });

  await t.test('start times keep their microseconds: no child span ends after its parent, none starts before it', async () => {
    // Each /chain: ingress → front, and three front → back calls: 8 spans, every one reported.
    const r = await waitFor('the chains with all their spans', async () => {
      const list = await mesh.api<TraceListResponse>('/api/traces?service=back&limit=50');
      return list.traces.length >= 10 && list.traces.every((x) => x.spanCount === 8) ? list : undefined;
    }, 30_000);
    const spans: Span[] = [];
    for (const summary of r.traces) spans.push(...(await mesh.api<TraceDetailResponse>(`/api/traces/${summary.traceId}`)).spans);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const pairs = spans.filter((s) => s.parentSpanId !== null && byId.has(s.parentSpanId));
    assert.ok(pairs.length >= 60, `${pairs.length} parent/child pairs`);
    const outside = pairs.filter((c) => {
      const p = byId.get(c.parentSpanId!)!;
      return c.startMs < p.startMs || c.startMs + c.durationMs > p.startMs + p.durationMs;
    });
    const show = (s: Span) => `${s.kind} ${s.service} ${s.instanceId} ${s.path} ${s.startMs}+${s.durationMs.toFixed(3)}`;
    assert.deepEqual(outside.map((c) => `${show(c)} in ${show(byId.get(c.parentSpanId!)!)}`), [], `of ${pairs.length}`);
    const fractional = spans.filter((s) => !Number.isInteger(s.startMs)).length;
    assert.ok(fractional > spans.length * 0.9, `${fractional} of ${spans.length} starts have a fraction of a millisecond`);
  });
});
