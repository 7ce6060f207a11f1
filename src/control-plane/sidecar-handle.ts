// The control plane's end of one sidecar: forks the proxy process, pushes versioned configuration over
// its IPC channel, and waits for the ACK or NACK. A sidecar that dies is started again with the ports it
// had, so the endpoints other sidecars know stay valid.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeSpanBatch, type ControlMessage, type EndpointSetSnapshot, type ListenerPorts, type SidecarConfig, type SidecarMessage, type SpanRecord } from '../../proxy/protocol/index.js';
import type { Reaper } from '../supervisor/reaper.js';

const PROXY_ENTRY = fileURLToPath(new URL('../../proxy/main.js', import.meta.url));
const ACK_TIMEOUT_MS = 10_000;

/** A sidecar message that answers a control message with the same id. */
type Answer = Extract<SidecarMessage, { id: number }>;

export class PushRejected extends Error {
  readonly code = 'CONFIG_NACK';
}

interface Pending {
  version: number;
  resolve: (ports: ListenerPorts) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface SidecarEvents {
  onSpans(spans: SpanRecord[]): void;
  onLog(line: string): void;
  onExit(reason: string): void;
  /** A sidecar that died is serving again: restarted, and its last good config ACKed. */
  onRestarted?(): void;
}

export class SidecarHandle {
  private child: ChildProcess | null = null;
  private pending = new Map<number, Pending>();
  private stopping = false;
  private lastConfig: { version: number; config: SidecarConfig } | null = null;
  private askId = 0;
  private readonly asks = new Map<number, { resolve: (answer: Answer) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  ports: ListenerPorts | null = null;
  ackedVersion = 0;
  lastNack: string | null = null;
  /** Deaths that were not asked for (crash, kill), each followed by a restart: what status reports. */
  restarts = 0;
  lastExit: string | null = null;
  /** From a death until the restarted sidecar has ACKed its last good config: it cannot take requests. */
  private recovering = false;

  constructor(
    readonly id: string,
    private readonly env: Record<string, string>,
    private readonly events: SidecarEvents,
    private readonly reaper: Reaper | null,
  ) {}

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Alive and configured: its listeners are bound, so other sidecars may send it requests. */
  get serving(): boolean {
    return this.child !== null && !this.recovering;
  }

  start(): void {
    const child = fork(PROXY_ENTRY, [this.id], {
      env: { ...process.env, ...this.env },
      detached: true, // Ctrl-C must not reach sidecars before the apps behind them are stopped
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.child = child;
    if (child.pid) this.reaper?.watch(child.pid);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => d.split('\n').filter(Boolean).forEach((l) => this.events.onLog(l)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => d.split('\n').filter(Boolean).forEach((l) => this.events.onLog(l)));
    child.on('message', (m: SidecarMessage) => this.onMessage(m));
    child.on('exit', (code, signal) => {
      if (child.pid) this.reaper?.forget(child.pid);
      if (this.child !== child) return;
      this.child = null;
      const reason = signal ? `sidecar killed by ${signal}` : `sidecar exited with code ${code}`;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${this.id}: ${reason}`));
      }
      this.pending.clear();
      for (const a of this.asks.values()) {
        clearTimeout(a.timer);
        a.reject(new Error(`${this.id}: ${reason}`));
      }
      this.asks.clear();
      if (this.stopping) return;
      this.restarts++;
      this.lastExit = reason;
      this.recovering = true;
      this.events.onExit(reason);
      // Start again with the last good config and the same ports.
      setTimeout(() => {
        if (this.stopping) return;
        this.start();
        if (this.lastConfig) {
          // Its first ACK (of this push or any later one) ends the recovery: see onMessage.
          void this.push(this.lastConfig.version, this.lastConfig.config).catch((e: Error) => this.events.onLog(`restart push failed: ${e.message}`));
        } else this.recovering = false;
      }, 500);
    });
  }

  private onMessage(m: SidecarMessage): void {
    switch (m.type) {
      case 'spans': {
        let spans: SpanRecord[];
        try {
          spans = decodeSpanBatch(m.batch);
        } catch (err) {
          this.events.onLog(`dropped a malformed span batch: ${(err as Error).message}`);
          return;
        }
        this.events.onSpans(spans);
        return;
      }
      case 'ack': {
        this.ackedVersion = m.version;
        this.lastNack = null;
        this.ports = m.ports;
        if (this.recovering) {
          // Restarted and configured: callers may have it back as an endpoint.
          this.recovering = false;
          this.events.onRestarted?.();
        }
        const p = this.pending.get(m.version);
        if (p) {
          clearTimeout(p.timer);
          this.pending.delete(m.version);
          p.resolve(m.ports);
        }
        return;
      }
      case 'nack': {
        this.lastNack = m.reason;
        const p = this.pending.get(m.version);
        if (p) {
          clearTimeout(p.timer);
          this.pending.delete(m.version);
          p.reject(new PushRejected(`${this.id} rejected config v${m.version}: ${m.reason}`));
        }
        return;
      }
      case 'metrics':
      case 'endpointHealth': {
        const ask = this.asks.get(m.id);
        if (ask) {
          clearTimeout(ask.timer);
          this.asks.delete(m.id);
          ask.resolve(m);
        }
        return;
      }
      default: {
        const never: never = m;
        this.events.onLog(`unknown message from sidecar: ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Sends a question the sidecar answers with a message of the same id. Rejects when the sidecar is not
   * running, exits, or does not answer within timeoutMs (a stopped or wedged sidecar must not hang the caller).
   */
  private ask(question: (id: number) => ControlMessage, what: string, timeoutMs: number): Promise<Answer> {
    const child = this.child;
    if (!child || !child.connected) return Promise.reject(new Error(`${this.id}: sidecar is not running`));
    const id = ++this.askId;
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.asks.delete(id);
        reject(new Error(`${this.id}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.asks.set(id, { resolve, reject, timer });
      child.send(question(id));
    });
  }

  /** The sidecar's Prometheus metrics text (Istio names); rejects when it is not running or does not answer. */
  async scrape(timeoutMs = 2_000): Promise<string> {
    const answer = await this.ask((id) => ({ type: 'scrape', id }), 'metrics', timeoutMs);
    if (answer.type !== 'metrics') throw new Error(`${this.id}: answered a scrape with ${answer.type}`);
    return answer.text;
  }

  /** The sidecar's endpoint sets with their live health (ejections, requests in flight, circuit breaker). */
  async endpointHealth(timeoutMs = 2_000): Promise<EndpointSetSnapshot[]> {
    const answer = await this.ask((id) => ({ type: 'endpointHealth', id }), 'endpoint health', timeoutMs);
    if (answer.type !== 'endpointHealth') throw new Error(`${this.id}: answered an endpoint health query with ${answer.type}`);
    return answer.sets;
  }

  /** Sends a snapshot; resolves with the listener ports on ACK, rejects on NACK or timeout. */
  push(version: number, config: SidecarConfig): Promise<ListenerPorts> {
    const child = this.child;
    if (!child || !child.connected) return Promise.reject(new Error(`${this.id}: sidecar is not running`));
    // Keep the ports already bound, so a restarted sidecar comes back where its peers expect it.
    const withPorts = this.pinPorts(config);
    return new Promise<ListenerPorts>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(version);
        reject(new Error(`${this.id}: no ACK for config v${version} within ${ACK_TIMEOUT_MS / 1000}s`));
      }, ACK_TIMEOUT_MS);
      this.pending.set(version, {
        version,
        timer,
        reject,
        resolve: (ports) => {
          this.lastConfig = { version, config: withPorts };
          resolve(ports);
        },
      });
      const msg: ControlMessage = { type: 'config', version, config: withPorts };
      child.send(msg);
    });
  }

  private pinPorts(config: SidecarConfig): SidecarConfig {
    const ports = this.ports;
    if (!ports) return config;
    return {
      ...config,
      ...(config.inbound ? { inbound: { ...config.inbound, port: config.inbound.port || (ports.inbound ?? 0) } } : {}),
      outbound: config.outbound.map((l) => ({ ...l, port: l.port || (ports.outbound[l.service] ?? 0) })),
    };
  }

  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) {
      const msg: ControlMessage = { type: 'shutdown' };
      child.send(msg);
    } else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
