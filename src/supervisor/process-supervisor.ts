// Runs workloads as local processes. Each gets its own process group (so a stop reaches whatever the
// command forked too), its output line by line, a health wait, and a restart with backoff after a crash.
// Its output goes to files (./output-file.ts), so it outlives the control plane; a restarted control plane
// re-adopts a running process by its pid (`adopt`) and supervises it as if it had started it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandArgv, lookupIn, parseCommandLine } from './command-line.js';
import type { Reaper } from './reaper.js';
import { followLines, openOutputFile } from './output-file.js';
import { isAlive, waitGone, watchPid } from './pid-watch.js';
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

/**
 * The program, its arguments and its environment: the command line is split as a shell would
 * (./command-line.ts) and the program started directly, so no /bin/sh is needed and the pid is the app's.
 */
function commandOf(spec: WorkloadSpec): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  const env: Record<string, string | undefined> = { ...process.env, ...spec.env, PORT: String(spec.port) };
  const line = typeof spec.command === 'string' ? parseCommandLine(spec.command, lookupIn(env)) : { argv: expandArgv(spec.command, lookupIn(env)), env: {} };
  return { file: line.argv[0]!, args: line.argv.slice(1), env: { ...env, ...line.env } };
}

/** The command as the user wrote it, for messages. */
function shown(command: string | readonly string[]): string {
  return typeof command === 'string' ? `"${command}"` : JSON.stringify(command);
}

/** A running process the workload supervises: one it started (`child`), or one it re-adopted by pid. */
type Run = { pid: number; child: ChildProcess | null; unwatch: () => void; unfollow: () => void };

class ProcessWorkload extends SupervisedWorkload {
  private run: Run | null = null;

  constructor(
    spec: WorkloadSpec,
    events: WorkloadEvents,
    private readonly reaper: Reaper | null,
    private readonly outputDir: string,
    adopted?: { pid: number; startedAtMs: number | null },
  ) {
    super(spec, events);
    if (adopted) this.adopt(adopted.pid, adopted.startedAtMs);
    else this.launch();
  }

  private outputPath(stream: 'stdout' | 'stderr'): string {
    return join(this.outputDir, `${this.spec.id}.${stream}`);
  }

  /** Follows both output files; a fresh run reads them from their start, an adopted one from now on. */
  private follow(fromEnd: boolean): () => void {
    const stops = (['stdout', 'stderr'] as const).map((stream) => followLines(this.outputPath(stream), fromEnd, (line) => this.events.onLog(stream, line)));
    return () => stops.forEach((stop) => stop());
  }

  private launch(): void {
    const fds = { stdout: openOutputFile(this.outputPath('stdout'), true), stderr: openOutputFile(this.outputPath('stderr'), true) };
    let child: ChildProcess;
    try {
      let command: ReturnType<typeof commandOf>;
      try {
        command = commandOf(this.spec);
      } catch (err) {
        // The mesh file's validation refuses such a line first; a spec from elsewhere fails like a crash.
        const run: Run = { pid: 0, child: null, unwatch: () => {}, unfollow: () => {} };
        this.run = run;
        queueMicrotask(() => this.onExit(`run ${shown(this.spec.command)}: ${(err as Error).message}`, run));
        return;
      }
      child = spawn(command.file, command.args, {
        cwd: this.spec.cwd,
        env: command.env,
        detached: true, // its own process group: Ctrl-C in the terminal must not kill apps before their sidecars drain
        stdio: ['ignore', fds.stdout, fds.stderr],
      });
    } finally {
      closeSync(fds.stdout);
      closeSync(fds.stderr);
    }
    const run: Run = { pid: child.pid ?? 0, child, unwatch: () => {}, unfollow: this.follow(false) };
    this.run = run;
    this.pid = child.pid ?? null;
    this.startedAtMs = Date.now();
    if (child.pid) this.reaper?.watch(child.pid);
    child.on('error', (err: NodeJS.ErrnoException) => {
      // spawn itself failed (e.g. no such program, or cwd missing): no exit event follows in every case, so settle here.
      const why = err.code === 'ENOENT' && existsSync(this.spec.cwd) ? `command not found: ${err.path ?? String(this.spec.command)} (not a file, and not on PATH)` : err.message;
      this.onExit(`spawn ${shown(this.spec.command)} in ${this.spec.cwd}: ${why}`, run);
    });
    child.on('exit', (code, signal) => {
      this.onExit(signal ? `killed by ${signal}` : `exited with code ${code}${code === 127 ? ' (command not found)' : ''}`, run);
    });
    this.waitForHealth(run);
  }

  /** Takes over a process an earlier control plane started: same pid, output followed from now on. */
  private adopt(pid: number, startedAtMs: number | null): void {
    const run: Run = { pid, child: null, unwatch: () => {}, unfollow: this.follow(true) };
    this.run = run;
    this.pid = pid;
    this.startedAtMs = startedAtMs ?? Date.now();
    this.reaper?.watch(pid);
    // Not our child: its exit status is the reaping parent's, so only its going is known.
    run.unwatch = watchPid(pid, () => this.onExit('exited (re-adopted, so its exit status is not known)', run));
    if (!isAlive(pid)) {
      run.unwatch();
      queueMicrotask(() => this.onExit('had exited before it could be re-adopted', run));
      return;
    }
    this.waitForHealth(run);
  }

  private waitForHealth(run: Run): void {
    this.setState('starting');
    void this.waitHealthy(
      () => this.run === run && (run.child ? run.child.exitCode === null : isAlive(run.pid)),
      () => probe(this.spec.port, this.spec.health),
      () => (this.spec.health ? `GET ${this.spec.health} on port ${this.spec.port} did not answer 2xx` : `nothing listens on PORT ${this.spec.port}`),
    );
  }

  private onExit(reason: string, run: Run): void {
    if (this.run !== run) return; // a late event of a previous run
    this.run = null;
    run.unwatch();
    run.unfollow();
    // What the app forked and left in its group would outlive it (and the reaper forgets the group now).
    if (run.pid) killGroup(run.pid);
    if (run.pid) this.reaper?.forget(run.pid);
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
    const run = this.run;
    const running = run && run.pid && (run.child ? run.child.exitCode === null && run.child.signalCode === null : isAlive(run.pid));
    if (!run || !running) {
      this.setState('stopped', this.lastExit);
      return;
    }
    this.setState('stopping');
    const pgid = run.pid;
    const exited = run.child
      ? new Promise<void>((resolve) => run.child!.once('exit', () => resolve()))
      : waitGone(pgid, graceMs + 5_000).then(() => {
          if (this.run === run) this.onExit('stopped', run);
        });
    killGroup(pgid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pgid), graceMs);
    await exited;
    clearTimeout(timer);
    // Whatever the app forked and left in its group goes too.
    killGroup(pgid);
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group is gone */
  }
}

export class ProcessSupervisor implements Supervisor {
  readonly kind = 'process' as const;
  private readonly workloads = new Set<ProcessWorkload>();
  private readonly outputDir: string;

  /** `outputDir` holds each workload's stdout and stderr files (the mesh's logs folder). */
  constructor(
    private readonly reaper: Reaper | null,
    outputDir?: string,
  ) {
    this.outputDir = outputDir ?? mkdtempSync(join(tmpdir(), 'devmesh-output-'));
  }

  start(spec: WorkloadSpec, events: WorkloadEvents): Workload {
    const w = new ProcessWorkload(spec, events, this.reaper, this.outputDir);
    this.workloads.add(w);
    return w;
  }

  /** Supervises a process an earlier control plane started with this spec (its pid is its process group). */
  adopt(spec: WorkloadSpec, events: WorkloadEvents, running: { pid: number; startedAtMs: number | null }): Workload {
    const w = new ProcessWorkload(spec, events, this.reaper, this.outputDir, running);
    this.workloads.add(w);
    return w;
  }

  async stopAll(graceMs?: number): Promise<void> {
    await Promise.all([...this.workloads].map((w) => w.stop(graceMs)));
    this.workloads.clear();
  }
}
