// The import wizard end to end: the Bookinfo demo running for real, Istio's own Bookinfo rules chosen in a
// real Chromium (one file through the file picker, one dropped on the panel, more pasted), the translation
// report read and acted on (filters, one-click "map to" for an unmapped host, an invalid document located),
// applied, the running mesh seen picking it up (config version, sidecar ACKs), and real requests through the
// ingress showing the result: jason reaches reviews v2, everyone else v3. The screenshot of the report goes
// to dist/test-artifacts/screens/import.png (the README's docs/ui-import.png comes from there). Then the
// export panel below the wizard writes the applied policy back out as Linkerd and as Consul CRDs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { StatusResponse } from '../../src/contract/api.js';
import { REPO, startMesh, waitFor } from '../helpers/mesh-process.js';
import { openBrowserPage, NO_CHROMIUM } from './ui-browser.js';

const FIXTURES = join(REPO, '..', 'shared', 'fixtures');
const VS_JASON = join(FIXTURES, 'istio', 'bookinfo-vs-reviews-jason-v2-v3.yaml');
const DR_ALL = join(FIXTURES, 'istio', 'bookinfo-dr-all.yaml');

// Pasted: a production-named host (mapped with one click on the report's suggestion), a field devmesh
// ignores (corsPolicy), and a document Istio's validation rejects (located by document index and line).
const PASTED = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings-svc.prod.svc.cluster.local
  http:
  - route:
    - destination:
        host: ratings-svc.prod.svc.cluster.local
    timeout: 3s
    corsPolicy:
      allowOrigins:
      - exact: https://example.com
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: bad-mode
spec:
  mtls:
    mode: BLAH
`;

/** The reviews version that served a product page, from its HTML. */
async function reviewsVersion(base: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${base}/productpage`, { headers });
  const html = await res.text();
  assert.equal(res.status, 200, html.slice(0, 500));
  return /id="reviews-version">([^<]*)</.exec(html)?.[1] ?? '?';
}

test('the import wizard: choose, preview the report, apply to the running Bookinfo demo', { skip: NO_CHROMIUM, timeout: 200_000 }, async (t) => {
  for (const f of [VS_JASON, DR_ALL]) assert.ok(existsSync(f), `fixture ${f} is missing`);
  const mesh = await startMesh({ fromFolder: join(REPO, 'fixtures', 'bookinfo'), transform: (y) => y.replace(/port: 9080\b/, 'port: 0') });
  t.after(() => mesh.stop());
  const productpage = mesh.ingress['productpage'];
  assert.ok(productpage, `no ingress URL for productpage in:\n${mesh.stdout()}`);

  // Before: the demo's own rules split everyone but jason between v1 and v3.
  const seenBefore = new Set<string>();
  for (let i = 0; i < 16; i++) seenBefore.add(await reviewsVersion(productpage));
  assert.ok(seenBefore.has('v1'), `v1 served before the import: ${[...seenBefore].join(',')}`);

  const { page, pageErrors, shot } = await openBrowserPage(t);

  await page.goto(mesh.uiUrl);
  await page.waitForSelector('[data-testid=service-row]');
  // The README's screenshots are dark; without a saved choice the theme follows the system's.
  const theme = () => page.evaluate('document.documentElement.dataset.theme') as Promise<string>;
  if ((await theme()) !== 'dark') await page.locator('[data-testid=theme-toggle]').click();
  assert.equal(await theme(), 'dark');

  await t.test('choose: key 6 opens the wizard; a file picked, a file dropped, policy pasted', async () => {
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('6');
    await page.locator('[data-testid=import-page][data-step=choose]').waitFor();
    assert.equal(await page.locator('[data-testid=import-preview-button]').isDisabled(), true, 'nothing to preview yet');

    await page.locator('[data-testid=import-file-input]').setInputFiles(VS_JASON);
    // Drag and drop: a real drop event carrying a File, as the browser makes one.
    // (The test is compiled without DOM types, so the page-side code is a string.)
    const dropped = { name: basename(DR_ALL), text: readFileSync(DR_ALL, 'utf8') };
    await page.evaluate(`(() => {
      const zone = document.querySelector('[data-testid=import-dropzone]');
      const dt = new DataTransfer();
      dt.items.add(new File([${JSON.stringify(dropped.text)}], ${JSON.stringify(dropped.name)}, { type: 'application/yaml' }));
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    })()`);
    await waitFor('both files listed', async () => (await page.locator('[data-testid=import-file]').count()) === 2, 5000);
    assert.deepEqual((await page.locator('[data-testid=import-file]').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).sort(), [basename(DR_ALL), basename(VS_JASON)].sort());
    await page.locator('[data-testid=import-paste]').fill(PASTED);

    // A half-filled name mapping is explained, and blocks the preview until fixed.
    await page.locator('[data-testid=import-map-add]').click();
    await page.locator('[data-testid=import-map-prod]').fill('reviews-prod');
    await page.locator('[data-testid=import-input-problem]').waitFor();
    assert.equal(await page.locator('[data-testid=import-preview-button]').isDisabled(), true);
    await page.locator('[data-testid=import-map-local]').fill('reviews');
    assert.equal(await page.locator('[data-testid=import-input-problem]').count(), 0);
    await page.locator('[data-testid=import-format]').selectOption('istio');
    await shot('import-choose');
  });

  await t.test('preview: the report per resource and field, filters, an invalid document located, one-click map', async () => {
    await page.locator('[data-testid=import-preview-button]').click();
    await page.locator('[data-testid=import-page][data-step=preview]').waitFor({ timeout: 15_000 });
    const report = page.locator('[data-testid=import-report]');
    await report.waitFor();
    assert.equal(await page.locator('[data-testid=import-preview]').getAttribute('data-blocked'), 'false');

    // Per resource: the VirtualService maps, the DestinationRules are there with their subsets.
    await page.locator('[data-testid=import-resource][data-kind=VirtualService][data-name=reviews][data-outcome=mapped]').waitFor();
    for (const name of ['productpage', 'reviews', 'ratings', 'details']) await page.locator(`[data-testid=import-resource][data-kind=DestinationRule][data-name=${name}]`).waitFor();
    const reviewsDr = page.locator('[data-testid=import-resource][data-kind=DestinationRule][data-name=reviews]');
    assert.match(await reviewsDr.innerText(), /subset v2 → version v2 of reviews/);

    // Invalid: located by file, line, document index and field path.
    const invalid = page.locator('[data-testid=import-entry][data-outcome=invalid]');
    assert.equal(await invalid.count(), 1);
    assert.match(await invalid.locator('[data-testid=import-invalid-location]').innerText(), /^pasted:\d+ \[document 1\] PeerAuthentication bad-mode: spec\.mtls\.mode$/);
    assert.match(await invalid.innerText(), /Unsupported value: "BLAH"/);
    await page.locator('[data-testid=import-invalid-note]').waitFor();

    // Counts are filters.
    const count = async (o: string) => Number(await page.locator(`[data-testid=import-count-${o}]`).getAttribute('data-count'));
    assert.ok((await count('mapped')) > 0 && (await count('approximated')) > 0 && (await count('invalid')) === 1);
    assert.ok((await page.locator('[data-testid=import-entry][data-outcome=mapped]').count()) > 0);
    await page.locator('[data-testid=import-count-mapped]').click();
    assert.equal(await page.locator('[data-testid=import-count-mapped]').getAttribute('aria-pressed'), 'false');
    assert.equal(await page.locator('[data-testid=import-entry][data-outcome=mapped]').count(), 0, 'mapped fields hidden');
    assert.ok((await page.locator('[data-testid=import-entry][data-outcome=approximated]').count()) > 0, 'the others stay');
    await page.locator('[data-testid=import-count-mapped]').press('Enter'); // keyboard works as well
    assert.ok((await page.locator('[data-testid=import-entry][data-outcome=mapped]').count()) > 0);
    await page.locator('[data-testid=import-report-filter]').fill('subsets[1]');
    await waitFor('only matching fields', async () => {
      const paths = await page.locator('[data-testid=import-entry]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path') ?? ''));
      return paths.length > 0 && paths.every((p) => p.includes('subsets[1]'));
    }, 5000);
    await page.locator('[data-testid=import-report-filter]').fill('');

    // The production host maps nowhere; the API suggests ratings-svc=ratings: one click, and the preview runs again.
    const host = page.locator('[data-testid=import-unmapped-host][data-host="ratings-svc.prod.svc.cluster.local"]');
    await host.waitFor();
    assert.equal((await host.locator('[data-testid=import-map-suggestion]').innerText()).trim(), 'map to ratings');
    assert.doesNotMatch(await page.locator('[data-testid=import-policy]').innerText(), /timeout: 3s/);
    await page.locator('[data-testid=import-apply-button]').focus();
    await shot('import');
    await host.locator('[data-testid=import-map-suggestion]').click();
    await waitFor('the host mapped after the new preview', async () => (await page.locator('[data-testid=import-unmapped-host]').count()) === 0, 15_000);
    const ratingsVs = page.locator('[data-testid=import-resource][data-kind=VirtualService][data-name=ratings]');
    await ratingsVs.locator('[data-testid=import-entry][data-path="spec.hosts[0]"][data-outcome=mapped]').waitFor();
    assert.match(await ratingsVs.locator('[data-testid=import-entry][data-path="spec.http[0].corsPolicy"]').innerText(), /why: the local sidecar does not answer CORS preflights/);
    assert.match(await page.locator('[data-testid=import-preview]').innerText(), /map reviews-prod=reviews, ratings-svc=ratings/);

    // The resulting policy file.
    const policy = await page.locator('[data-testid=import-policy]').innerText();
    assert.match(policy, /end-user:/);
    assert.match(policy, /exact: jason/);
    assert.match(policy, /subset: v3/);
    assert.match(policy, /timeout: 3s/);
    assert.equal(readFileSync(join(mesh.dir, 'devmesh.yaml'), 'utf8').includes('include'), false, 'the preview wrote nothing');
    assert.equal(existsSync(join(mesh.dir, 'devmesh.policy.yaml')), false, 'the preview wrote nothing');
  });

  await t.test('the wizard in the light theme', async () => {
    await page.locator('[data-testid=theme-toggle]').click();
    assert.equal(await theme(), 'light');
    const colors = (await page.evaluate(`(() => {
      const panel = getComputedStyle(document.querySelector('[data-testid=import-report]').closest('.panel'));
      return { bg: panel.backgroundColor, fg: panel.color };
    })()`)) as { bg: string; fg: string };
    assert.equal(colors.bg, 'rgb(255, 255, 255)', 'light panel');
    assert.notEqual(colors.fg, 'rgb(255, 255, 255)', 'dark text on it');
    await shot('import-light');
    await page.locator('[data-testid=theme-toggle]').click();
  });

  await t.test('apply: written, pushed, ACKed by every sidecar; jason reaches reviews v2, everyone else v3', async () => {
    const before = (await mesh.api<StatusResponse>('/api/status')).config.version;
    await page.locator('[data-testid=import-apply-button]').click();
    const applied = page.locator('[data-testid=import-applied]');
    await applied.waitFor({ timeout: 15_000 });
    const written = await applied.getAttribute('data-written');
    assert.equal(written, join(mesh.dir, 'devmesh.policy.yaml'));
    assert.match(readFileSync(written!, 'utf8'), /exact: jason/);
    assert.match(readFileSync(join(mesh.dir, 'devmesh.yaml'), 'utf8'), /^include:\s*(\[\s*|\n\s*- )devmesh\.policy\.yaml/m);

    const pushed = page.locator('[data-testid=import-pushed][data-pushed=true][data-all-acked=true]');
    await pushed.waitFor({ timeout: 20_000 });
    assert.ok(Number(await pushed.getAttribute('data-version')) > before, 'a newer config version');
    assert.match(await pushed.innerText(), new RegExp(`config v${before} → v\\d+; (\\d+) of \\1 sidecars ACKed`));
    const status = await mesh.api<StatusResponse>('/api/status');
    assert.equal(status.config.error, null);
    const instances = status.services.flatMap((s) => s.instances);
    assert.equal(await page.locator('[data-testid=sidecar-ack]').count(), instances.length);
    for (const i of instances) assert.equal(i.sidecar.ackedVersion, status.config.version, `${i.id} ACKed`);
    await shot('import-applied');

    for (let i = 0; i < 10; i++) {
      assert.equal(await reviewsVersion(productpage, { 'end-user': 'jason' }), 'v2', `request ${i} as jason`);
      assert.equal(await reviewsVersion(productpage, i % 2 ? { 'end-user': 'alice' } : {}), 'v3', `request ${i} as someone else`);
    }
  });

  await t.test('export: the panel lists every format; the applied policy comes out as Linkerd and as Consul CRDs, with its notes', async () => {
    const panel = page.locator('[data-testid=export-panel]');
    await panel.waitFor();
    const options = await page.locator('[data-testid=export-format] option').evaluateAll((els) => els.map((e) => e.getAttribute('value')));
    assert.deepEqual(options, ['istio', 'gateway-api', 'linkerd', 'consul']);
    await page.locator('[data-testid=export-format]').selectOption('linkerd');
    await page.locator('[data-testid=export-button]').click();
    const output = page.locator('[data-testid=export-output]');
    await waitFor('the Linkerd export', async () => /policy\.linkerd\.io\/v1beta3/.test(await output.innerText().catch(() => '')), 15_000);
    assert.match(await output.innerText(), /name: end-user\s+value: jason/, 'the imported rule, applied, is what is exported');
    assert.ok((await page.locator('[data-testid=export-note]').count()) > 0, 'what Linkerd cannot say is listed');
    await page.locator('[data-testid=export-format]').selectOption('consul');
    await page.locator('[data-testid=export-consul-form]').selectOption('crd');
    await page.locator('[data-testid=export-button]').click();
    await waitFor('the Consul export', async () => /kind: ServiceRouter/.test(await output.innerText()), 15_000);
    assert.match(await output.innerText(), /apiVersion: consul\.hashicorp\.com\/v1alpha1/);
    await panel.scrollIntoViewIfNeeded();
    await shot('export');
  });

  await t.test('no banner and no script errors', async () => {
    assert.equal(await page.locator('[data-testid=error-banner]').count(), 0);
    assert.equal(await page.locator('[data-testid=import-error]').count(), 0);
    assert.equal(await page.locator('[data-testid=export-error]').count(), 0);
    assert.deepEqual(pageErrors, []);
  });
});
