// The UI end to end: a real `devmesh up`, real requests through its ingress, the real bundle in a real
// Chromium, every screen: overview/topology, service detail (logs, metrics, restart), the trace inspector
// (filters, waterfall, critical path, compare, OTLP), the routes & policies editor (an edit of a retry
// policy that changes real traffic, then undo), tap, themes, /metrics and OTLP ingest. Screenshots of each
// screen go to dist/test-artifacts/screens (the README's come from there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusResponse, TraceDetailResponse, TraceListResponse } from '../../src/contract/api.js';
import { startMesh, waitFor } from '../helpers/mesh-process.js';
import { openBrowserPage, NO_CHROMIUM } from './ui-browser.js';


const YAML = `# the UI test mesh
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
routes:
  back:
    # back fails every other request; no retries to begin with
    - name: flaky
      route: [{ destination: { host: back } }]
      retries: { attempts: 0 }
`;

// The apps forward the trace context, as instrumented apps do, so one request is one trace. back fails
// every other request with a 503 and logs the traceparent it served; front turns a 503 from back into a
// 500, so the ingress's default retries (503 only) do not hide back's failures.
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
      res.writeHead(up.statusCode === 503 ? 500 : up.statusCode, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ front: true, back: body }));
    });
  }).on('error', (err) => { res.writeHead(502); res.end(String(err)); });
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
  'back.js': `
let n = 0;
require('node:http').createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  n++;
  console.log('serving ' + req.url + ' traceparent=' + req.headers.traceparent);
  if (n % 2 === 1) { console.error('back: failing request ' + n); res.writeHead(503); return res.end('flaky'); }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ back: true, n }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
  'package.json': '{ "type": "commonjs" }\n',
};

async function traffic(url: string, n: number): Promise<number[]> {
  const codes: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/hello/${i}`);
    await res.arrayBuffer().catch(() => {});
    codes.push(res.status);
  }
  return codes;
}

test('every screen of the UI against a real mesh', { skip: NO_CHROMIUM, timeout: 200_000 }, async (t) => {
  const mesh = await startMesh({ yaml: YAML, files: FILES });
  t.after(() => mesh.stop());
  const front = mesh.ingress['front'];
  assert.ok(front, `no ingress URL for front in:\n${mesh.stdout()}`);

  await t.test('the API refuses requests without the token', async () => {
    assert.equal((await fetch(`${mesh.apiBase}/api/status`)).status, 401);
    assert.equal((await fetch(`${mesh.apiBase}/api/status`, { headers: { authorization: 'Bearer not-the-token' } })).status, 401);
    assert.equal((await mesh.api<StatusResponse>('/api/status')).mesh, 'uitest');
  });

  const before = await traffic(front, 8);
  assert.ok(before.includes(200) && before.includes(500), `expected a mix of 200 and 500 before the edit: ${before.join(',')}`);
  await waitFor('a failed trace through front and back', async () => {
    const list = await mesh.api<TraceListResponse>('/api/traces?status=error&limit=50');
    return list.traces.find((tr) => tr.services.includes('back'));
  }, 20_000);

  const { page, pageErrors, shot } = await openBrowserPage(t);

  await page.goto(mesh.uiUrl);

  await t.test('overview: topology with live edges, services, token gone from the address bar', async () => {
    await page.waitForSelector('[data-testid=service-row]');
    assert.ok(!page.url().includes('token='), `token still in ${page.url()}`);
    for (const name of ['front', 'back']) await page.locator(`[data-testid=topology-node][data-service=${name}]`).waitFor();
    await waitFor('both instances running', async () => (await page.locator('[data-testid=instance-row][data-state=running]').count()) >= 2, 15_000);
    await waitFor('a live front → back edge', async () => {
      const rps = await page.locator('[data-testid=topology-edge][data-source=front][data-target=back]').getAttribute('data-rps');
      return rps !== null && Number(rps) > 0;
    }, 15_000);
    assert.match(await page.locator('[data-testid=config-status]').innerText(), /uitest/);
    await shot('overview');
  });

  await t.test('service detail: logs linked to traces, search, golden metrics', async () => {
    await page.locator('[data-testid=topology-node][data-service=back]').click();
    await page.locator('[data-testid=service-page][data-service=back]').waitFor();
    await waitFor('log lines with trace links', async () => (await page.locator('[data-testid=log-trace-link]').count()) >= 2, 15_000);
    await page.locator('[data-testid=log-search]').fill('failing request');
    await waitFor('only matching lines', async () => {
      const texts = await page.locator('[data-testid=log-line]').allInnerTexts();
      return texts.length > 0 && texts.every((x) => x.includes('failing request'));
    }, 10_000);
    await waitFor('inbound requests in the metrics', async () => Number(await page.locator('[data-testid=metrics-inbound]').getAttribute('data-requests')) > 0, 15_000);
    await page.locator('[data-testid=log-search]').fill('');
    await shot('service');
    // A log line's trace link opens that trace.
    const link = page.locator('[data-testid=log-trace-link]').first();
    const traceId = await link.evaluate((a) => a.closest('[data-testid=log-line]')!.getAttribute('data-trace-id'));
    await link.click();
    await page.locator(`[data-testid=waterfall][data-trace-id="${traceId}"]`).waitFor();
  });

  await t.test('service detail: restart a service from the UI, with progress', async () => {
    await page.goto(`${mesh.apiBase}/#/service?name=back`);
    const pidBefore = (await mesh.api<StatusResponse>('/api/status')).services.find((s) => s.name === 'back')!.instances[0]!.pid;
    await page.locator('[data-testid=restart-back]').click();
    await page.locator('[data-testid=operation][data-action=restart]').first().waitFor();
    await waitFor('restart done', async () => (await page.locator('[data-testid=operation][data-action=restart][data-state=succeeded]').count()) > 0, 30_000);
    const after = (await mesh.api<StatusResponse>('/api/status')).services.find((s) => s.name === 'back')!.instances[0]!;
    assert.equal(after.state, 'running');
    assert.notEqual(after.pid, pidBefore);
  });

  await t.test('trace inspector: status filter, waterfall with critical path, compare, OTLP export', async () => {
    await page.locator('[data-testid=nav-traces]').click();
    await page.locator('[data-testid=trace-row]').first().waitFor();
    await page.locator('[data-testid=trace-status-filter]').selectOption('error');
    await waitFor('only failed traces listed', async () => {
      const statuses = await page.locator('[data-testid=trace-row] td:nth-child(4)').allInnerTexts();
      return statuses.length > 0 && statuses.every((s) => s.startsWith('500'));
    }, 10_000);
    const rows = page.locator('[data-testid=trace-row]');
    const first = await rows.nth(0).getAttribute('data-trace-id');
    await rows.nth(0).click();
    const waterfall = page.locator(`[data-testid=waterfall][data-trace-id="${first}"]`);
    await waterfall.waitFor();
    await waitFor('spans of front and back', async () => (await waterfall.locator('[data-testid=span-row][data-service=back]').count()) > 0, 15_000);
    assert.ok((await waterfall.locator('[data-testid=span-row][data-critical=true]').count()) >= 2, 'critical path marked');
    await waterfall.locator('[data-testid=span-row][data-service=back]').first().click();
    await page.locator('[data-testid=span-details]').waitFor();
    // The span detail shows the request and response headers the sidecar recorded, in two tables.
    const requestHeaders = page.locator('[data-testid=span-details] [data-testid=span-request-headers]');
    await requestHeaders.waitFor();
    assert.match(await requestHeaders.locator('[data-testid=header-row][data-header=traceparent]').innerText(), /traceparent\s+00-[0-9a-f]{32}-/);
    const responseHeaders = page.locator('[data-testid=span-details] [data-testid=span-response-headers]');
    await responseHeaders.waitFor();
    assert.ok((await responseHeaders.locator('[data-testid=header-row]').count()) > 0, 'response headers listed');
    assert.equal(await page.locator('[data-testid=span-details] dt', { hasText: /^http\.request\.header\./ }).count(), 0, 'headers are not repeated as attributes');
    await shot('traces');
    const download = page.waitForEvent('download');
    await page.locator('[data-testid=export-otlp]').click();
    const file = await (await download).path();
    const otlp = JSON.parse(readFileSync(file, 'utf8')) as { resourceSpans: unknown[] };
    assert.ok(otlp.resourceSpans.length >= 2);

    await page.locator('[data-testid=trace-status-filter]').selectOption('');
    await page.locator('[data-testid=compare-button]').click();
    await page.locator('[data-testid=compare-hint]').waitFor();
    const other = page.locator(`[data-testid=trace-row]:not([data-trace-id="${first}"])`).first();
    await other.click();
    await page.locator('[data-testid=trace-compare]').waitFor();
    await waitFor('paired spans with timing differences', async () => {
      const deltas = await page.locator('[data-testid=compare-row]').evaluateAll((r) => r.map((x) => x.getAttribute('data-delta')));
      return deltas.filter((d) => d !== '').length >= 2;
    }, 10_000);
    await shot('compare');
  });

  await t.test('routes & policies: a retry edit in the form changes real traffic; undo brings the failures back', async () => {
    await page.locator('[data-testid=nav-config]').click();
    await page.locator('[data-testid=config-service]').selectOption('back');
    await page.locator('[data-testid=rule][data-rule=flaky]').click();
    await page.locator('[data-testid=yaml-editor] .cm-content').waitFor();
    await page.locator('[data-testid=retry-attempts]').fill('3');
    await page.locator('[data-testid=retry-attempts]').press('Enter');
    await page.locator('[data-testid=retry-on]').fill('5xx');
    await page.locator('[data-testid=retry-on]').press('Enter');
    await waitFor('the editor shows the edit', async () => (await page.locator('[data-testid=yaml-editor]').innerText()).includes('attempts: 3'), 5000);
    await waitFor('validated', async () => (await page.locator('[data-testid=validation]').getAttribute('data-valid')) === 'true', 10_000);
    await page.locator('[data-testid=config-review]').click();
    const added = await page.locator('[data-testid=diff-add]').allInnerTexts();
    assert.ok(added.some((l) => l.includes('attempts: 3')), added.join('\n'));
    await shot('config');
    await page.locator('[data-testid=config-apply]').click();
    await page.locator('[data-testid=apply-result][data-applied=true]').waitFor({ timeout: 15_000 });
    const onDisk = readFileSync(join(mesh.dir, 'devmesh.yaml'), 'utf8');
    assert.match(onDisk, /# back fails every other request/, 'comments kept');
    assert.match(onDisk, /attempts: 3/);
    // Pushes are asynchronous: every sidecar ACKs the applied version shortly after the apply answers.
    await waitFor('every sidecar to ACK the applied version', async () => {
      const status = await mesh.api<StatusResponse>('/api/status');
      return status.services.every((s) => s.instances.every((i) => i.sidecar.ackedVersion === status.config.version && i.sidecar.lastNack === null));
    }, 10_000);
    assert.ok((await page.locator('[data-testid=sidecar-ack]').count()) >= 2);

    const after = await traffic(front, 8);
    assert.deepEqual(after, Array(8).fill(200), `with 3 retries on 5xx every request succeeds: ${after.join(',')}`);
    // The retries are visible in the traces: a call to back with 2 tries and the reason.
    await waitFor('a retried call in a trace', async () => {
      const list = await mesh.api<TraceListResponse>('/api/traces?attribute=retry.reasons&limit=5');
      if (!list.traces[0]) return false;
      const detail = await mesh.api<TraceDetailResponse>(`/api/traces/${list.traces[0].traceId}`);
      return detail.spans.some((s) => s.kind === 'client' && s.attempts === 2);
    }, 15_000);

    await page.locator('[data-testid=config-undo]').click();
    await waitFor('the file back to no retries', () => /attempts: 0/.test(readFileSync(join(mesh.dir, 'devmesh.yaml'), 'utf8')), 10_000);
    await waitFor('failures again after undo', async () => (await traffic(front, 4)).includes(500), 15_000);
  });

  await t.test('the editor shows a validation problem as you type', async () => {
    await page.locator('[data-testid=yaml-editor] .cm-content').click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('\nbogus: 1');
    await waitFor('a located problem', async () => (await page.locator('[data-testid=problems]').innerText().catch(() => '')).includes('bogus'), 10_000);
    await page.locator('[data-testid=config-revert]').click();
    // The YAML's keys, strings and comments read in both themes (WCAG AA: contrast ≥ 4.5 against the panel).
    const theme = () => page.evaluate('document.documentElement.dataset.theme') as Promise<string>;
    for (const wanted of ['dark', 'light', 'dark']) {
      if ((await theme()) !== wanted) await page.locator('[data-testid=theme-toggle]').click();
      const colours = (await page.evaluate(`(() => {
        const editor = getComputedStyle(document.querySelector('[data-testid=yaml-editor] .cm-editor'));
        return ['tok-key', 'tok-string', 'tok-literal', 'tok-comment'].flatMap((c) => {
          const el = document.querySelector('[data-testid=yaml-editor] .' + c);
          return el ? [[c, getComputedStyle(el).color, editor.backgroundColor, editor.color]] : [];
        });
      })()`)) as [string, string, string, string][];
      assert.ok(colours.some(([c]) => c === 'tok-key') && colours.length >= 2, `highlighted tokens in the editor: ${JSON.stringify(colours)}`);
      assert.ok(colours.every(([, fg, , text]) => fg !== text), `each kind of token has a colour of its own: ${JSON.stringify(colours)}`);
      for (const [token, fg, bg] of colours) {
        assert.ok(contrast(fg, bg) >= 4.5, `${wanted} theme: ${token} ${fg} on ${bg} has contrast ${contrast(fg, bg).toFixed(2)}`);
      }
    }
  });

  await t.test('tap: live requests with the matched rule, pausable', async () => {
    await page.locator('[data-testid=nav-tap]').click();
    await page.locator('[data-testid=tap-service]').selectOption('back');
    await page.waitForTimeout(600);
    await traffic(front, 4);
    await waitFor('tap rows with the rule', async () => (await page.locator('[data-testid=tap-row][data-route*=flaky]').count()) > 0, 10_000);
    await shot('tap');
    await page.locator('[data-testid=tap-pause]').click();
    const n = await page.locator('[data-testid=tap-row]').count();
    await traffic(front, 3);
    await page.waitForTimeout(1200);
    assert.equal(await page.locator('[data-testid=tap-row]').count(), n, 'paused: no new rows');
  });

  await t.test('light theme and keyboard navigation', async () => {
    const theme = () => page.evaluate('document.documentElement.dataset.theme') as Promise<string>;
    const first = await theme();
    await page.locator('[data-testid=theme-toggle]').click();
    assert.notEqual(await theme(), first, 'the toggle switches the theme');
    if ((await theme()) !== 'light') await page.locator('[data-testid=theme-toggle]').click();
    assert.equal(await theme(), 'light');
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('1');
    await page.locator('[data-testid=topology]').waitFor();
    await shot('overview-light');
    await page.locator('[data-testid=theme-toggle]').click();
    assert.equal(await theme(), 'dark');
  });

  await t.test('/metrics federates the sidecars; OTLP ingest joins an app span to a trace', async () => {
    assert.equal((await fetch(`${mesh.apiBase}/metrics`)).status, 401, '/metrics needs the token');
    // Prometheus reads the token from the run's token file (credentials_file), as the README shows.
    const runDir = join(mesh.home, 'run');
    const tokenFile = readdirSync(runDir).find((f) => f.endsWith('.token'))!;
    assert.equal(statSync(join(runDir, tokenFile)).mode & 0o777, 0o600);
    const credentials = readFileSync(join(runDir, tokenFile), 'utf8');
    const metrics = await (await fetch(`${mesh.apiBase}/metrics`, { headers: { authorization: `Bearer ${credentials}` } })).text();
    assert.match(metrics, /istio_requests_total\{[^}]*pod="back-0"/);
    assert.match(metrics, /devmesh_instances/);
    const status = await mesh.api<StatusResponse>('/api/status');
    assert.ok(status.otlpEndpoint, 'an OTLP endpoint');
    const list = await mesh.api<TraceListResponse>('/api/traces?service=back&limit=1');
    const traceId = list.traces[0]!.traceId;
    const now = BigInt(Date.now()) * 1_000_000n;
    const res = await fetch(`${status.otlpEndpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...status.otlpHeaders },
      body: JSON.stringify({
        resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'back' } }] }, scopeSpans: [{ spans: [{ traceId, spanId: '00000000000000aa', name: 'db query', kind: 1, startTimeUnixNano: String(now), endTimeUnixNano: String(now + 2_000_000n) }] }] }],
      }),
    });
    assert.equal(res.status, 200);
    const detail = await mesh.api<TraceDetailResponse>(`/api/traces/${traceId}`);
    assert.ok(detail.spans.some((s) => s.spanId === '00000000000000aa' && s.kind === 'internal'));
  });

  await t.test('stop and start the whole mesh from the UI', async () => {
    await page.locator('[data-testid=nav-overview]').click();
    await page.locator('[data-testid=stop-mesh]').click();
    await waitFor('every instance stopped', async () => (await page.locator('[data-testid=instance-row][data-state=stopped]').count()) === 2, 20_000);
    await page.locator('[data-testid=start-mesh]').click();
    await waitFor('every instance running again', async () => (await page.locator('[data-testid=instance-row][data-state=running]').count()) === 2, 30_000);
    const res = await fetch(`${front}/again`);
    await res.arrayBuffer();
    assert.ok([200, 500].includes(res.status), `served after a restart of the mesh: ${res.status}`);
  });

  await t.test('no banner and no script errors', async () => {
    assert.equal(await page.locator('[data-testid=error-banner]').count(), 0);
    assert.deepEqual(pageErrors, []);
  });
});

/** WCAG 2 contrast ratio of two CSS rgb()/rgba() colours. */
function contrast(a: string, b: string): number {
  const luminance = (css: string): number => {
    const [r, g, bl] = (css.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}
