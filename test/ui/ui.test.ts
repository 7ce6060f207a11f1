// The UI end to end: a real `devmesh up`, real requests through its ingress, the real bundle in a
// real Chromium. It checks what a user would look at first: services with running instances, a
// trace arriving live, its waterfall across services, and that the API refuses a missing token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { StatusResponse, TraceListResponse } from '../../src/contract/api.js';
import { REPO, startMesh, waitFor } from '../helpers/mesh-process.js';

const CHROMIUM = '/usr/bin/chromium';

const YAML = `
name: uitest
ingress:
  - { port: 0, service: front }
services:
  front:
    run: node front.js
    upstreams: [back]
    health: /healthz
  back:
    run: node back.js
    health: /healthz
`;

// The apps forward the trace context, as instrumented apps do, so one request is one trace.
const FILES = {
  'front.js': `
const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const headers = {};
  for (const h of ['traceparent', 'tracestate']) if (req.headers[h]) headers[h] = req.headers[h];
  http.get(process.env.BACK_URL + '/data', { headers }, (up) => {
    let body = '';
    up.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => {
      res.writeHead(up.statusCode, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ front: true, back: JSON.parse(body) }));
    });
  }).on('error', (err) => { res.writeHead(502); res.end(String(err)); });
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
  'back.js': `
require('node:http').createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ back: true, path: req.url }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
  // Pinned so the apps stay CommonJS whatever package.json sits above the temporary folder.
  'package.json': '{ "type": "commonjs" }\n',
};

test('the UI shows services, live traces and a cross-service waterfall', { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is not installed` }, async (t) => {
  const mesh = await startMesh({ yaml: YAML, files: FILES });
  t.after(() => mesh.stop());

  await t.test('the API refuses requests without the token', async () => {
    const none = await fetch(`${mesh.apiBase}/api/status`);
    assert.equal(none.status, 401);
    const wrong = await fetch(`${mesh.apiBase}/api/status`, { headers: { authorization: 'Bearer not-the-token' } });
    assert.equal(wrong.status, 401);
    const status = await mesh.api<StatusResponse>('/api/status');
    assert.equal(status.mesh, 'uitest');
  });

  const front = mesh.ingress['front'];
  assert.ok(front, `no ingress URL for front in:\n${mesh.stdout()}`);
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${front}/hello/${i}`);
    assert.equal(res.status, 200, await res.text());
    await res.arrayBuffer().catch(() => {});
  }
  // Spans are reported in batches; make sure one whole trace is in before looking for it in the UI.
  await waitFor('a trace through front and back', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?limit=50');
    return list.traces.find((tr) => tr.services.includes('front') && tr.services.includes('back'));
  }, 20_000);

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  const page: Page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(mesh.uiUrl);

  await t.test('the token leaves the address bar', async () => {
    await page.waitForSelector('[data-testid=service-row]');
    assert.ok(!page.url().includes('token='), `token still in ${page.url()}`);
  });

  await t.test('services appear with running instances', async () => {
    for (const name of ['front', 'back']) {
      await page.locator(`[data-testid=service-row][data-service=${name}]`).waitFor();
    }
    await waitFor('both instances running in the UI', async () =>
      (await page.locator('[data-testid=instance-row][data-state=running]').count()) >= 2, 15_000);
    const text = await page.locator('[data-testid=config-status]').innerText();
    assert.match(text, /uitest/);
  });

  await t.test('a trace row appears and opens a waterfall across services', async () => {
    const row = page.locator('[data-testid=trace-row]').filter({ hasText: 'back' }).first();
    await row.waitFor({ timeout: 15_000 });
    const traceId = await row.getAttribute('data-trace-id');
    assert.ok(traceId);
    await row.click();
    const waterfall = page.locator(`[data-testid=waterfall][data-trace-id="${traceId}"]`);
    await waterfall.waitFor();
    await waitFor('span rows from front and back', async () => {
      const services = await waterfall.locator('[data-testid=span-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-service')));
      return new Set(services).size >= 2 && services.includes('front') && services.includes('back');
    }, 15_000);
    await waterfall.locator('[data-testid=span-row][data-service=back]').first().click();
    await page.locator('[data-testid=span-details]').waitFor();
  });

  await t.test('no banner and no script errors', async () => {
    assert.equal(await page.locator('[data-testid=error-banner]').count(), 0);
    assert.deepEqual(pageErrors, []);
  });

  // For the README: the whole page as a user sees it after clicking a trace.
  mkdirSync(join(REPO, 'dist', 'test-artifacts'), { recursive: true });
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: join(REPO, 'dist', 'test-artifacts', 'ui.png'), fullPage: true });
});
