// The control plane's end of one sidecar: starts the proxy process, pushes versioned configuration over
// its control channel (./control-server.ts), and waits for the ACK or NACK. A sidecar that dies is started
// again with the ports it had, so the endpoints other sidecars know stay valid. A sidecar that an earlier
// control plane started, and that kept serving through that control plane's death, is re-adopted: same
// pid, same ports, its channel dialed in again. With `dataPlane: shared` the handle's sidecar is a session
// in the one process a SharedProxy owns (./shared-proxy.ts); everything else here stays the same.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONTROL_ENV,
  decodeSpanBatch,
  type ChannelHello,
  type ControlConnection,
  type ControlMessage,
  type EndpointSetSnapshot,
  type ListenerPorts,
  type SidecarConfig,
  type SidecarMessage,
  type SpanRecord,
} from '../../proxy/protocol/index.js';
import type { Reaper } from '../supervisor/reaper.js';
import { followLines, openOutputFile } from '../supervisor/output-file.js';
import { isAlive, waitGone, watchPid } from '../supervisor/pid-watch.js';
import type { ControlServer } from './control-server.js';
import type { SharedProxy } from './shared-proxy.js';

const PROXY_DIR = fileURLToPath(new URL('../../proxy/', import.meta.url));
const PROXY_MAIN = join(PROXY_DIR, 'main.js');
/** The proxy in one file (scripts/bundle-proxy.mjs): a quarter to a third less CPU to boot than its modules. */
const PROXY_BUNDLE = fileURLToPath(new URL('../../bundle/proxy/main.js', import.meta.url));
let proxyEntryChosen: string | null = null;

/**
 * What sidecars run: the bundle `npm run build` made, while the compiled proxy files it was made from are
 * unchanged (their hashes are beside it, in inputs.json); after a `tsc` alone (as while developing) the
 * modules themselves, so a sidecar never runs stale code. Hashed once per control plane: a few ms.
 */
export function proxyEntry(): string {
  if (proxyEntryChosen !== null) return proxyEntryChosen;
  let fresh = false;
  try {
    const inputs = JSON.parse(readFileSync(join(dirname(PROXY_BUNDLE), 'inputs.json'), 'utf8')) as Record<string, string>;
    const paths = Object.keys(inputs);
    fresh = paths.length > 0 && paths.every((path) => createHash('sha256').update(readFileSync(join(PROXY_DIR, path))).digest('hex') === inputs[path]);
  } catch {
    // no bundle, or a file it was made from is gone: the modules
  }
  return (proxyEntryChosen = fresh ? PROXY_BUNDLE : PROXY_MAIN);
}

const ACK_TIMEOUT_MS = 10_000;
/** A sidecar that has not dialled in yet is still booting: slow on a busy laptop starting a whole mesh at once. */
const FIRST_ACK_TIMEOUT_MS = 60_000;

/** A sidecar message that answers a control message with the same id. */
type Answer = Extract<SidecarMessage, { id: number }>;

export class PushRejected extends Error {
  readonly code = 'CONFIG_NACK';
}

interface Pending {
  version: number;
  /** What every push of this version waits for. */
  answer: Promise<ListenerPorts>;
  resolve: (ports: ListenerPorts) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** Set while a reconfirm waits: what to send instead if the sidecar does not run the config it names. */
  sendWhole?: () => void;
}

export interface SidecarEvents {
  onSpans(spans: SpanRecord[]): void;
  onLog(line: string): void;
  onExit(reason: string): void;
  /** A sidecar that died is serving again: restarted, and its last good config ACKed. */
  onRestarted?(): void;
}

/** How sidecars of this run are started: where they dial, with what token, and where their output goes. */
export interface SidecarLaunch {
  control: ControlServer;
  token: string;
  /** How long a sidecar serves without a control plane before it exits. */
  orphanGraceMs: number;
  outputDir: string;
}

/** The process behind the handle: one this control plane started, or one it re-adopted by pid. */
interface SidecarRun {
  pid: number;
  child: ChildProcess | null;
  /** Stops watching the process and following its output (a shared one: leaves it). */
  release: () => void;
}

/** Starts a proxy process serving `ids` (one: a sidecar; several: the shared data plane). */
export function spawnProxy(ids: readonly string[], env: Record<string, string>, launch: SidecarLaunch, outputPath: string, onLine: (line: string) => void): { child: ChildProcess; unfollow: () => void } {
  const out = openOutputFile(outputPath, true);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [proxyEntry(), ...ids], {
      env: {
        ...process.env,
        // Inside Electron, execPath is the Electron binary: ELECTRON_RUN_AS_NODE makes it a plain Node.
        ...(process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}),
        ...env,
        [CONTROL_ENV.socket]: launch.control.socketPath,
        [CONTROL_ENV.token]: launch.token,
        [CONTROL_ENV.orphanGraceMs]: String(launch.orphanGraceMs),
      },
      detached: true, // Ctrl-C must not reach sidecars before the apps behind them are stopped
      stdio: ['ignore', out, out],
    });
  } finally {
    closeSync(out);
  }
  return { child, unfollow: followLines(outputPath, false, (l) => l && onLine(l)) };
}

export class SidecarHandle {
  private run: SidecarRun | null = null;
  private connection: ControlConnection | null = null;
  /** Messages for a sidecar that has not dialed in yet (just started, or redialing). */
  private outbox: ControlMessage[] = [];
  private pending = new Map<number, Pending>();
  private stopping = false;
  /** The last config the sidecar ACKed: what a restarted sidecar is given back. */
  private lastConfig: { version: number; config: SidecarConfig } | null = null;
  /**
   * The last config sent to this process (whole, or reconfirmed under a newer version), answered or not
   * yet: a push of the same config under a newer version is a reconfirm of it. The sidecar takes its
   * messages in order, so the reconfirm is answered after that config's own answer (a NACK of it, or a
   * process that never got it, makes the reconfirm a NACK, and then the config goes whole).
   */
  private lastSent: { version: number; json: string } | null = null;
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
    private readonly launch: SidecarLaunch,
    /** Set when this sidecar is a session of the shared data plane's process. */
    private readonly shared: SharedProxy | null = null,
  ) {}

  /** Claims the channel of this sidecar id, once the process it expects is known (started or adopted). */
  private claimChannel(): void {
    this.launch.control.register(this.id, (connection, hello) => this.attach(connection, hello));
  }

  get pid(): number | null {
    return this.run?.pid ?? null;
  }

  /** Alive and configured: its listeners are bound, so other sidecars may send it requests. */
  get serving(): boolean {
    // ackedVersion: ports reserved before the start (reservePorts) are known before anything listens on them.
    return this.run !== null && !this.recovering && this.ackedVersion > 0;
  }

  /** Ports for a sidecar about to start: its first config binds them, so its app can be told them first. */
  reservePorts(ports: ListenerPorts): void {
    this.ports = ports;
  }

  /** Its control channel is up (it has dialed in since it started, or since the control plane did). */
  get connected(): boolean {
    return this.connection?.open ?? false;
  }

  private get outputPath(): string {
    return join(this.launch.outputDir, `${this.id}.proxy.out`);
  }

  start(): void {
    if (this.shared) {
      this.joinShared();
      return;
    }
    const { child, unfollow } = spawnProxy([this.id], this.env, this.launch, this.outputPath, this.events.onLog);
    const pid = child.pid ?? 0;
    const run: SidecarRun = {
      pid,
      child,
      release: () => {
        unfollow();
        if (pid) this.reaper?.forget(pid);
      },
    };
    this.run = run;
    if (pid) this.reaper?.watch(pid);
    child.on('error', (err) => this.onGone(run, `sidecar could not start: ${err.message}`));
    child.on('exit', (code, signal) => this.onGone(run, signal ? `sidecar killed by ${signal}` : `sidecar exited with code ${code}`));
    this.claimChannel();
  }

  /**
   * Takes over a sidecar an earlier control plane started and that kept serving: it dials in again on its
   * own; until then, pushes wait in the outbox.
   */
  adopt(running: { pid: number; ports: ListenerPorts | null; ackedVersion: number }): void {
    this.ports = running.ports;
    this.ackedVersion = running.ackedVersion;
    if (this.shared) {
      // The shared process is adopted once, for every handle (ControlPlane.start); this one joins it.
      this.shared.adopt(running.pid);
      this.joinShared();
      return;
    }
    const unfollow = followLines(this.outputPath, true, (l) => l && this.events.onLog(l));
    const run: SidecarRun = { pid: running.pid, child: null, release: () => {} };
    this.run = run;
    this.reaper?.watch(running.pid);
    const unwatch = watchPid(running.pid, () => this.onGone(run, 'sidecar exited (re-adopted, so its exit status is not known)'));
    run.release = () => {
      unwatch();
      unfollow();
      this.reaper?.forget(running.pid);
    };
    if (!isAlive(running.pid)) queueMicrotask(() => this.onGone(run, 'sidecar had exited before it could be re-adopted'));
    this.claimChannel();
  }

  /** Becomes a session of the shared process (started now if none runs); its death is this sidecar's. */
  private joinShared(): void {
    const shared = this.shared!;
    const run: SidecarRun = { pid: 0, child: null, release: () => shared.leave(this.id) };
    const member = shared.join(this.id, (reason) => this.onGone(run, reason));
    run.pid = member.pid;
    run.child = member.child;
    this.run = run;
    this.claimChannel();
  }

  private attach(connection: ControlConnection, hello: ChannelHello): void {
    const run = this.run;
    if (!run || hello.pid !== run.pid) {
      // A sidecar this handle did not start (a previous process of the same id that outlived its restart).
      this.events.onLog(`a sidecar with pid ${hello.pid} dialed in as ${this.id}, which runs pid ${run?.pid ?? 'none'}: telling it to shut down`);
      connection.send({ type: 'shutdown' });
      return;
    }
    this.connection?.end('replaced by a new connection');
    this.connection = connection;
    if (hello.ports) this.ports = hello.ports;
    connection.handleMessages((m) => this.onMessage(m as SidecarMessage));
    connection.onEnd(() => {
      if (this.connection === connection) this.connection = null;
      // An adopted sidecar's channel closing is the first sign it may have died.
      if (!run.child && this.run === run && !isAlive(run.pid)) this.onGone(run, 'sidecar exited (re-adopted, so its exit status is not known)');
    });
    for (const m of this.outbox.splice(0)) connection.send(m);
  }

  private sendOrQueue(msg: ControlMessage): void {
    if (this.connection?.open) this.connection.send(msg);
    else this.outbox.push(msg);
  }

  private onGone(run: SidecarRun, reason: string): void {
    if (this.run !== run) return;
    this.run = null;
    run.release();
    this.connection?.end('sidecar gone');
    this.connection = null;
    this.outbox = [];
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
    this.lastSent = null; // the next process has no config yet
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
        const p = this.pending.get(m.version);
        if (p?.sendWhole) {
          // A reconfirm the sidecar could not take (it runs another version): not a rejection, send it all.
          p.sendWhole();
          return;
        }
        this.lastNack = m.reason;
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
    if (!this.run) return Promise.reject(new Error(`${this.id}: sidecar is not running`));
    const id = ++this.askId;
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.asks.delete(id);
        reject(new Error(`${this.id}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.asks.set(id, { resolve, reject, timer });
      this.sendOrQueue(question(id));
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

  /** A push of `version` was sent and its answer is still awaited. */
  awaiting(version: number): boolean {
    return this.pending.has(version);
  }

  /**
   * Sends a snapshot; resolves with the listener ports on ACK, rejects on NACK or timeout. A version is one
   * config: asked again for a version whose answer is still awaited, it waits for that answer.
   */
  push(version: number, config: SidecarConfig): Promise<ListenerPorts> {
    if (!this.run) return Promise.reject(new Error(`${this.id}: sidecar is not running`));
    const awaited = this.pending.get(version);
    if (awaited) return awaited.answer;
    // Keep the ports already bound, so a restarted sidecar comes back where its peers expect it.
    const withPorts = this.pinPorts(config);
    const json = JSON.stringify(withPorts);
    const timeoutMs = this.connection?.open ? ACK_TIMEOUT_MS : FIRST_ACK_TIMEOUT_MS;
    const basis = this.lastSent;
    // Unchanged since the config it runs or is about to run: say so, send nothing. While a mesh starts, most
    // new versions are another service's endpoints, not this sidecar's: without this, each of 31 sidecars
    // took (parsed and rebuilt) about 11 whole configs during a 30-service `up`.
    const reconfirm = basis !== null && basis.json === json && !this.recovering;
    const sendWhole = () => {
      this.lastSent = { version, json };
      this.sendOrQueue({ type: 'config', version, config: withPorts });
    };
    let settle!: { resolve: (ports: ListenerPorts) => void; reject: (err: Error) => void };
    const answer = new Promise<ListenerPorts>((resolve, reject) => (settle = { resolve, reject }));
    const timer = setTimeout(() => {
      this.pending.delete(version);
      settle.reject(new Error(`${this.id}: no ACK for config v${version} within ${timeoutMs / 1000}s${this.connection?.open ? '' : ' (it never connected to the control plane)'}`));
    }, timeoutMs);
    const pending: Pending = {
      version,
      timer,
      answer,
      reject: settle.reject,
      resolve: (ports) => {
        this.lastConfig = { version, config: withPorts };
        settle.resolve(ports);
      },
    };
    this.pending.set(version, pending);
    if (reconfirm) {
      pending.sendWhole = () => {
        delete pending.sendWhole;
        sendWhole();
      };
      this.sendOrQueue({ type: 'reconfirm', version, of: basis.version });
      this.lastSent = { version, json }; // what it runs once it ACKs this: the next reconfirm names it
    } else sendWhole();
    return answer;
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
    this.launch.control.unregister(this.id);
    const run = this.run;
    if (!run || (run.child ? run.child.exitCode !== null || run.child.signalCode !== null : !isAlive(run.pid))) return;
    if (this.shared) {
      // Its session closes its listeners now (once the message is out: onGone ends the channel); the
      // process goes when its last workload stops.
      const connection = this.connection;
      if (connection?.open) await new Promise<void>((resolve) => connection.send({ type: 'shutdown' }, resolve));
      this.onGone(run, 'stopped');
      await this.shared.stopMember(this.id, graceMs);
      return;
    }
    const exited = run.child ? new Promise<void>((resolve) => run.child!.once('exit', () => resolve())) : waitGone(run.pid, graceMs + 5_000).then(() => this.onGone(run, 'stopped'));
    if (this.connection?.open) this.connection.send({ type: 'shutdown' });
    else signalPid(run.pid, 'SIGTERM');
    const timer = setTimeout(() => signalPid(run.pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

export function signalPid(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    /* already gone */
  }
}
