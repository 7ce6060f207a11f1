// The routes screen's Explain form against a real mesh in a real Chromium: a user picks the caller, types a
// request, and reads which rule matches and how the caller's sidecar sees the destination's endpoints now —
// here with one of them ejected by outlier detection after real failing traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExplainResponse } from '../../src/contract/api.js';
import { startMesh } from '../helpers/mesh-process.js';
import { EJECTING_SHOP_YAML, SHOP_APPS } from '../helpers/shop-mesh.js';
import { openBrowserPage, NO_CHROMIUM } from './ui-browser.js';

test('the Explain form shows the matching rule and the caller’s live endpoint health', { skip: NO_CHROMIUM, timeout: 60_000 }, async (t) => {
  const mesh = await startMesh({ yaml: EJECTING_SHOP_YAML, files: SHOP_APPS });
  t.after(() => mesh.stop());
  for (let i = 0; i < 6; i++) await fetch(`${mesh.ingress.frontend}/items`).then((r) => r.text());

  const { page, pageErrors, shot } = await openBrowserPage(t);
  await page.goto(mesh.uiUrl);
  await page.locator('[data-testid=nav-config]').click();
  await page.locator('[data-testid=config-service]').selectOption('catalog');
  const form = page.locator('[data-testid=explain-form]');
  await form.locator('[data-testid=explain-from]').selectOption('frontend');
  await form.locator('[data-testid=explain-path]').fill('/items');
  await form.locator('[data-testid=explain-headers]').fill('x-user: someone');
  await form.locator('[data-testid=explain-run]').click();

  const result = form.locator('[data-testid=explain-result]');
  await result.waitFor();
  assert.equal(await result.getAttribute('data-rule-index'), '1');
  const text = await result.innerText();
  assert.match(text, /rule 0 \(testers\): no match/);
  assert.match(text, /rule 1 \(everyone\): MATCH/);
  assert.match(text, /frontend-0 → catalog: 0 requests in flight/);
  assert.match(text, /catalog-v1-0 \(v1\): EJECTED by outlier detection until \S+ \(ejection 1, \d+ s left\)/);
  assert.match(text, /catalog-v2-0 \(v2\): healthy/);
  assert.equal(await result.locator('.error-text').count(), 1, 'the ejected endpoint stands out');
  await shot('explain');

  // A header that selects the other rule: the answer follows, and the form asked the same API the CLI does.
  await form.locator('[data-testid=explain-headers]').fill('x-user: tester');
  await form.locator('[data-testid=explain-run]').click();
  await form.locator('[data-testid=explain-result][data-rule-index="0"]').waitFor();
  assert.match(await result.innerText(), /frontend-0 → catalog\/v2: .*\n\s*catalog-v2-0 \(v2\): healthy/);
  const api = (await (
    await fetch(`${mesh.apiBase}/api/explain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mesh.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'catalog', from: 'frontend', method: 'GET', path: '/items', headers: { 'x-user': 'tester' } }),
    })
  ).json()) as ExplainResponse;
  assert.equal(api.ruleIndex, 0);
  // The mirror target is part of the health the form shows.
  assert.match(await result.innerText(), /frontend-0 → catalog\/v1 \(mirror, 25% copied\)/);

  // A header line that is not "name: value" is refused in the form, located, with nothing sent.
  await form.locator('[data-testid=explain-headers]').fill('x-user: tester\nx-debug on');
  await form.locator('[data-testid=explain-run]').click();
  assert.equal(await form.locator('[role=alert]').innerText(), 'header "x-debug on": expected "name: value"');
  assert.deepEqual(pageErrors, []);
});
