// Istio's own Bookinfo rules imported onto the running demo mesh: `devmesh import` writes the policy
// file, the running mesh picks it up through its normal config push, and real requests through the
// ingress show the routing (and, with the data plane's fault injection, the ratings faults).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ImportApplyResponse, ImportPreviewResponse, StatusResponse } from '../../src/contract/api.js';
import { REPO, startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { fixture } from '../import/helpers.js';

let mesh: RunningMesh;

before(async () => {
  mesh = await startMesh({ fromFolder: join(REPO, 'fixtures', 'bookinfo'), transform: (y) => y.replace(/port: 9080\b/, 'port: 0') });
});
after(() => mesh?.stop());

interface Product {
  status: number;
  version: string;
  /** What productpage got from reviews, for the failure message. */
  reviews: string;
  ratingError: string | null;
  ms: number;
}

async function product(headers: Record<string, string> = {}): Promise<Product> {
  const started = Date.now();
  const res = await fetch(`${mesh.ingress.productpage}/api/v1/products/0`, { headers });
  const body = (await res.json()) as { reviews?: { version?: string; reviews?: { rating?: { error?: string } }[] } };
  return {
    status: res.status,
    version: body.reviews?.version ?? '?',
    reviews: JSON.stringify(body.reviews ?? null).slice(0, 300),
    ratingError: body.reviews?.reviews?.[0]?.rating?.error ?? null,
    ms: Date.now() - started,
  };
}

/** Imports, then waits until every sidecar acknowledged the pushed version. */
async function importAndWait(paths: string[]): Promise<void> {
  const before = (await mesh.api<StatusResponse>('/api/status')).config.version;
  const r = mesh.cli(['import', ...paths]);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  await waitFor('the imported policy to be pushed and acknowledged', async () => {
    const s = await mesh.api<StatusResponse>('/api/status');
    if (s.config.error) throw new Error(s.config.error);
    return s.config.version > before && s.services.every((svc) => svc.instances.every((i) => i.sidecar.ackedVersion >= s.config.version));
  }, 20_000);
}

test('Istio reviews-jason-v2-v3 with destination-rule-all: jason reaches v2, everyone else v3', async () => {
  await importAndWait([fixture('istio/bookinfo-vs-reviews-jason-v2-v3.yaml'), fixture('istio/bookinfo-dr-all.yaml')]);
  for (let i = 0; i < 20; i++) {
    const jason = await product({ 'end-user': 'jason' });
    assert.equal(jason.status, 200);
    assert.equal(jason.version, 'v2', `request ${i} as jason: ${jason.reviews}`);
    const other = await product(i % 2 ? { 'end-user': 'alice' } : {});
    assert.equal(other.version, 'v3', `request ${i} as someone else: ${other.reviews}`);
  }
});

test('Istio reviews-80-20: the split holds within tolerance over 300 requests', async () => {
  await importAndWait([fixture('istio/bookinfo-vs-reviews-80-20.yaml'), fixture('istio/bookinfo-dr-all.yaml')]);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 300; i++) {
    const r = await product();
    assert.equal(r.status, 200);
    counts[r.version] = (counts[r.version] ?? 0) + 1;
  }
  assert.deepEqual(Object.keys(counts).sort(), ['v1', 'v2'], JSON.stringify(counts));
  const v2 = counts.v2! / 300;
  assert.ok(v2 >= 0.12 && v2 <= 0.28, `v2 share ${v2} (${JSON.stringify(counts)}) is not about 20%`);
});

test('Istio ratings-test-abort: jason gets 500 from ratings, others get their stars', async () => {
  await importAndWait([fixture('istio/bookinfo-vs-reviews-jason-v2-v3.yaml'), fixture('istio/bookinfo-vs-ratings-test-abort.yaml'), fixture('istio/bookinfo-dr-all.yaml')]);
  for (let i = 0; i < 5; i++) {
    const jason = await product({ 'end-user': 'jason' });
    assert.equal(jason.version, 'v2');
    assert.equal(jason.ratingError, 'Ratings service is currently unavailable');
    const other = await product();
    assert.equal(other.version, 'v3');
    assert.equal(other.ratingError, null);
  }
});

test('Istio ratings-test-delay: jason waits 7s on ratings (past reviews\' 5s call timeout), others do not', async () => {
  await importAndWait([fixture('istio/bookinfo-vs-reviews-jason-v2-v3.yaml'), fixture('istio/bookinfo-vs-ratings-test-delay.yaml'), fixture('istio/bookinfo-dr-all.yaml')]);
  // As in Istio's Bookinfo fault-injection task: the 7s delay is longer than the callers' own timeouts
  // (5s here), so jason's page fails after waiting, while everyone else is served at once.
  const jason = await product({ 'end-user': 'jason' });
  assert.ok(jason.ms >= 4500, `took ${jason.ms} ms`);
  assert.ok(jason.status !== 200 || jason.ratingError !== null, JSON.stringify(jason));
  const other = await product();
  assert.ok(other.ms < 3000, `took ${other.ms} ms`);
  assert.equal(other.ratingError, null);
});

test('the same import through the control-plane API: preview writes nothing, apply writes and the mesh reloads', async () => {
  const { readFileSync } = await import('node:fs');
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(mesh.apiBase + path, { method: 'POST', headers: { authorization: `Bearer ${mesh.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as T;
  };
  const files = ['istio/bookinfo-vs-reviews-80-20.yaml', 'istio/bookinfo-dr-all.yaml'].map((f) => ({ name: f, text: readFileSync(fixture(f), 'utf8') }));
  const policyFile = join(mesh.dir, 'devmesh.policy.yaml');
  const before = readFileSync(policyFile, 'utf8');
  const preview = await post<ImportPreviewResponse>('/api/import/preview', { files });
  assert.equal(preview.error, null);
  assert.equal(preview.report.counts.invalid, 0);
  // The API serves the report the CLI prints: counts per resource, fieldCounts per report line.
  assert.equal(Object.values(preview.report.counts).reduce((a, b) => a + b, 0), preview.report.documents.length);
  assert.equal(Object.values(preview.report.fieldCounts).reduce((a, b) => a + b, 0), preview.report.entries.length);
  assert.ok(preview.report.counts.mapped > 0 && preview.report.counts.mapped < preview.report.fieldCounts.mapped);
  assert.match(preview.policyText, /weight: 80/);
  assert.equal(readFileSync(policyFile, 'utf8'), before, 'preview writes nothing');
  const version = (await mesh.api<StatusResponse>('/api/status')).config.version;
  const applied = await post<ImportApplyResponse>('/api/import/apply', { files });
  assert.equal(applied.written, policyFile);
  await waitFor('the applied policy to be pushed', async () => (await mesh.api<StatusResponse>('/api/status')).config.version > version, 20_000);
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) seen.add((await product({ 'end-user': 'jason' })).version);
  assert.ok([...seen].every((v) => v === 'v1' || v === 'v2'), [...seen].join(','));
  const bad = await fetch(mesh.apiBase + '/api/import/preview', { method: 'POST', headers: { authorization: `Bearer ${mesh.token}` }, body: JSON.stringify({ files: [] }) });
  assert.equal(bad.status, 400);
});
