// Chaos under load, in numbers. Steady traffic (150 req/s for 4 s per phase, from the test, as an app
// would send it: through client's outbound listener) to a service with two replicas; 1.5 s into a phase
// one process is killed with SIGKILL: first an app instance, then (with both replicas back) a sidecar.
// Figures per phase: requests sent, answered (2xx), failed, retried-away (answered after a retry: traces
// with the retry.reasons span attribute, from the trace store), and requests in flight when the kill
// landed. With a retry policy no request a retry could save may be lost; without one only the requests in
// flight on the killed process may fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceStatus, StatusResponse, TraceSummary } from '../../src/contract/api.js';
import { startMesh, waitFor, type RunningMesh } from '../helpers/mesh-process.js';
import { ADVERSARIAL_APPS } from './adversarial-mesh.js';

const RATE = 150;
const PHASE_MS = 4000;
const KILL_AT_MS = 1500;

function chaosYaml(retries: string): string {
  return `name: chaos
mtls: STRICT
services:
  client:
    run: node recorder.js
    upstreams: [api]
    health: /healthz
  api:
    run: node recorder.js
    replicas: 2
    health: /healthz
    env: { APP_DELAY_MS: "10" }
routes:
  api:
    - route: [{ destination: { host: api } }]
      retries: ${retries}
      timeout: 5s
`;
}

interface Figures {
  phase: string;
  sent: number;
  answered: number;
  failed: number;
  retriedAway: number;
  inFlightAtKill: number;
  failures: string[];
}

async function instances(mesh: RunningMesh): Promise<InstanceStatus[]> {
  return (await mesh.api<StatusResponse>('/api/status')).services.find((s) => s.name === 'api')!.instances;
}

async function allRunning(mesh: RunningMesh): Promise<void> {
  await waitFor('both api replicas running with their sidecars', async () => {
    const is = await instances(mesh);
    return is.length === 2 && is.every((i) => i.state === 'running' && i.sidecar.pid !== null && i.sidecar.ackedVersion > 0);
  }, 30_000);
  await new Promise((r) => setTimeout(r, 1000)); // the endpoints pushed to client's sidecar
}

async function runPhase(mesh: RunningMesh, port: number, phase: string, victim: () => Promise<number>): Promise<Figures> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const inFlight = new Set<number>();
  const failures: string[] = [];
  let sent = 0;
  let answered = 0;
  let inFlightAtKill = -1;
  const started = Date.now();
  const one = (n: number) =>
    new Promise<void>((resolve) => {
      inFlight.add(n);
      const done = (ok: boolean, why: string) => {
        inFlight.delete(n);
        if (ok) answered++;
        else failures.push(why);
        resolve();
      };
      const req = http.get({ host: '127.0.0.1', port, path: `/chaos-${phase.replace(/\W+/g, '-')}-${n}`, agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200, `${res.statusCode} ${res.headers['x-devmesh-error'] ?? ''}`));
        res.on('error', (err) => done(false, `body: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (err) => done(false, (err as NodeJS.ErrnoException).code ?? err.message));
    });
  const pending: Promise<void>[] = [];
  const killed = (async () => {
    await new Promise((r) => setTimeout(r, KILL_AT_MS));
    // The pid first (an API call, during which requests keep leaving), then the count and the kill together.
    const pid = await victim();
    inFlightAtKill = inFlight.size;
    process.kill(pid, 'SIGKILL');
  })();
  // Open loop: requests leave on schedule whether or not earlier ones were answered.
  while (Date.now() - started < PHASE_MS) {
    const due = Math.floor(((Date.now() - started) / 1000) * RATE);
    while (sent < due) pending.push(one(sent++));
    await new Promise((r) => setTimeout(r, 5));
  }
  // A timer that woke late on a loaded machine ended the loop short of the schedule: the last ones leave now.
  while (sent < (RATE * PHASE_MS) / 1000) pending.push(one(sent++));
  await killed;
  await Promise.all(pending);
  agent.destroy();
  const toMs = Date.now();
  await new Promise((r) => setTimeout(r, 1500)); // spans are flushed within 200 ms, stored in batches
  const { traces } = await mesh.api<{ traces: TraceSummary[] }>(`/api/traces?attribute=retry.reasons&fromMs=${started}&toMs=${toMs}&limit=1000`);
  const retriedAway = traces.filter((t) => t.status === 200 && t.path.startsWith(`/chaos-${phase.replace(/\W+/g, '-')}-`)).length;
  return { phase, sent, answered, failed: failures.length, retriedAway, inFlightAtKill, failures };
}

function printTable(title: string, rows: Figures[]): void {
  const lines = [
    `chaos: ${title} (${RATE} req/s, ${PHASE_MS / 1000} s per phase, SIGKILL at ${KILL_AT_MS / 1000} s)`,
    '| phase | sent | answered | failed | retried-away | in flight at kill |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.phase} | ${r.sent} | ${r.answered} | ${r.failed} | ${r.retriedAway} | ${r.inFlightAtKill} |`),
  ];
  console.log(lines.join('\n'));
  for (const r of rows) if (r.failures.length) console.log(`  ${r.phase} failures: ${summarise(r.failures)}`);
}

function summarise(failures: string[]): string {
  const counts = new Map<string, number>();
  for (const f of failures) counts.set(f.trim(), (counts.get(f.trim()) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v}× ${k}`).join(', ');
}

async function chaos(retries: string): Promise<Figures[]> {
  const mesh = await startMesh({ yaml: chaosYaml(retries), files: ADVERSARIAL_APPS });
  try {
    const envFile = join(mesh.dir, 'logs', 'client-0.env.json');
    const env = await waitFor('client-0 to write its upstream URLs', () => existsSync(envFile) && (JSON.parse(readFileSync(envFile, 'utf8')) as { upstreams: Record<string, string> }));
    const port = Number(new URL(env.upstreams.API_URL!).port);
    await allRunning(mesh);
    const rows: Figures[] = [];
    rows.push(
      await runPhase(mesh, port, 'kill -9 an app instance (api-0)', async () => (await instances(mesh)).find((i) => i.id === 'api-0')!.pid!),
    );
    await allRunning(mesh);
    rows.push(
      await runPhase(mesh, port, "kill -9 a sidecar (api-1's)", async () => (await instances(mesh)).find((i) => i.id === 'api-1')!.sidecar.pid!),
    );
    return rows;
  } finally {
    await mesh.stop();
  }
}

test('chaos with retries { attempts: 3, retryOn: connect-failure,reset,5xx }: no request a retry could save is lost', async () => {
  const rows = await chaos('{ attempts: 3, retryOn: "connect-failure,reset,5xx" }');
  printTable('retries { attempts: 3, retryOn: "connect-failure,reset,5xx" }', rows);
  for (const r of rows) {
    assert.ok(r.sent >= (RATE * PHASE_MS) / 1000 - 5, `${r.phase}: the load was sent (${r.sent})`);
    assert.equal(r.failed, 0, `${r.phase}: ${summarise(r.failures)}`);
    assert.equal(r.answered, r.sent);
  }
});

test('chaos without retries (attempts: 0): only the requests in flight on the killed process fail', async () => {
  const rows = await chaos('{ attempts: 0 }');
  printTable('retries { attempts: 0 }', rows);
  for (const r of rows) {
    assert.ok(r.sent >= (RATE * PHASE_MS) / 1000 - 5, `${r.phase}: the load was sent (${r.sent})`);
    assert.equal(r.retriedAway, 0, 'nothing is retried');
    assert.ok(r.failed <= r.inFlightAtKill, `${r.phase}: ${r.failed} failed, ${r.inFlightAtKill} were in flight at the kill: ${summarise(r.failures)}`);
  }
});
