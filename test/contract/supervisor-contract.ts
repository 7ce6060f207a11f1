// One suite every Supervisor runs (as Hono runs one router suite against each router): start, health,
// logs on both streams, crash → backoff → restart with a growing delay, stop, and reaping after the owner
// is killed with SIGKILL. An implementation that cannot run here is skipped with the reason, per test.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceState } from '../../src/contract/api.js';
import { freePort } from '../../src/supervisor/free-port.js';
import type { Supervisor, Workload, WorkloadSpec } from '../../src/supervisor/supervisor.js';
import { isAlive, processesOfHome, tempHome, waitFor } from '../helpers/mesh-process.js';

/**
 * The app every implementation runs: health on /healthz, a line on stdout and one on stderr at start,
 * /crash exits with code 3, and a child process it leaves in its own process group (a stop must take it too).
 */
const APP = `
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
console.log('contract app: hello on stdout');
console.error('contract app: hello on stderr');
createServer((req, res) => {
  if (req.url === '/crash') { res.end('bye'); setTimeout(() => process.exit(3), 10); return; }
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

export interface AppPlace {
  /** Folder holding app.mjs. */
  dir: string;
  port: number;
  /** DEVMESH_HOME given to the workload: every process of it carries it (and the runner's leak check sees it). */
  home: string;
}

export interface SupervisorHarness {
  supervisor: Supervisor;
  /** A spec that runs `${dir}/app.mjs` with `env`, listening on PORT, health /healthz. */
  spec(id: string, place: AppPlace, env: Record<string, string>): WorkloadSpec;
  /** True when nothing the workload ran is left in the runtime (its process group, its container). */
  gone(spec: WorkloadSpec, pid: number): Promise<boolean>;
  /**
   * Starts `spec` under a supervisor owned by another process with its own reaper, and resolves with that
   * owner's pid once the workload is ready; the suite kills the owner with SIGKILL.
   */
  startOwned(spec: WorkloadSpec): Promise<{ ownerPid: number; workloadPid: number }>;
  close(): Promise<void>;
}

/** How long the reaper may take after its owner died: its SIGTERM → SIGKILL wait (2 s), the grace period, a margin. */
export function reapWithinMs(graceMs: number): number {
  return graceMs + 2000 + 8000;
}

/** The grace period the owner gives its reaper (short here: the tests wait it out). */
export const REAPER_GRACE_MS = 500;

/** The mesh, home and run the container supervisor names its containers after, in these tests. */
export const CONTRACT_RUN = { mesh: 'contract', home: '/nonexistent/devmesh-contract-home', runId: 'contract' };

interface Observed {
  states: { state: InstanceState; detail: string | null; at: number }[];
  logs: { stream: 'stdout' | 'stderr'; line: string }[];
}

function observe(): Observed & { events: { onState(s: InstanceState, d: string | null): void; onLog(s: 'stdout' | 'stderr', l: string): void } } {
  const o: Observed = { states: [], logs: [] };
  return {
    ...o,
    events: {
      onState: (state, detail) => o.states.push({ state, detail, at: Date.now() }),
      onLog: (stream, line) => o.logs.push({ stream, line }),
    },
  };
}

async function get(port: number, path: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
}

/** Checks an implementation is known to fail today, each with the reason: run as `todo`, so they report without failing. */
export type SupervisorGaps = Partial<Record<'crash leaves nothing', string>>;

export function supervisorContract(name: string, makeHarness: () => Promise<SupervisorHarness | { skip: string }>, gaps: SupervisorGaps = {}): void {
  describe(`supervisor contract: ${name}`, () => {
    let harness: SupervisorHarness | null = null;
    let skip: string | null = null;
    const homes: string[] = [];

    before(async () => {
      const made = await makeHarness();
      if ('skip' in made) {
        skip = made.skip;
        console.log(`# supervisor contract: ${name} skipped: ${skip}`);
      } else harness = made;
    });
    after(async () => {
      await harness?.supervisor.stopAll(1000);
      await harness?.close();
      for (const home of homes) {
        // What a known gap leaves (see `gaps`) must not outlive the test run; the tests above report it.
        for (const pid of processesOfHome(home)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone meanwhile */
          }
        }
        rmSync(home, { recursive: true, force: true });
      }
    });

    function need(t: TestContext): SupervisorHarness | null {
      if (skip) t.skip(skip);
      return harness;
    }

    async function place(): Promise<AppPlace> {
      const home = tempHome();
      homes.push(home);
      const dir = join(home, 'app');
      mkdirSync(dir);
      writeFileSync(join(dir, 'app.mjs'), APP);
      return { dir, home, port: await freePort() };
    }

    test('start: health makes it running, both output streams arrive line by line, stop leaves nothing', { timeout: 60_000 }, async (t) => {
      const h = need(t);
      if (!h) return;
      const p = await place();
      const spec = h.spec('contract-start', p, { DEVMESH_HOME: p.home });
      const seen = observe();
      const w = h.supervisor.start(spec, seen.events);
      await w.ready;
      assert.equal(w.state, 'running');
      assert.deepEqual(seen.states.map((s) => s.state).filter((s) => s === 'starting' || s === 'running'), ['starting', 'running']);
      assert.equal(await get(p.port, '/healthz'), 200);
      assert.ok(w.pid && isAlive(w.pid), `a live pid while running (${w.pid})`);
      assert.ok(w.startedAtMs !== null && w.startedAtMs <= Date.now());
      await waitFor('a line on each stream', () =>
        seen.logs.some((l) => l.stream === 'stdout' && l.line === 'contract app: hello on stdout') &&
        seen.logs.some((l) => l.stream === 'stderr' && l.line === 'contract app: hello on stderr'),
      );
      const pid = w.pid;
      await w.stop(2000);
      assert.equal(w.state, 'stopped');
      assert.equal(w.pid, null);
      // A killed process stays visible for a moment until its parent (or init) reaps it.
      await waitFor('nothing of the workload to be left in the runtime', () => h.gone(spec, pid!), 5000);
      await waitFor('every process of the workload (its child too) to be gone', () => processesOfHome(p.home).length === 0, 5000);
      await new Promise((r) => setTimeout(r, 600)); // longer than the first backoff: no restart follows a stop
      assert.equal(w.state, 'stopped');
      assert.equal(w.restarts, 0);
    });

    test('crash: backoff, then a restart with a growing delay, counted', { timeout: 90_000 }, async (t) => {
      const h = need(t);
      if (!h) return;
      const p = await place();
      const seen = observe();
      const w = h.supervisor.start(h.spec('contract-crash', p, { DEVMESH_HOME: p.home }), seen.events);
      t.after(() => w.stop(1000));
      await w.ready;
      for (const n of [1, 2]) {
        await get(p.port, '/crash').catch(() => 0);
        await waitFor(`restart ${n} to be healthy`, () => w.restarts === n && w.state === 'running', 30_000, 50);
      }
      const backoffs = seen.states.filter((s) => s.state === 'backoff');
      assert.equal(backoffs.length, 2);
      for (const b of backoffs) assert.match(b.detail ?? '', /exited with code 3; restarting in \d+ ms/);
      const delays = backoffs.map((b) => Number(/restarting in (\d+) ms/.exec(b.detail!)![1]));
      assert.ok(delays[1]! > delays[0]!, `the delay grows: ${delays.join(', ')} ms`);
      // The restart waits out the announced delay: the next start comes no earlier.
      for (const [i, b] of backoffs.entries()) {
        const next = seen.states.find((s) => s.at >= b.at && s.state === 'starting');
        assert.ok(next && next.at - b.at >= delays[i]! - 20, `restart ${i + 1} came after ${next ? next.at - b.at : '?'} ms, announced ${delays[i]} ms`);
      }
      assert.match(w.lastExit ?? '', /exited with code 3/);
      assert.equal(await get(p.port, '/healthz'), 200);
    });

    test('crash leaves nothing: what the crashed run forked ends with it', { timeout: 60_000, todo: gaps['crash leaves nothing'] }, async (t) => {
      const h = need(t);
      if (!h) return;
      const p = await place();
      const leftAtCrash: number[] = [];
      const w = h.supervisor.start(h.spec('contract-orphans', p, { DEVMESH_HOME: p.home }), {
        onState: (state) => {
          if (state === 'backoff') leftAtCrash.push(...processesOfHome(p.home));
        },
        onLog: () => {},
      });
      t.after(() => w.stop(1000));
      await w.ready;
      await get(p.port, '/crash').catch(() => 0);
      await waitFor('the restart to be healthy', () => w.restarts === 1 && w.state === 'running', 30_000, 50);
      await new Promise((r) => setTimeout(r, 2000)); // time enough for a supervisor that ends the old run late
      const current = new Set(processesOfHome(p.home));
      assert.deepEqual(leftAtCrash.filter((pid) => current.has(pid) && !isOfRun(pid, w)), [], 'processes of the crashed run still alive');
    });

    test('kill -9 of the owner: its reaper ends the workload', { timeout: 90_000 }, async (t) => {
      const h = need(t);
      if (!h) return;
      const p = await place();
      const spec = h.spec('contract-reap', p, { DEVMESH_HOME: p.home });
      const { ownerPid, workloadPid } = await h.startOwned(spec);
      t.after(() => {
        if (isAlive(ownerPid)) process.kill(ownerPid, 'SIGKILL');
      });
      assert.equal(await get(p.port, '/healthz'), 200);
      process.kill(ownerPid, 'SIGKILL');
      await assertReaped(h, spec, workloadPid, p.home, reapWithinMs(REAPER_GRACE_MS));
    });
  });
}

/** A process belongs to the workload's current run when it is in the run's process group. */
function isOfRun(pid: number, w: Workload): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces, so split after the ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return w.pid !== null && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === w.pid;
  } catch {
    return false; // gone
  }
}

/**
 * The reaping check, in one place: after the owner died, everything the workload ran is gone within
 * `withinMs` (which includes the reaper's grace period, during which a restarted owner could re-adopt).
 */
export async function assertReaped(h: SupervisorHarness, spec: WorkloadSpec, workloadPid: number, home: string, withinMs: number): Promise<void> {
  await waitFor('the reaper to end the workload after its owner was killed', async () => (await h.gone(spec, workloadPid)) && processesOfHome(home).length === 0, withinMs, 200);
}

/** Runs `node <ownerScript> <json>` detached and resolves when it prints "ready <pid>". */
export function spawnOwner(ownerScript: string, request: object, env: Record<string, string>): Promise<{ ownerPid: number; workloadPid: number }> {
  const child = spawn(process.execPath, [ownerScript, JSON.stringify(request)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /^ready (\d+)$/m.exec(out);
      if (m) resolve({ ownerPid: child.pid!, workloadPid: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`the owner exited with ${code} before its workload was ready: ${err}`)));
  });
}
