// The sidecar's end of the control channel (./protocol/control-channel.ts). It dials the control plane's
// socket, says hello, and hands over every message it receives. When the channel drops it keeps the
// sidecar serving with its last good config and dials again, as Envoy does when istiod restarts; only a
// control plane gone for longer than the orphan grace period makes the sidecar give up and exit, so a mesh
// whose control plane never comes back leaks nothing even if its reaper is gone too.
import { connect } from 'node:net';
import { CONTROL_PROTOCOL, ControlConnection, type ControlMessage, type ListenerPorts, type SidecarMessage } from './protocol/index.js';

const REDIAL_MIN_MS = 50;
const REDIAL_MAX_MS = 1_000;

export interface ControlClientOptions {
  socketPath: string;
  token: string;
  sidecarId: string;
  /** How long to serve without a control plane before exiting. */
  orphanGraceMs: number;
  /** What the sidecar runs now, told in every hello. */
  current: () => { ackedVersion: number; ports: ListenerPorts | null };
  onMessage: (msg: ControlMessage) => void;
  /** No control plane for orphanGraceMs: time to exit. */
  onOrphaned: (why: string) => void;
  log: (line: string) => void;
}

export class ControlClient {
  private connection: ControlConnection | null = null;
  private redialMs = REDIAL_MIN_MS;
  private redialTimer: NodeJS.Timeout | null = null;
  private orphanTimer: NodeJS.Timeout | null = null;
  private everConnected = false;
  private closed = false;

  constructor(private readonly opts: ControlClientOptions) {}

  start(): void {
    this.armOrphanTimer('no control plane answered');
    this.dial();
  }

  get connected(): boolean {
    return this.connection?.open ?? false;
  }

  /** Sends a message; returns false (and calls `written`) when no control plane is connected. */
  send(msg: SidecarMessage, written?: () => void): boolean {
    const c = this.connection;
    if (!c?.open) {
      written?.();
      return false;
    }
    return c.send(msg, written);
  }

  /** Stops dialing (the sidecar is shutting down). */
  close(): void {
    this.closed = true;
    if (this.redialTimer) clearTimeout(this.redialTimer);
    if (this.orphanTimer) clearTimeout(this.orphanTimer);
    this.connection?.end('sidecar shutting down');
  }

  private dial(): void {
    if (this.closed) return;
    const socket = connect({ path: this.opts.socketPath });
    const connection = new ControlConnection(socket, (m) => this.opts.onMessage(m as ControlMessage));
    socket.once('connect', () => {
      this.connection = connection;
      this.redialMs = REDIAL_MIN_MS;
      if (this.orphanTimer) clearTimeout(this.orphanTimer);
      this.orphanTimer = null;
      const { ackedVersion, ports } = this.opts.current();
      connection.send({ type: 'hello', protocol: CONTROL_PROTOCOL, token: this.opts.token, sidecar: this.opts.sidecarId, pid: process.pid, ackedVersion, ports });
      if (this.everConnected) this.opts.log(`control plane reconnected; serving config v${ackedVersion}`);
      this.everConnected = true;
    });
    connection.onEnd((why) => {
      const wasConnected = this.connection === connection;
      if (wasConnected) this.connection = null;
      if (this.closed) return;
      if (wasConnected) {
        this.opts.log(`${why}: serving with the last good config (v${this.opts.current().ackedVersion}) and dialing the control plane again`);
        this.armOrphanTimer(`the control plane has been gone for ${Math.round(this.opts.orphanGraceMs / 1000)} s`);
      }
      this.redialTimer = setTimeout(() => {
        this.redialTimer = null;
        this.dial();
      }, this.redialMs);
      this.redialMs = Math.min(this.redialMs * 2, REDIAL_MAX_MS);
    });
  }

  private armOrphanTimer(why: string): void {
    if (this.orphanTimer) clearTimeout(this.orphanTimer);
    this.orphanTimer = setTimeout(() => this.opts.onOrphaned(why), this.opts.orphanGraceMs);
  }
}
