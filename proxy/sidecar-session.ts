// One workload's proxy inside a proxy process: its Sidecar (listeners, routes, metrics, spans) and its own
// control channel, dialed as its own sidecar id. A process hosts one session (a sidecar) or several (the
// shared data plane): the control plane sees one channel per workload either way, so pushes, ACK/NACK,
// scrapes and re-adoption do not depend on how workloads are packed into processes.
import type { ControlMessage, ListenerPorts, SidecarMessage } from './protocol/index.js';
import { Sidecar } from './sidecar.js';
import { ControlClient } from './control-client.js';

export interface SidecarSessionOptions {
  socketPath: string;
  token: string;
  sidecarId: string;
  orphanGraceMs: number;
  log: (line: string) => void;
  /** No control plane for the grace period: the process should go. */
  onOrphaned: (why: string) => void;
  /** The control plane told this workload's proxy to stop; the session has closed. */
  onClosed: () => void;
}

export class SidecarSession {
  readonly sidecar: Sidecar;
  private readonly client: ControlClient;
  private applied: { version: number; ports: ListenerPorts | null } = { version: 0, ports: null };
  private applying: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;

  constructor(private readonly opts: SidecarSessionOptions) {
    this.client = new ControlClient({
      socketPath: opts.socketPath,
      token: opts.token,
      sidecarId: opts.sidecarId,
      orphanGraceMs: opts.orphanGraceMs,
      current: () => ({ ackedVersion: this.applied.version, ports: this.applied.ports }),
      onMessage: (msg) => this.onControlMessage(msg),
      onOrphaned: opts.onOrphaned,
      log: opts.log,
    });
    this.sidecar = new Sidecar((msg, written) => this.send(msg, written), opts.log);
  }

  start(): void {
    this.client.start();
  }

  /** Closes the listeners and the channel; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.sidecar.close().finally(() => this.client.close());
    return this.closing;
  }

  private send(msg: SidecarMessage, written?: () => void): boolean {
    if (msg.type === 'ack') this.applied = { version: msg.version, ports: msg.ports };
    // With no control plane connected there is nobody to tell; the caller counts what it drops.
    return this.client.send(msg, written);
  }

  private onControlMessage(raw: unknown): void {
    const msg = raw as ControlMessage;
    switch (msg?.type) {
      case 'config': {
        const version = typeof msg.version === 'number' ? msg.version : -1;
        // Configs apply one at a time, in arrival order: each ACK describes exactly one state.
        this.applying = this.applying
          .then(() => this.sidecar.apply(version, msg.config))
          .then(
            (answer) => {
              this.sidecar.metrics.configUpdate(answer.type === 'ack' ? 'applied' : 'rejected');
              this.send(answer);
            },
            (err: Error) => this.send({ type: 'nack', version, reason: `internal error: ${err.stack ?? err.message}` }),
          )
          .then(() => undefined);
        return;
      }
      case 'reconfirm': {
        const { version, of } = msg;
        // In arrival order too: `of` may be the config still being applied just before this.
        this.applying = this.applying.then(() => {
          const { ports } = this.applied;
          if (this.applied.version === of && ports !== null) {
            this.sidecar.metrics.configUpdate('reconfirmed');
            this.send({ type: 'ack', version, ports });
          } else this.send({ type: 'nack', version, reason: `reconfirm of config v${of}, but this sidecar runs v${this.applied.version}` });
        });
        return;
      }
      case 'scrape': {
        const id = msg.id;
        this.sidecar.metrics.text().then(
          (text) => this.send({ type: 'metrics', id, text }),
          (err: Error) => this.opts.log(`metrics scrape failed: ${err.message}`),
        );
        return;
      }
      case 'endpointHealth':
        this.send({ type: 'endpointHealth', id: msg.id, sets: this.sidecar.endpointHealth() });
        return;
      case 'shutdown':
        this.opts.log('shutdown requested');
        void this.close().finally(() => this.opts.onClosed());
        return;
      default:
        // String() and not JSON.stringify: a message type JSON cannot write (a BigInt) must not throw here.
        this.opts.log(`ignoring unknown control message type ${String((raw as { type?: unknown } | null)?.type).slice(0, 100)}`);
    }
  }
}
