// The shared data plane's process (`dataPlane: shared`): one proxy process that hosts the sidecar of every
// process instance and ingress gateway, each as its own session with its own control channel, identity,
// certificate, config and metrics (proxy/sidecar-session.ts). The SidecarHandles stay one per workload and
// do what they do for a sidecar of their own; this class only owns the process they share: started once
// with every id, its output followed once, and when it dies every handle hears it, restarts by joining a
// new process, and pushes its last good config with its ports pinned (so every listener is bound again
// where peers and apps expect it).
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Reaper } from '../supervisor/reaper.js';
import { followLines } from '../supervisor/output-file.js';
import { isAlive, waitGone, watchPid } from '../supervisor/pid-watch.js';
import { signalPid, spawnProxy, type SidecarLaunch } from './sidecar-handle.js';

/** A handle's place in the shared process. */
export interface SharedMembership {
  pid: number;
  /** Null for a process an earlier control plane started (re-adopted). */
  child: ChildProcess | null;
}

interface SharedRun {
  pid: number;
  child: ChildProcess | null;
  release: () => void;
}

export class SharedProxy {
  private run: SharedRun | null = null;
  /** Who hears about the process dying, by sidecar id. */
  private readonly members = new Map<string, (reason: string) => void>();

  constructor(
    /** Every sidecar id the process hosts; fixed for the run (adding services needs a restart of up). */
    readonly ids: readonly string[],
    private readonly env: Record<string, string>,
    private readonly launch: SidecarLaunch,
    private readonly reaper: Reaper | null,
    private readonly log: (line: string) => void,
  ) {}

  get pid(): number | null {
    return this.run?.pid ?? null;
  }

  private get outputPath(): string {
    return join(this.launch.outputDir, 'shared.proxy.out');
  }

  /** Takes over the shared process an earlier control plane started, which kept serving. */
  adopt(pid: number): void {
    if (this.run) return;
    const run: SharedRun = { pid, child: null, release: () => {} };
    const unwatch = watchPid(pid, () => this.gone(run, 'shared proxy exited (re-adopted, so its exit status is not known)'));
    const unfollow = followLines(this.outputPath, true, (l) => l && this.log(`shared.proxy | ${l}`));
    run.release = () => {
      unwatch();
      unfollow();
    };
    this.run = run;
    this.reaper?.watch(pid);
  }

  /** The process serving `id`, started now if none runs; `onGone` is called once if it dies. */
  join(id: string, onGone: (reason: string) => void): SharedMembership {
    // A re-adopted process is polled once a second: a handle may have seen it die first.
    if (this.run && !this.run.child && !isAlive(this.run.pid)) this.gone(this.run, 'shared proxy exited (re-adopted, so its exit status is not known)');
    const run = this.run ?? this.start();
    this.members.set(id, onGone);
    return { pid: run.pid, child: run.child };
  }

  /** The handle of `id` no longer needs the process (it stopped, or heard of the death itself). */
  leave(id: string): void {
    this.members.delete(id);
  }

  /**
   * Stops `id`'s part: its session was told to shut down over its own channel; the last to leave stops
   * the process itself (SIGTERM, SIGKILL after graceMs), as a sidecar's own stop would.
   */
  async stopMember(id: string, graceMs: number): Promise<void> {
    this.leave(id);
    const run = this.run;
    if (this.members.size > 0 || !run) return;
    const exited = run.child ? new Promise<void>((resolve) => (run.child!.exitCode !== null || run.child!.signalCode !== null ? resolve() : run.child!.once('exit', () => resolve()))) : waitGone(run.pid, graceMs + 5_000).then(() => undefined);
    signalPid(run.pid, 'SIGTERM');
    const timer = setTimeout(() => signalPid(run.pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    this.gone(run, 'stopped');
  }

  private start(): SharedRun {
    const { child, unfollow } = spawnProxy(this.ids, this.env, this.launch, this.outputPath, (l) => this.log(`shared.proxy | ${l}`));
    const run: SharedRun = { pid: child.pid ?? 0, child, release: unfollow };
    this.run = run;
    if (child.pid) this.reaper?.watch(child.pid);
    this.log(`shared proxy started (pid ${run.pid}) for ${this.ids.length} sidecar${this.ids.length === 1 ? '' : 's'}`);
    child.on('error', (err) => this.gone(run, `shared proxy could not start: ${err.message}`));
    child.on('exit', (code, signal) => this.gone(run, signal ? `shared proxy killed by ${signal}` : `shared proxy exited with code ${code}`));
    return run;
  }

  private gone(run: SharedRun, reason: string): void {
    if (this.run !== run) return;
    this.run = null;
    run.release();
    if (run.pid) this.reaper?.forget(run.pid);
    // Every handle restarts on its own clock (they all use the same delay) and the first to join starts
    // the new process the others join.
    const members = [...this.members.values()];
    this.members.clear();
    for (const onGone of members) onGone(reason);
  }
}
