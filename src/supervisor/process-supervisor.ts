// Runs workloads as local processes. Each gets its own process group (so a stop reaches whatever the
// command forked too), its output line by line, a health wait, and a restart with backoff after a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { InstanceState } from '../contract/api.js';
import type { Reaper } from './reaper.js';
import type { Supervisor, Workload, WorkloadEvents, WorkloadSpec } from './supervisor.js';

const START_TIMEOUT_MS = 60_000;
const HEALTH_INTERVAL_MS = 100;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** A process that ran this long before crashing starts its backoff from scratch. */
const STABLE_AFTER_MS = 10_000;

/** Probes once: 2xx on the health path, or an accepted connection when there is no path. */
export function probe(port: number, path: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (path === undefined) {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
      socket.setTimeout(1000, () => {
        socket.destroy();
        resolve(false);
      });
      return;
    }
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Plain commands are exec'd by the shell so the pid we report is the app's own. */
function shellCommand(command: string): string {
  return /[;&|\n`$()<>]/.test(command) ? command : `exec ${command}`;
}

class ProcessWorkload implements Workload {
  state: InstanceState = 'pending';
  pid: number | null = null;
  restarts = 0;
  startedAtMs: number | null = null;
  lastExit: string | null = null;
  readonly ready: Promise<void>;
  private child: ChildProcess | null = null;
  private stopping = false;
  private crashesInARow = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private everHealthy = false;
  private settleReady!: (err?: Error) => void;

  constructor(
    private readonly spec: WorkloadSpec,
    private readonly events: WorkloadEvents,
    private readonly reaper: Reaper | null,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (err) => (err ? reject(err) : resolve());
    });
    this.ready.catch(() => {}); // callers that do not wait must not see an unhandled rejection
    this.launch();
  }

  get id(): string {
    return this.spec.id;
  }

  private setState(state: InstanceState, detail: string | null = null): void {
    this.state = state;
    this.events.onState(state, detail);
  }

  private launch(): void {
    this.restartTimer = null;
    const child = spawn('/bin/sh', ['-c', shellCommand(this.spec.command)], {
      cwd: this.spec.cwd,
      env: { ...process.env, ...this.spec.env, PORT: String(this.spec.port) },
      detached: true, // its own process group: Ctrl-C in the terminal must not kill apps before their sidecars drain
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.pid = child.pid ?? null;
    this.startedAtMs = Date.now();
    if (child.pid) this.reaper?.watch(child.pid);
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream]! }).on('line', (line) => this.events.onLog(stream, line));
    }
    child.on('error', (err) => {
      // spawn itself failed (e.g. cwd missing): no exit event follows in every case, so settle here.
      this.onExit(`spawn "${this.spec.command}" in ${this.spec.cwd}: ${err.message}`, child);
    });
    child.on('exit', (code, signal) => {
      this.onExit(signal ? `killed by ${signal}` : `exited with code ${code}${code === 127 ? ' (command not found)' : ''}`, child);
    });
    this.setState('starting');
    void this.waitHealthy(child);
  }

  private async waitHealthy(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (this.child === child && !this.stopping && child.exitCode === null) {
      if (await probe(this.spec.port, this.spec.health)) {
        if (this.child !== child || this.stopping) return;
        this.everHealthy = true;
        this.setState('running');
        this.settleReady();
        return;
      }
      if (Date.now() > deadline) {
        const what = this.spec.health ? `GET ${this.spec.health} on port ${this.spec.port} did not answer 2xx` : `nothing listens on PORT ${this.spec.port}`;
        this.events.onLog('stderr', `[devmesh] ${this.spec.id}: not ready after ${START_TIMEOUT_MS / 1000}s: ${what}`);
        this.settleReady(new Error(`${this.spec.id}: not ready after ${START_TIMEOUT_MS / 1000}s: ${what}`));
        return;
      }
      await new Promise((r) => setTimeout(r, HEALTH_INTERVAL_MS));
    }
  }

  private onExit(reason: string, child: ChildProcess): void {
    if (this.child !== child) return; // a late event of a previous run
    this.child = null;
    if (child.pid) this.reaper?.forget(child.pid);
    this.pid = null;
    this.lastExit = reason;
    if (this.stopping) {
      this.setState('stopped', reason);
      return;
    }
    const ranFor = Date.now() - (this.startedAtMs ?? Date.now());
    this.crashesInARow = ranFor > STABLE_AFTER_MS ? 1 : this.crashesInARow + 1;
    if (!this.everHealthy) this.settleReady(new Error(`${this.spec.id}: ${reason} before it was ready`));
    const delay = Math.min(BACKOFF_BASE_MS * 2 ** (this.crashesInARow - 1), BACKOFF_MAX_MS);
    this.setState('backoff', `${reason}; restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restarts++;
      this.launch();
    }, delay);
  }

  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      this.setState('stopped', this.lastExit);
      return;
    }
    this.setState('stopping');
    const pgid = child.pid;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-pgid, signal);
      } catch {
        /* the group is gone */
      }
    };
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    // Whatever the app forked and left in its group goes too.
    signalGroup('SIGKILL');
  }
}

export class ProcessSupervisor implements Supervisor {
  readonly kind = 'process' as const;
  private readonly workloads = new Set<ProcessWorkload>();

  constructor(private readonly reaper: Reaper | null) {}

  start(spec: WorkloadSpec, events: WorkloadEvents): Workload {
    const w = new ProcessWorkload(spec, events, this.reaper);
    this.workloads.add(w);
    return w;
  }

  async stopAll(graceMs?: number): Promise<void> {
    await Promise.all([...this.workloads].map((w) => w.stop(graceMs)));
    this.workloads.clear();
  }
}
