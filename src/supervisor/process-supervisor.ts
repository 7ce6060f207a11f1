// Runs workloads as local processes. Each gets its own process group (so a stop reaches whatever the
// command forked too), its output line by line, a health wait, and a restart with backoff after a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { Reaper } from './reaper.js';
import { SupervisedWorkload } from './supervised-workload.js';
import type { Supervisor, Workload, WorkloadEvents, WorkloadSpec } from './supervisor.js';

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

class ProcessWorkload extends SupervisedWorkload {
  private child: ChildProcess | null = null;

  constructor(
    spec: WorkloadSpec,
    events: WorkloadEvents,
    private readonly reaper: Reaper | null,
  ) {
    super(spec, events);
    this.launch();
  }

  private launch(): void {
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
    void this.waitHealthy(
      () => this.child === child && child.exitCode === null,
      () => probe(this.spec.port, this.spec.health),
      () => (this.spec.health ? `GET ${this.spec.health} on port ${this.spec.port} did not answer 2xx` : `nothing listens on PORT ${this.spec.port}`),
    );
  }

  private onExit(reason: string, child: ChildProcess): void {
    if (this.child !== child) return; // a late event of a previous run
    this.child = null;
    if (child.pid) this.reaper?.forget(child.pid);
    this.pid = null;
    if (this.stopping) {
      this.lastExit = reason;
      this.setState('stopped', reason);
      return;
    }
    this.restartAfterCrash(reason, () => this.launch());
  }

  async stop(graceMs = 5000): Promise<void> {
    this.beginStop();
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
