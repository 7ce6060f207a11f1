// What every kind of workload shares, whatever runs it: the state machine reported to the control plane,
// the first-ready promise, the health wait, and the restart with exponential backoff after a crash.
// Processes and containers differ only in how they start, stop and are probed.
import type { InstanceState } from '../contract/api.js';
import type { Workload, WorkloadEvents, WorkloadSpec } from './supervisor.js';

const START_TIMEOUT_MS = 60_000;
const HEALTH_INTERVAL_MS = 100;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** A workload that ran this long before crashing starts its backoff from scratch. */
const STABLE_AFTER_MS = 10_000;

export abstract class SupervisedWorkload implements Workload {
  state: InstanceState = 'pending';
  pid: number | null = null;
  restarts = 0;
  startedAtMs: number | null = null;
  lastExit: string | null = null;
  readonly ready: Promise<void>;
  protected stopping = false;
  protected everHealthy = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private crashesInARow = 0;
  private settled = false;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;

  constructor(
    protected readonly spec: WorkloadSpec,
    protected readonly events: WorkloadEvents,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // callers that do not wait must not see an unhandled rejection
  }

  get id(): string {
    return this.spec.id;
  }

  abstract stop(graceMs?: number): Promise<void>;

  protected setState(state: InstanceState, detail: string | null = null): void {
    this.state = state;
    this.events.onState(state, detail);
  }

  /** The first-ready promise settles once: later runs only change the state. */
  protected settleReady(err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    if (err) this.rejectReady(err);
    else this.resolveReady();
  }

  /**
   * Probes until healthy, then reports `running`. `current()` turning false means this run is over
   * (exited, replaced, stopping) and the wait ends quietly.
   */
  protected async waitHealthy(current: () => boolean, healthyOnce: () => Promise<boolean>, notReady: () => string, onFirstHealthy?: () => void): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (current() && !this.stopping) {
      if (await healthyOnce().catch(() => false)) {
        if (!current() || this.stopping) return;
        if (!this.everHealthy) onFirstHealthy?.();
        this.everHealthy = true;
        this.setState('running');
        this.settleReady();
        return;
      }
      if (Date.now() > deadline) {
        const message = `${this.spec.id}: not ready after ${START_TIMEOUT_MS / 1000}s: ${notReady()}`;
        this.events.onLog('stderr', `[devmesh] ${message}`);
        this.settleReady(new Error(message));
        return;
      }
      await new Promise((r) => setTimeout(r, HEALTH_INTERVAL_MS));
    }
  }

  /** After an exit nobody asked for: report it, then relaunch after a backoff that grows with each crash in a row. */
  protected restartAfterCrash(reason: string, relaunch: () => void): void {
    this.lastExit = reason;
    const ranFor = Date.now() - (this.startedAtMs ?? Date.now());
    this.crashesInARow = ranFor > STABLE_AFTER_MS ? 1 : this.crashesInARow + 1;
    if (!this.everHealthy) this.settleReady(new Error(`${this.spec.id}: ${reason} before it was ready`));
    const delay = Math.min(BACKOFF_BASE_MS * 2 ** (this.crashesInARow - 1), BACKOFF_MAX_MS);
    this.setState('backoff', `${reason}; restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.restarts++;
      relaunch();
    }, delay);
  }

  /** Marks the workload as stopping for good: a pending restart is cancelled. */
  protected beginStop(): void {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }
}
