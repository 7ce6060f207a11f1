// Outlier detection with Envoy's semantics through a real client sidecar to apps on loopback (a plaintext
// cluster: the endpoints are the apps): the ejection time grows with the multiplier on repeated
// ejections and shrinks back after intervals spent healthy; maxEjectionPercent caps ejections;
// below minHealthPercent healthy endpoints, ejected endpoints take traffic again.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OutlierDetectionPolicy, SidecarConfig, SidecarMessage, SpanRecord } from '../../proxy/protocol/index.js';
import { clientConfig, cluster, endpoint, httpClient, route, SidecarProcess, startApp, tempHome, TestMesh, type TestApp, type TestContext } from './helpers.js';

const ejectionMs = (s: SpanRecord, instance: string): number | null => {
  const m = new RegExp(`ejected ${instance} for (\\d+) ms`).exec(String(s.attributes.events ?? ''));
  return m ? Number(m[1]) : null;
};

describe('outlier detection', () => {
  const mesh = new TestMesh(tempHome({ after }));

  async function setup(t: TestContext, apps: TestApp[], od: OutlierDetectionPolicy) {
    const client = SidecarProcess.start(t, mesh.home);
    const c = cluster('srv', apps.map((a, i) => endpoint('srv', 'v1', a.port, i)), false);
    c.policy = { outlierDetection: od };
    const config: SidecarConfig = clientConfig({
      tls: mesh.tls('caller'),
      service: 'caller',
      outbound: [{ service: 'srv', port: 0, routes: [route({ destinations: [{ service: 'srv', weight: 100 }] })] }],
      clusters: [c],
    });
    const ports = await client.apply(config);
    const get = httpClient(t);
    return { client, config, call: () => get(`http://127.0.0.1:${ports.outbound.srv!}/`) };
  }

  const flaky = (t: TestContext, state: { failing: boolean }) => startApp(t, (_req, res) => res.writeHead(state.failing ? 500 : 200).end());

  it('grows the ejection time on repeated ejections and shrinks it after healthy intervals', async (t) => {
    const bad = { failing: true };
    const a = await flaky(t, bad);
    const b = await flaky(t, { failing: false });
    const intervalMs = 2_000;
    const { client, call } = await setup(t, [a, b], {
      consecutive5xxErrors: 1,
      consecutiveGatewayErrors: 0,
      intervalMs,
      baseEjectionTimeMs: 100,
      maxEjectionPercent: 50,
      minHealthPercent: 0,
    });
    const ejections = async (count: number): Promise<number[]> => {
      // Requests until the bad endpoint has been ejected `count` times in all (bounded).
      for (let i = 0; i < 2_000; i++) {
        await call();
        const found = client.spans.map((s) => ejectionMs(s, 'srv-v1-0')).filter((x): x is number => x !== null);
        if (found.length >= count) return found;
        await new Promise((r) => setTimeout(r, 5));
      }
      const spans = await client.waitForSpans((s) => ejectionMs(s, 'srv-v1-0') !== null, count, 10_000);
      return spans.map((s) => ejectionMs(s, 'srv-v1-0')!);
    };
    // Back in service after each ejection, it fails at once (well within one interval): the multiplier grows.
    assert.deepEqual(await ejections(3), [100, 200, 300]);
    // Healthy for more than two intervals after its last ejection ends: the multiplier falls by two or more.
    bad.failing = false;
    const multiplier = async (id: number): Promise<number | undefined> => {
      client.send({ type: 'endpointHealth', id });
      const reply = await client.waitFor(
        () => client.messages.find((m): m is Extract<SidecarMessage, { type: 'endpointHealth' }> => m.type === 'endpointHealth' && m.id === id),
        5_000,
        'endpoint health',
      );
      return reply.sets[0]?.endpoints.find((e) => e.instanceId === 'srv-v1-0')?.ejections;
    };
    assert.equal(await multiplier(1), 3, 'explain shows the multiplier the ejections built up');
    await new Promise((r) => setTimeout(r, 300 + 2 * intervalMs + 1_000));
    // Reading health applies the same decay the next ejection will, without changing it.
    const shown = await multiplier(2);
    assert.ok(shown !== undefined && shown <= 1, `explain shows the decayed multiplier, got ${shown}`);
    bad.failing = true;
    const after = await ejections(4);
    assert.ok(after[3]! <= 200, `ejection after healthy intervals lasts ${after[3]} ms, expected at most 200`);
  });

  it('never ejects past maxEjectionPercent (one endpoint always can be)', async (t) => {
    const apps = await Promise.all([0, 1, 2, 3].map(() => flaky(t, { failing: true })));
    const { client, call } = await setup(t, apps, {
      consecutive5xxErrors: 1,
      consecutiveGatewayErrors: 0,
      intervalMs: 10_000,
      baseEjectionTimeMs: 60_000,
      maxEjectionPercent: 50,
      minHealthPercent: 0,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await call()).status);
    const events = await client.waitForSpans((s) => /ejected/.test(String(s.attributes.events ?? '')), 2);
    await new Promise((r) => setTimeout(r, 500)); // the last spans are flushed
    const ejected = client.spans.filter((s) => /ejected/.test(String(s.attributes.events ?? '')));
    assert.equal(ejected.length, 2, `two of four endpoints ejected at 50%: ${events.map((s) => s.attributes.events).join(' | ')}`);
    assert.ok(statuses.slice(-10).every((s) => s === 500), 'the two left keep serving (their own 500s), never no-healthy-endpoints');
    const seen = apps.map((a) => a.seen.length);
    assert.equal(seen.filter((n) => n > 5).length, 2, `traffic went on to the two not ejected: ${seen.join(',')}`);
  });

  it('below minHealthPercent healthy endpoints, outlier detection steps aside and ejected endpoints take traffic', async (t) => {
    const a = await flaky(t, { failing: true });
    const b = await flaky(t, { failing: false });
    const od: OutlierDetectionPolicy = {
      consecutive5xxErrors: 1,
      consecutiveGatewayErrors: 0,
      intervalMs: 10_000,
      baseEjectionTimeMs: 60_000,
      maxEjectionPercent: 100,
      minHealthPercent: 0,
    };
    const { client, config, call } = await setup(t, [a, b], od);
    for (let i = 0; i < 4; i++) await call();
    await client.waitForSpans((s) => ejectionMs(s, 'srv-v1-0') === 60_000);
    const before = a.seen.length;
    for (let i = 0; i < 20; i++) assert.equal((await call()).status, 200);
    assert.equal(a.seen.length, before, 'ejected: no traffic while half the endpoints are healthy and minHealthPercent is 0');
    // 50% healthy is below 60%: the ejection stays (a push forgives nothing) but the balancer ignores it.
    const next = structuredClone(config);
    next.clusters[0]!.policy = { outlierDetection: { ...od, minHealthPercent: 60 } };
    await client.apply(next);
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await call()).status);
    assert.ok(a.seen.length > before, 'the ejected endpoint takes traffic again');
    assert.ok(statuses.includes(500) && statuses.includes(200));
  });
});
