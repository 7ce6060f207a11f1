// The structured logs screen and the app metrics on the service screen, in headless Chromium against a real
// mesh whose app runs the OpenTelemetry Node SDK configured only by devmesh's environment (http/protobuf):
// its log records are listed with severity and attributes, filter by severity and attribute, and link to
// their trace, which opens in the waterfall with the record's span selected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { AppLogResponse } from '../../src/contract/api.js';
import { REPO, startMesh, waitFor } from '../helpers/mesh-process.js';
import { openBrowserPage, NO_CHROMIUM } from './ui-browser.js';

const MESH = `name: logsui
ingress:
  - { port: 0, service: shop }
services:
  shop:
    run: node app.js
    health: /healthz
`;

const APP = `
const m = (name) => require(${JSON.stringify(join(REPO, 'node_modules'))} + '/' + name);
const { NodeSDK } = m('@opentelemetry/sdk-node');
const api = m('@opentelemetry/api');
const { logs, SeverityNumber } = m('@opentelemetry/api-logs');
const sdk = new NodeSDK();
sdk.start();
const tracer = api.trace.getTracer('shop');
const orders = api.metrics.getMeter('shop').createCounter('shop.orders', { description: 'orders taken' });
const logger = logs.getLogger('shop');
let n = 0;
require('node:http').createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
  const span = tracer.startSpan('take order', { kind: api.SpanKind.SERVER }, parent);
  api.context.with(api.trace.setSpan(parent, span), () => {
    n++;
    orders.add(1, { 'order.kind': 'book' });
    logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'order received', attributes: { 'order.id': n, 'customer.tier': 'gold' } });
    if (n % 2 === 0) logger.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: 'payment declined', attributes: { 'order.id': n, 'payment.reason': 'card expired' } });
  });
  span.end();
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => sdk.shutdown().finally(() => process.exit(0)));
`;

test('structured logs: an app\'s OpenTelemetry log records with attributes, filtered, linked to their trace and span', { skip: NO_CHROMIUM, timeout: 150_000 }, async (t) => {
  const mesh = await startMesh({ yaml: MESH, files: { 'app.js': APP, 'package.json': '{ "type": "commonjs" }\n' }, readyTimeoutMs: 60_000 });
  t.after(() => mesh.stop());
  for (let i = 0; i < 4; i++) assert.equal((await fetch(`${mesh.ingress['shop']}/order`)).status, 200);
  const declined = await waitFor('the app\'s log records in the store', async () => {
    const r = await mesh.api<AppLogResponse>('/api/app-logs?service=shop&minSeverity=error');
    return r.records.length >= 2 && r.records.every((x) => x.spanId) ? r.records : undefined;
  }, 30_000);

  const { page, pageErrors, shot } = await openBrowserPage(t);
  await page.goto(mesh.uiUrl);
  await page.locator('[data-testid=nav-logs]').click();
  await page.locator('[data-testid=structured-logs]').waitFor();
  await waitFor('six records listed', async () => (await page.locator('[data-testid=app-log-row]').count()) >= 6, 20_000);

  // A row shows the record's severity, message and attributes.
  const errorRow = page.locator('[data-testid=app-log-row]', { hasText: 'payment declined' }).first();
  assert.equal(await errorRow.locator('[data-testid=app-log-severity-badge]').innerText(), 'ERROR');
  const chips = await errorRow.locator('[data-testid=app-log-attr]').allInnerTexts();
  assert.ok(chips.includes('payment.reason=card expired'), chips.join(' | '));
  assert.ok(chips.some((c) => /^order\.id=\d+$/.test(c)), chips.join(' | '));
  await shot('structured-logs');

  // Filters: minimum severity, then an attribute.
  await page.locator('[data-testid=app-log-severity]').selectOption('error');
  await waitFor('only ERROR records', async () => {
    const bodies = await page.locator('[data-testid=app-log-body]').allInnerTexts();
    return bodies.length === declined.length && bodies.every((b) => b === 'payment declined');
  }, 10_000);
  await page.locator('[data-testid=app-log-severity]').selectOption('');
  await page.locator('[data-testid=app-log-attribute]').fill('customer.tier=gold');
  await waitFor('only the records with that attribute', async () => {
    const bodies = await page.locator('[data-testid=app-log-body]').allInnerTexts();
    return bodies.length === 4 && bodies.every((b) => b === 'order received');
  }, 10_000);
  assert.match(page.url(), /attribute=customer\.tier%3Dgold/, 'the filter is in the link');
  await page.locator('[data-testid=app-log-attribute]').fill('');

  // A row opens its details; its trace link opens the waterfall with the record's span selected.
  const target = declined[declined.length - 1]!;
  const row = page.locator(`[data-testid=app-log-row][data-trace-id="${target.traceId}"]`, { hasText: 'payment declined' });
  await row.click();
  const detail = await page.locator('[data-testid=app-log-detail]').innerText();
  assert.match(detail, /payment\.reason\s+card expired/);
  assert.match(detail, /resource service\.namespace\s+logsui/);
  await row.locator('[data-testid=app-log-trace-link]').click();
  await page.locator(`[data-testid=waterfall][data-trace-id="${target.traceId}"]`).waitFor();
  await page.locator(`[data-testid=span-row][data-span-id="${target.spanId}"].selected`).waitFor();
  assert.ok(await page.locator('[data-testid=span-details]').isVisible(), 'the span\'s details are open');
  assert.ok((await page.locator('[data-testid=span-row]').count()) >= 2, 'the sidecar\'s spans and the app\'s span in one trace');
  // And back: the trace's structured logs.
  await page.locator('[data-testid=trace-logs-link]').click();
  await waitFor('the trace\'s records only', async () => {
    const ids = await page.locator('[data-testid=app-log-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-trace-id')));
    return ids.length === 2 && ids.every((id) => id === target.traceId);
  }, 10_000);

  // The service screen shows the app's metrics beside the golden metrics.
  await page.goto(`${mesh.apiBase}/#/service?name=shop`);
  await page.locator('[data-testid=app-metric-row][data-metric="shop.orders"]').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('[data-testid=app-metric-row][data-metric="shop.orders"] [data-testid=app-metric-latest]').innerText(), '4');
  await shot('service-app-metrics');
  assert.deepEqual(pageErrors, []);
});
