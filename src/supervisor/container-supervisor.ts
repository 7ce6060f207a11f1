// Runs workloads as containers through the Docker Engine API: the second implementation of Supervisor.
// The control plane treats a container instance exactly like a process: its sidecar stays a host process,
// forwards inbound mTLS traffic to 127.0.0.1:<appPort>, and the app calls its upstreams through the
// sidecar's outbound listeners (<UPSTREAM>_URL).
//
// Networking, and why:
// - "host" (Linux, the engine on this machine's kernel): the container shares the host's network
//   namespace (NetworkMode: host). The app listens on 127.0.0.1:<port> like a process, reaches the
//   sidecar's 127.0.0.1 outbound listeners unchanged, and nothing is published on another interface.
//   The app's port is a host port then: the file's `port` is used as is (two replicas of an image with a
//   fixed port collide; images that honour PORT get a free one each).
// - "published" (Docker Desktop on macOS/Windows, whose engine runs in a VM where "host" is the VM):
//   the container gets its own network; its `port` is published on 127.0.0.1:<appPort> of this machine
//   for the sidecar, and upstream URLs point at host.docker.internal (ExtraHosts host-gateway), which
//   Docker Desktop forwards to this machine's loopback, where the sidecar's outbound listeners are.
//   On a native Linux engine that forwarding does not exist (host-gateway is the bridge address and the
//   listeners bind 127.0.0.1), which is why Linux uses "host".
// DEVMESH_DOCKER_NETWORK=host|published overrides the choice.
import type Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { DockerEngine, EngineError, homeHash, LABEL, type EngineInfo } from '../containers/docker-engine.js';
import { probe } from './process-supervisor.js';
import type { Reaper } from './reaper.js';
import { SupervisedWorkload } from './supervised-workload.js';
import type { ContainerWorkloadSpec, Supervisor, Workload, WorkloadEvents, WorkloadSpec } from './supervisor.js';
import { freePort } from './free-port.js';

export type ContainerNetworking = 'host' | 'published';

/** The run a supervisor's containers belong to: what names and labels them, so leftovers of this mesh can be found. */
export interface ContainerRun {
  mesh: string;
  /** DEVMESH_HOME (labelled by its hash). */
  home: string;
  /** Unique per run of the control plane, so a name never clashes with a container still being removed. */
  runId: string;
}

function messageOf(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).trim();
}

/** "node app.js --x 'a b'" → ["node", "app.js", "--x", "a b"] (no shell in an image is assumed). */
export function splitCommand(command: string): string[] {
  const out: string[] = [];
  for (const m of command.matchAll(/"((?:\\.|[^"])*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** What the engine says about a container that stopped, in the words ProcessSupervisor uses. */
function exitReason(state: { ExitCode?: number; OOMKilled?: boolean; Error?: string } | undefined): string {
  if (!state) return 'container gone';
  if (state.OOMKilled) return 'killed: out of memory';
  if (state.Error) return `container error: ${state.Error}`;
  const code = state.ExitCode ?? -1;
  if (code === 137) return 'killed by SIGKILL (exit 137)';
  if (code === 143) return 'killed by SIGTERM (exit 143)';
  return `exited with code ${code}${code === 127 ? ' (command not found)' : ''}`;
}

class ContainerWorkload extends SupervisedWorkload {
  private container: Docker.Container | null = null;
  private running = false;
  private runSeq = 0;
  private hasImageHealthcheck = false;
  private readonly launched: Promise<void>;
  /** When the image was there and the container was created: the first healthy state reports both. */
  private readonly createdAt = Date.now();
  private imageReadyAt = 0;

  constructor(
    spec: WorkloadSpec,
    events: WorkloadEvents,
    private readonly sup: ContainerSupervisor,
  ) {
    super(spec, events);
    this.launched = this.create().catch((err: unknown) => this.fail(err));
  }

  /** Could not be started at all: no engine, no image, a failed build. No restart: the cause is not transient. */
  private fail(err: unknown): void {
    const msg = err instanceof EngineError ? err.message : `${this.spec.id}: ${messageOf(err)}`;
    this.lastExit = msg;
    this.events.onLog('stderr', `[devmesh] ${msg}`);
    if (!this.stopping) this.setState('failed', msg);
    this.settleReady(new Error(`${this.spec.id}: ${msg}`));
  }

  private async create(): Promise<void> {
    const c = this.spec.container;
    if (!c) throw new Error('not a container workload');
    const info = await this.sup.engineInfo();
    const engine = this.sup.engine;
    const names = this.sup.namesOf(this.spec.id, c);
    let image = c.image;
    if (c.build) {
      this.setState('pending', `building ${names.buildTag}`);
      await engine.build(names.buildTag, c.build, (line) => this.events.onLog('stdout', `[build] ${line}`));
      image = names.buildTag;
    } else if (image) {
      await engine.ensureImage(image, (text) => {
        this.setState('pending', text);
        this.events.onLog('stdout', `[devmesh] ${text}`);
      });
    }
    if (!image) throw new Error('needs an image or a build');
    if (this.stopping) return;
    this.imageReadyAt = Date.now();
    const inspected = await engine.docker.getImage(image).inspect();
    const hc = inspected.Config?.Healthcheck?.Test;
    this.hasImageHealthcheck = Array.isArray(hc) && hc.length > 0 && hc[0] !== 'NONE';

    const networking = this.sup.networking(info);
    const containerPort = networking === 'host' ? this.spec.port : (c.port ?? this.spec.port);
    const env = { ...this.spec.env, PORT: String(containerPort) };
    const hostConfig: Docker.HostConfig = {
      Init: true, // tini as PID 1: SIGTERM reaches the app (a Node PID 1 would ignore it) and zombies are reaped
      Binds: c.volumes,
      ...(networking === 'host'
        ? { NetworkMode: 'host' }
        : {
            PortBindings: { [`${containerPort}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(this.spec.port) }] },
            ExtraHosts: ['host.docker.internal:host-gateway'],
          }),
    };
    const created = await engine.docker.createContainer({
      name: names.name,
      Image: image,
      ...(c.command !== undefined
        ? { Cmd: Array.isArray(c.command) ? c.command : splitCommand(c.command) }
        : this.spec.command.length > 0
          ? { Cmd: Array.isArray(this.spec.command) ? this.spec.command : splitCommand(this.spec.command) }
          : {}),
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: names.labels,
      ...(networking === 'published' ? { ExposedPorts: { [`${containerPort}/tcp`]: {} } } : {}),
      HostConfig: hostConfig,
    });
    this.container = created;
    this.sup.reaper?.watchContainer(created.id, engine.endpoint);
    if (this.stopping) return;
    await this.launch();
  }

  private async launch(): Promise<void> {
    const container = this.container!;
    const seq = ++this.runSeq;
    // Attach before start so no early line is lost; attach only sees output from now on (no replay).
    const stream = await container.attach({ stream: true, stdout: true, stderr: true, logs: false });
    const out = new PassThrough();
    const err = new PassThrough();
    this.sup.engine.docker.modem.demuxStream(stream, out, err);
    stream.on('end', () => {
      out.end();
      err.end();
    });
    createInterface({ input: out }).on('line', (line) => this.events.onLog('stdout', line));
    createInterface({ input: err }).on('line', (line) => this.events.onLog('stderr', line));
    // next-exit: a wait on a created (not yet running) container would otherwise return at once.
    const exited = container.wait({ condition: 'next-exit' });
    this.setState('starting');
    try {
      await container.start();
    } catch (e) {
      (stream as unknown as { destroy(): void }).destroy();
      throw new EngineError('CONTAINER_FAILED', `${this.spec.id}: the engine could not start the container: ${messageOf(e)}`);
    }
    this.running = true;
    this.startedAtMs = Date.now();
    const state = (await container.inspect()).State;
    this.pid = state.Pid || null;
    void exited.then(
      () => this.onExit(seq),
      () => this.onExit(seq),
    );
    const current = () => this.runSeq === seq && this.running;
    void this.waitHealthy(
      current,
      () => this.healthyOnce(),
      () =>
        this.spec.health
          ? `GET ${this.spec.health} on port ${this.spec.port} did not answer 2xx`
          : this.hasImageHealthcheck
            ? `the image's HEALTHCHECK did not report healthy`
            : `nothing listens on port ${this.spec.port}`,
      () => this.events.onLog('stdout', `[devmesh] healthy ${Date.now() - this.imageReadyAt} ms after the image was ready (image: ${this.imageReadyAt - this.createdAt} ms)`),
    );
  }

  private async healthyOnce(): Promise<boolean> {
    if (this.spec.health) return probe(this.spec.port, this.spec.health);
    if (this.hasImageHealthcheck) {
      const s = (await this.container!.inspect()).State as { Health?: { Status?: string } };
      return s.Health?.Status === 'healthy';
    }
    return probe(this.spec.port, undefined);
  }

  private async onExit(seq: number): Promise<void> {
    if (seq !== this.runSeq || !this.running) return;
    this.running = false;
    this.pid = null;
    let reason: string;
    try {
      reason = exitReason((await this.container!.inspect()).State);
    } catch (e) {
      reason = `container gone: ${messageOf(e)}`;
    }
    if (this.stopping) {
      this.lastExit = reason;
      return; // stop() reports the final state
    }
    this.restartAfterCrash(reason, () => void this.launch().catch((err: unknown) => this.fail(err)));
  }

  async stop(graceMs = 5000): Promise<void> {
    this.beginStop();
    await this.launched; // a pull or create in flight finishes (or fails) first
    const container = this.container;
    if (!container) {
      if (this.state !== 'failed') this.setState('stopped', this.lastExit);
      return;
    }
    if (this.running) this.setState('stopping');
    try {
      // The engine sends the image's stop signal (SIGTERM), then SIGKILL after t seconds.
      await container.stop({ t: Math.max(1, Math.ceil(graceMs / 1000)) });
    } catch {
      /* already stopped (304) or gone (404) */
    }
    this.running = false;
    this.pid = null;
    try {
      await container.remove({ force: true, v: true });
    } catch {
      /* gone */
    }
    this.sup.reaper?.forgetContainer(container.id);
    this.container = null;
    this.setState('stopped', this.lastExit);
  }
}

export interface ContainerSupervisorOptions {
  engine?: DockerEngine;
  networking?: ContainerNetworking | undefined;
}

export class ContainerSupervisor implements Supervisor {
  readonly kind = 'container' as const;
  readonly engine: DockerEngine;
  private readonly workloads = new Set<ContainerWorkload>();
  private info: Promise<EngineInfo> | null = null;
  private readonly forced: ContainerNetworking | undefined;

  constructor(
    readonly reaper: Reaper | null,
    private readonly run: ContainerRun,
    opts: ContainerSupervisorOptions = {},
  ) {
    this.engine = opts.engine ?? new DockerEngine();
    const env = process.env.DEVMESH_DOCKER_NETWORK;
    this.forced = opts.networking ?? (env === 'host' || env === 'published' ? env : undefined);
  }

  /** The engine's info, asked once; rejects with EngineError NO_ENGINE when there is none. */
  engineInfo(): Promise<EngineInfo> {
    if (!this.info) {
      this.info = this.engine.info();
      this.info.catch(() => {});
    }
    return this.info;
  }

  networking(info: EngineInfo): ContainerNetworking {
    return this.forced ?? (info.sharesHostKernel ? 'host' : 'published');
  }

  /**
   * The 127.0.0.1 port the sidecar forwards to. With host networking it is the app's own port (the
   * file's `port`, else a free one told in PORT); published, a free host port mapped to the container's.
   */
  async appPort(fileport: number | undefined): Promise<number> {
    let networking: ContainerNetworking = 'host';
    try {
      networking = this.networking(await this.engineInfo());
    } catch {
      /* no engine: the workload fails on its own; any port will do */
    }
    return networking === 'host' && fileport !== undefined ? fileport : freePort();
  }

  /** How the app inside the container reaches this machine's loopback (the sidecar's outbound listeners). */
  async upstreamHost(): Promise<string> {
    try {
      return this.networking(await this.engineInfo()) === 'host' ? '127.0.0.1' : 'host.docker.internal';
    } catch {
      return '127.0.0.1';
    }
  }

  /** An instance's container name (unique per run), its labels, and the tag of its built image (one per service version). */
  namesOf(instanceId: string, c: Pick<ContainerWorkloadSpec, 'service' | 'version'>): { name: string; labels: Record<string, string>; buildTag: string } {
    const { mesh, home, runId } = this.run;
    return {
      name: `devmesh-${mesh}-${instanceId}-${runId}`,
      labels: { [LABEL.mesh]: mesh, [LABEL.home]: homeHash(home), [LABEL.service]: c.service, [LABEL.instance]: instanceId, [LABEL.run]: runId },
      buildTag: `devmesh-${mesh}-${c.service}${c.version ? `-${c.version}` : ''}:latest`,
    };
  }

  /** Removes containers of this mesh and home left by an earlier run (crashed, or killed with SIGKILL). */
  async removeLeftovers(): Promise<number> {
    await this.engineInfo();
    const left = await this.engine.listMeshContainers(this.run.mesh, homeHash(this.run.home));
    return this.engine.removeContainers(left.map((c) => c.Id));
  }

  start(spec: WorkloadSpec, events: WorkloadEvents): Workload {
    const w = new ContainerWorkload(spec, events, this);
    this.workloads.add(w);
    return w;
  }

  async stopAll(graceMs?: number): Promise<void> {
    await Promise.all([...this.workloads].map((w) => w.stop(graceMs)));
    this.workloads.clear();
  }
}

