// The UI as a new user meets it, on the Bookinfo demo running for real in a real Chromium (issue 15's list):
// a deep link with the token opens its trace and survives a reload, with the token never in a URL the
// browser sends; the route filter's example matches; the success-rate axis stops at 100%; time labels never
// overlap; the topology is whole at 1000, 1400 and 1920 px; tap rows are in time order although the stream
// is not; the rule form's placeholders are hints that never reach the file. Then the README's screenshots of
// every screen, dark, into dist/test-artifacts/screens/bookinfo-*.png (docs/ui-*.png are copies of them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { TapResponse, TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { uiLink } from '../../src/contract/ui-link.js';
import { REPO, startMesh, waitFor } from '../helpers/mesh-process.js';
import { openBrowserPage, NO_CHROMIUM } from './ui-browser.js';

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
const intersects = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const inside = (a: Box, outer: Box, slack = 0.5) =>
  a.x >= outer.x - slack && a.y >= outer.y - slack && a.x + a.width <= outer.x + outer.width + slack && a.y + a.height <= outer.y + outer.height + slack;
const WIDTHS = [1000, 1400, 1920];

async function boxes(page: Page, selector: string): Promise<Box[]> {
  const out: Box[] = [];
  for (const el of await page.locator(selector).all()) {
    const b = await el.boundingBox();
    if (b) out.push(b);
  }
  return out;
}

test('the UI on the Bookinfo demo: deep links, filters, charts, topology, tap order, form hints; the README screenshots', { skip: NO_CHROMIUM, timeout: 240_000 }, async (t) => {
  const mesh = await startMesh({ fromFolder: join(REPO, 'fixtures', 'bookinfo'), transform: (y) => y.replace(/port: 9080\b/, 'port: 0') });
  t.after(() => mesh.stop());
  const productpage = mesh.ingress['productpage'];
  assert.ok(productpage, `no ingress URL for productpage in:\n${mesh.stdout()}`);
  const pageLoad = async (headers: Record<string, string> = {}) => {
    const res = await fetch(`${productpage}/productpage`, { headers });
    await res.text();
    return res.status;
  };
  for (let i = 0; i < 16; i++) assert.equal(await pageLoad(i % 4 === 0 ? { 'end-user': 'jason' } : {}), 200);
  await waitFor('traces through reviews', async () => (await mesh.api<TraceListResponse>('/api/traces?service=reviews&limit=20')).traces.length >= 10, 20_000);

  const { page, pageErrors, shot } = await openBrowserPage(t);
  // What the browser sends: every request's URL as it goes on the wire (no fragment) and its Referer.
  const sent: { url: string; referer: string; authorized: boolean }[] = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    url.hash = '';
    const headers = r.headers();
    sent.push({ url: url.href, referer: headers['referer'] ?? '', authorized: (headers['authorization'] ?? '') === `Bearer ${mesh.token}` });
  });
  const noBanner = async () => {
    const banner = page.locator('[data-testid=error-banner]');
    if ((await banner.count()) > 0) assert.fail(`error banner: ${await banner.innerText()}`);
  };

  await t.test('a deep link with the token opens the trace and its span, survives a reload, and the token is never in a URL sent', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?service=reviews&limit=5');
    const traceId = list.traces[0]!.traceId;
    const detail = await mesh.api<TraceDetailResponse>(`/api/traces/${traceId}`);
    const span = detail.spans.find((s) => s.service === 'reviews' && s.kind === 'server')!;
    assert.ok(span, 'a reviews server span');

    // The CLI prints links in this form.
    const cli = mesh.cli(['traces', '--limit', '1']);
    assert.equal(cli.status, 0, cli.stderr);
    const newest = /^\S+\s+([0-9a-f]{32})\s/m.exec(cli.stdout)![1]!;
    assert.ok(cli.stderr.includes(`open in the UI: ${uiLink(mesh.apiBase, mesh.token, 'traces', { trace: newest })}\n`), cli.stderr);

    const link = uiLink(mesh.apiBase, mesh.token, 'traces', { trace: traceId, span: span.spanId });
    assert.match(link, /\/#\/traces\?trace=[0-9a-f]{32}&span=[0-9a-f]{16}&token=/);
    await page.goto(link);
    const opened = async () => {
      await page.locator(`[data-testid=waterfall][data-trace-id="${traceId}"]`).waitFor({ timeout: 15_000 });
      await page.locator(`[data-testid=span-details][data-span-id="${span.spanId}"]`).waitFor({ timeout: 15_000 });
      await noBanner();
    };
    await opened();
    // Read once, then gone from the address bar, the route kept.
    assert.equal(new URL(page.url()).hash, `#/traces?trace=${traceId}&span=${span.spanId}`);
    await page.reload();
    await opened();
    assert.ok(!page.url().includes(mesh.token));
    const apiCalls = sent.filter((s) => new URL(s.url).pathname.startsWith('/api/'));
    assert.ok(apiCalls.length > 3 && apiCalls.every((s) => s.authorized), 'every API call carried the token in its Authorization header');
    const leaks = sent.filter((s) => s.url.includes(mesh.token) || s.referer.includes(mesh.token));
    assert.deepEqual(leaks, [], 'no URL or Referer the browser sent holds the token');
  });

  await t.test("the route filter's placeholder is an example that matches", async () => {
    await page.locator('[data-testid=nav-traces]').click();
    const input = page.locator('[data-testid=trace-route-filter]');
    const placeholder = (await input.getAttribute('placeholder')) ?? '';
    const example = /e\.g\. (\S+)$/.exec(placeholder)?.[1];
    assert.ok(example, `placeholder "${placeholder}" gives an example`);
    await input.fill(example);
    await waitFor('the URL to carry the filter', async () => new URL(page.url()).hash.includes(`route=${example}`), 5000);
    await waitFor('traces that matched that rule', async () => (await page.locator('[data-testid=trace-row]').count()) > 0, 10_000);
    const ids = await page.locator('[data-testid=trace-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-trace-id')!));
    const { traces } = await mesh.api<TraceListResponse>(`/api/traces?route=${example}&limit=200`);
    assert.ok(ids.every((id) => traces.some((tr) => tr.traceId === id)), 'every listed trace matched the rule');
    await input.fill('');
  });

  await t.test('charts: the success rate axis is 0–100%, and no two time labels overlap, at 1000, 1400 and 1920 px', async () => {
    await page.goto(`${mesh.apiBase}/#/service?name=reviews`);
    await waitFor('inbound requests in the metrics', async () => Number(await page.locator('[data-testid=metrics-inbound]').getAttribute('data-requests')) > 0, 15_000);
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 1000 });
      for (const dir of ['inbound', 'outbound']) {
        const success = page.locator(`[data-testid=chart-${dir}-success]`);
        await waitFor(`the ${dir} success axis drawn`, async () => (await success.getAttribute('data-y-max')) !== null, 5000);
        assert.equal(await success.getAttribute('data-y-min'), '0', `${dir} at ${width}px`);
        assert.equal(await success.getAttribute('data-y-max'), '100', `${dir} at ${width}px`);
      }
      // The resize observer redraws on its own schedule: the labels are checked until they settle.
      let problem = '';
      const labelProblem = async (): Promise<string> => {
        // One read of every chart and its labels, so a redraw cannot fall between two measurements.
        const charts = await page.locator('figure.chart').evaluateAll((figures) => {
          const box = (e: (typeof figures)[number]) => {
            const r = e.getBoundingClientRect();
            return { x: r.x, y: r.y, width: r.width, height: r.height };
          };
          return figures.map((f) => ({ figure: box(f), labels: [...f.querySelectorAll('[data-testid=chart-x-label]')].map(box) }));
        });
        if (charts.length < 6) return `${charts.length} charts`;
        for (const { figure, labels } of charts) {
          if (labels.length < 3) return `a chart has ${labels.length} time labels`;
          for (const [i, a] of labels.entries()) {
            if (!inside(a, figure)) return `label ${i} ${JSON.stringify(a)} outside its chart ${JSON.stringify(figure)}`;
            for (const b of labels.slice(i + 1)) if (intersects(a, b)) return `time labels overlap: ${JSON.stringify([a, b])}`;
          }
        }
        return '';
      };
      await waitFor(`time labels that fit at ${width}px`, async () => (problem = await labelProblem()) === '', 5000).catch(() => assert.fail(`at ${width}px: ${problem}`));
    }
    await page.setViewportSize({ width: 1440, height: 1000 });
  });

  await t.test('the topology is whole (every service and edge label inside the panel) at 1000, 1400 and 1920 px', async () => {
    for (let i = 0; i < 4; i++) await pageLoad(); // the edges show the last minute's traffic
    await page.locator('[data-testid=nav-overview]').click();
    for (const name of ['ingress', 'productpage', 'details', 'reviews', 'ratings']) await page.locator(`[data-testid=topology-node][data-service=${name}]`).waitFor();
    await waitFor('edge labels (live traffic)', async () => (await page.locator('[data-testid=topology-edge-label]').count()) >= 3, 10_000);
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 1000 });
      await page.waitForTimeout(200);
      const wrap = page.locator('.topology-wrap');
      const visible = (await wrap.boundingBox())!;
      assert.equal(await wrap.evaluate((w) => w.scrollWidth <= w.clientWidth), true, `no horizontal scrolling needed at ${width}px`);
      const nodes = await boxes(page, '[data-testid=topology-node]');
      assert.equal(nodes.length, 5);
      for (const n of [...nodes, ...(await boxes(page, '[data-testid=topology-edge-label]'))]) assert.ok(inside(n, visible), `${JSON.stringify(n)} inside ${JSON.stringify(visible)} at ${width}px`);
      for (const [i, a] of nodes.entries()) for (const b of nodes.slice(i + 1)) assert.ok(!intersects(a, b), `nodes overlap at ${width}px`);
    }
    await page.setViewportSize({ width: 1440, height: 1000 });
  });

  await t.test('tap: rows newest first by start time, though the stream arrives in another order', async () => {
    await page.locator('[data-testid=nav-tap]').click();
    await page.locator('[data-testid=tap-service]').selectOption('');
    const { lastSeq } = await mesh.api<TapResponse>('/api/tap');
    await page.waitForTimeout(700); // the tap's first read starts from now
    await Promise.all(Array.from({ length: 6 }, () => pageLoad()));
    await pageLoad();
    // The precondition that makes this a test: in arrival (sequence) order the events are not in time order
    // (a caller's span ends, and so arrives, after the spans of the calls it made).
    const stream = await waitFor('the requests in the tap stream', async () => {
      const r = await mesh.api<TapResponse>(`/api/tap?afterSeq=${lastSeq}`);
      return r.events.length >= 7 * 6 ? r.events : false;
    }, 15_000);
    assert.ok(stream.some((e, i) => i > 0 && e.timeMs < stream[i - 1]!.timeMs), 'the stream is out of time order');
    await waitFor('the rows in the UI', async () => (await page.locator('[data-testid=tap-row]').count()) >= 7 * 6, 15_000);
    const times = await page.locator('[data-testid=tap-row]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-time-ms'))));
    assert.ok(times.every((x) => x > 1e12), 'every row has its time');
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! <= times[i - 1]!, `row ${i} (${times[i]}) is newer than row ${i - 1} (${times[i - 1]})`);
  });

  await t.test('the rule form: placeholders read as hints, and an untouched form writes nothing', async () => {
    await page.locator('[data-testid=nav-config]').click();
    await page.locator('[data-testid=config-service]').selectOption('reviews');
    await page.locator('[data-testid=rule][data-rule=jason]').click();
    await page.locator('[data-testid=yaml-editor] .cm-content').waitFor();
    const inputs = page.locator('[data-testid=rule-form] input, [data-testid=policy-form] input');
    const n = await inputs.count();
    assert.ok(n >= 10, `${n} inputs in the forms`);
    for (let i = 0; i < n; i++) {
      const input = inputs.nth(i);
      const placeholder = (await input.getAttribute('placeholder')) ?? '';
      assert.match(placeholder, /^e\.g\. \S/, `input ${await input.getAttribute('data-testid')}: placeholder "${placeholder}" reads as an example`);
      // Styled as a hint: italic, not the colour of typed text.
      const style = await input.evaluate((el) => {
        // (The test is compiled without DOM types.)
        type Style = { fontStyle: string; color: string; opacity: string };
        const computed = (globalThis as unknown as { getComputedStyle(e: unknown, pseudo?: string): Style }).getComputedStyle;
        const p = computed(el, '::placeholder');
        return { italic: p.fontStyle, color: p.color, opacity: p.opacity, text: computed(el).color };
      });
      assert.equal(style.italic, 'italic');
      assert.ok(style.color !== style.text || Number(style.opacity) < 1, JSON.stringify(style));
      // Touched without typing: focus, Enter, leave.
      if ((await input.inputValue()) === '') {
        await input.focus();
        await input.press('Enter');
        await input.blur();
      }
    }
    assert.equal(await page.locator('[data-testid=config-review]').isDisabled(), true, 'nothing to review: no placeholder became a value');
    // One value typed: the diff is that value and nothing else.
    await page.locator('[data-testid=route-timeout]').fill('3s');
    await page.locator('[data-testid=route-timeout]').press('Enter');
    await waitFor('validated', async () => (await page.locator('[data-testid=validation]').getAttribute('data-valid')) === 'true', 10_000);
    await page.locator('[data-testid=config-review]').click();
    assert.deepEqual((await page.locator('[data-testid=diff-add]').allInnerTexts()).map((l) => l.replace(/\s+/g, ' ').trim()), ['+ timeout: 3s']);
    assert.equal(await page.locator('[data-testid=diff-del]').count(), 0);
    await page.locator('[data-testid=config-revert]').click();
  });

  await t.test('the README screenshots, dark, of every screen on the demo', async () => {
    await page.setViewportSize({ width: 1440, height: 1000 });
    const theme = () => page.evaluate('document.documentElement.dataset.theme') as Promise<string>;
    if ((await theme()) !== 'dark') await page.locator('[data-testid=theme-toggle]').click();
    for (let i = 0; i < 8; i++) await pageLoad(i % 3 === 0 ? { 'end-user': 'jason' } : {});

    await page.goto(`${mesh.apiBase}/#/overview`);
    await waitFor('live edges', async () => (await page.locator('[data-testid=topology-edge-label]').count()) >= 4, 15_000);
    await shot('bookinfo-overview');

    await page.goto(`${mesh.apiBase}/#/service?name=reviews`);
    await waitFor('log lines with trace links', async () => (await page.locator('[data-testid=log-line]').count()) >= 3, 15_000);
    await page.locator('[data-testid=chart-inbound-success] [data-testid=chart-x-label]').first().waitFor();
    await shot('bookinfo-service');

    const { traces } = await mesh.api<TraceListResponse>('/api/traces?service=ratings&limit=2');
    const [a, b] = traces;
    assert.ok(a && b, 'two traces through ratings');
    const detail = await mesh.api<TraceDetailResponse>(`/api/traces/${a.traceId}`);
    const reviewsCall = detail.spans.find((s) => s.service === 'productpage' && s.kind === 'client' && s.peerService === 'reviews') ?? detail.spans[0]!;
    await page.goto(`${mesh.apiBase}/#/traces?trace=${a.traceId}&span=${reviewsCall.spanId}`);
    await page.locator(`[data-testid=span-details][data-span-id="${reviewsCall.spanId}"]`).waitFor();
    await shot('bookinfo-traces');

    await page.goto(`${mesh.apiBase}/#/traces?trace=${a.traceId}&compare=${b.traceId}`);
    await page.locator('[data-testid=trace-compare]').waitFor();
    await waitFor('paired spans', async () => (await page.locator('[data-testid=compare-row]').count()) >= 4, 10_000);
    await shot('bookinfo-compare');

    await page.goto(`${mesh.apiBase}/#/config`);
    await page.locator('[data-testid=config-service]').selectOption('reviews');
    await page.locator('[data-testid=rule][data-rule=split]').click();
    await page.locator('[data-testid=retry-attempts]').fill('2');
    await page.locator('[data-testid=retry-attempts]').press('Enter');
    await waitFor('validated', async () => (await page.locator('[data-testid=validation]').getAttribute('data-valid')) === 'true', 10_000);
    await page.locator('[data-testid=config-review]').click();
    await page.locator('[data-testid=diff-add]').first().waitFor();
    await shot('bookinfo-config');
    await page.locator('[data-testid=config-revert]').click();

    await page.goto(`${mesh.apiBase}/#/tap`);
    await page.waitForTimeout(700);
    await pageLoad({ 'end-user': 'jason' });
    await pageLoad();
    await waitFor('tap rows', async () => (await page.locator('[data-testid=tap-row]').count()) >= 10, 10_000);
    await page.locator('[data-testid=tap-pause]').click();
    await shot('bookinfo-tap');

    await page.goto(`${mesh.apiBase}/#/overview`);
    await page.locator('[data-testid=theme-toggle]').click();
    assert.equal(await theme(), 'light');
    await waitFor('live edges', async () => (await page.locator('[data-testid=topology-edge-label]').count()) >= 4, 15_000);
    await shot('bookinfo-overview-light');
    await page.locator('[data-testid=theme-toggle]').click();
  });

  await t.test('no script errors', async () => {
    await noBanner();
    assert.deepEqual(pageErrors, []);
  });
});
