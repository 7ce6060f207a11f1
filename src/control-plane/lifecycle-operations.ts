// Start, stop and restart of a service or of the whole mesh, asked for through the API or by watch mode.
// Each request is an operation with a state the UI shows while it runs (progress comes from the instances'
// own states in /api/status). Operations run one at a time: a restart while a stop is still going waits
// for it. A service's restart is rolling (one instance at a time, each out of its callers' endpoints
// while it restarts); the whole mesh's is a stop, then a start.
import type { LifecycleAction, OperationStatus } from '../contract/api.js';

export interface LifecycleTarget {
  /** Instances of `service` (or of every service, in start order, when null). */
  stop(service: string | null, progress: (detail: string) => void): Promise<void>;
  start(service: string | null, progress: (detail: string) => void): Promise<void>;
  /** One service's instances, one at a time, traffic going to the others (or held) meanwhile. */
  restart(service: string, progress: (detail: string) => void): Promise<void>;
}

export class LifecycleOperations {
  private ops: OperationStatus[] = [];
  private nextId = 1;
  private queue: Promise<void> = Promise.resolve();
  /** Why an operation was asked for when it was not the API (watch mode: which files changed), by id. */
  private readonly causes = new Map<number, string>();
  private readonly started = new Set<number>();

  constructor(private readonly target: LifecycleTarget, private readonly log: (line: string) => void) {}

  get recent(): OperationStatus[] {
    return this.ops.slice(-10).reverse().map((o) => ({ ...o }));
  }

  /**
   * Queues an operation. With a `cause` (watch mode), an operation of the same action and service that is
   * still waiting for its turn takes the new cause instead: it has not begun, so it will see the change too.
   */
  run(action: LifecycleAction, service: string | null, cause?: string): OperationStatus {
    if (cause !== undefined) {
      const waiting = this.ops.find((o) => o.state === 'running' && !this.started.has(o.id) && o.action === action && o.service === service && this.causes.has(o.id));
      if (waiting) {
        this.causes.set(waiting.id, cause);
        waiting.detail = `queued: ${cause}`;
        return { ...waiting };
      }
    }
    const op: OperationStatus = { id: this.nextId++, action, service, state: 'running', startedAtMs: Date.now(), finishedAtMs: null, detail: cause !== undefined ? `queued: ${cause}` : 'queued' };
    this.ops.push(op);
    if (cause !== undefined) this.causes.set(op.id, cause);
    if (this.ops.length > 50) {
      const gone = this.ops.shift()!;
      this.causes.delete(gone.id);
      this.started.delete(gone.id);
    }
    const what = service ?? 'the mesh';
    /** Sets the operation's detail, after its cause when it has one; true when it has one (then it is logged). */
    const describe = (text: string): boolean => {
      const why = this.causes.get(op.id);
      op.detail = why !== undefined ? `${why} → ${text}` : text;
      return why !== undefined;
    };
    const progress = (detail: string) => {
      if (describe(detail)) this.log(`${op.detail}…`);
    };
    this.queue = this.queue.then(async () => {
      this.started.add(op.id);
      try {
        if (action === 'restart' && service !== null) {
          await this.target.restart(service, progress);
        } else {
          if (action === 'stop' || action === 'restart') {
            progress(`stopping ${what}`);
            await this.target.stop(service, progress);
          }
          if (action === 'start' || action === 'restart') {
            progress(`starting ${what}`);
            await this.target.start(service, progress);
          }
        }
        op.state = 'succeeded';
        if (describe(`${action} ${what}: done`)) this.log(op.detail);
      } catch (err) {
        op.state = 'failed';
        describe(`${action} ${what}: ${(err as Error).message}`);
        this.log(op.detail);
      } finally {
        op.finishedAtMs = Date.now();
        this.started.delete(op.id);
        this.causes.delete(op.id);
      }
    });
    return { ...op };
  }
}
