// Start, stop and restart of a service or of the whole mesh, asked for through the API. Each request is
// an operation with a state the UI shows while it runs (progress comes from the instances' own states in
// /api/status). Operations run one at a time: a restart while a stop is still going waits for it.
import type { LifecycleAction, OperationStatus } from '../contract/api.js';

export interface LifecycleTarget {
  /** Instances of `service` (or of every service, in start order, when null). */
  stop(service: string | null, progress: (detail: string) => void): Promise<void>;
  start(service: string | null, progress: (detail: string) => void): Promise<void>;
}

export class LifecycleOperations {
  private ops: OperationStatus[] = [];
  private nextId = 1;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly target: LifecycleTarget, private readonly log: (line: string) => void) {}

  get recent(): OperationStatus[] {
    return this.ops.slice(-10).reverse().map((o) => ({ ...o }));
  }

  run(action: LifecycleAction, service: string | null): OperationStatus {
    const op: OperationStatus = { id: this.nextId++, action, service, state: 'running', startedAtMs: Date.now(), finishedAtMs: null, detail: 'queued' };
    this.ops.push(op);
    if (this.ops.length > 50) this.ops.shift();
    const what = service ?? 'the mesh';
    const progress = (detail: string) => {
      op.detail = detail;
    };
    this.queue = this.queue.then(async () => {
      try {
        if (action === 'stop' || action === 'restart') {
          progress(`stopping ${what}`);
          await this.target.stop(service, progress);
        }
        if (action === 'start' || action === 'restart') {
          progress(`starting ${what}`);
          await this.target.start(service, progress);
        }
        op.state = 'succeeded';
        op.detail = `${action} ${what}: done`;
      } catch (err) {
        op.state = 'failed';
        op.detail = `${action} ${what}: ${(err as Error).message}`;
        this.log(op.detail);
      } finally {
        op.finishedAtMs = Date.now();
      }
    });
    return { ...op };
  }
}
