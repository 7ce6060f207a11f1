// The control plane: loads the mesh file, issues certificates, starts every instance with its sidecar in
// dependency order, pushes each sidecar its configuration, stores the spans they report, and watches the
// mesh file to push route changes live. It knows nothing of the API that serves it: src/host/ wires the two
// (the API sees it through api/mesh-control.ts, which this class satisfies structurally).
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'chokidar';
import type { ConfigVersionRecord, ExplainRequest, ExplainResponse, InstanceState, ServiceStatus, SidecarStatus, StatusResponse } from '../contract/api.js';
import { spiffeId, type Cluster, type ListenerPorts, type SidecarConfig, type TlsMaterial } from '../../proxy/protocol/index.js';
import { LocalCa, DEFAULT_LEAF_TTL_MS, type IssuedCert } from '../ca/local-ca.js';
import { formatProblem, loadMeshFile, MeshConfigError, meshFilesOf, meshWarnings } from '../config/load-mesh.js';
import { watchSpecOf, type WatchSpec } from '../config/watch-paths.js';
import { ServiceWatcher } from './service-watcher.js';
import { fixedPortClashes, instancesOf, startOrder, upstreamEnvName, type InstanceSpec } from '../config/mesh-model.js';
import type { MeshFile } from '../config/mesh-schema.js';
import { ProcessSupervisor } from '../supervisor/process-supervisor.js';
import { ContainerSupervisor } from '../supervisor/container-supervisor.js';
import { Reaper, signalOrphanedReaper } from '../supervisor/reaper.js';
import { isAlive } from '../supervisor/pid-watch.js';
import { ControlServer } from './control-server.js';
import type { Workload, WorkloadEvents } from '../supervisor/supervisor.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { LifecycleOperations } from './lifecycle-operations.js';
import { PushRejected, SidecarHandle, type SidecarEvents, type SidecarLaunch } from './sidecar-handle.js';
import { SharedProxy } from './shared-proxy.js';
import { buildClusters, buildGatewayConfig, buildSidecarConfig, mtlsOf } from '../sidecar-config/sidecar-config.js';
import { explainLive } from './explain.js';
import { controlSocketOf, defaultHome, liveRun, orphanedRun, removeRunFile, statePaths, tokenFileOf, writeRunFile, type Adoption, type RunFile, type StatePaths } from './state-dir.js';
import { freePorts } from '../supervisor/free-port.js';

export interface ControlPlaneOptions {
  meshFile: string;
  home?: string;
  /** Lines for the user: lifecycle, app output prefixed by instance, config errors. */
  log?: (line: string) => void;
  /** OTLP/HTTP ingest port on 127.0.0.1 (default 4318, another free port when taken); null disables it. */
  otlpPort?: number | null;
  /** Leaf certificate lifetime; renewed after two thirds of it. */
  certTtlMs?: number;
  /**
   * How long apps and sidecars keep serving after this control plane dies, so that a `devmesh up` of the
   * same mesh file re-adopts them (default 60 s; 0 tears everything down at once).
   */
  gracePeriodMs?: number;
  /** Watch mode: restart a service when a file its `watch:` lists changes (default true; `up --no-watch` sets false). */
  watch?: boolean;
}

export const DEFAULT_GRACE_PERIOD_MS = 60_000;
/**
 * A rolling restart waits this long between its callers' ACK of a config without the instance and the
 * stop: requests they had already sent it finish (the app gets SIGTERM, which a plain app does not drain on).
 */
const DRAIN_MS = 300;
const HISTORY_LENGTH = 50;
/** Sidecars wait this much longer than the reaper, so it is the reaper that tears down, apps first. */
const ORPHAN_MARGIN_MS = 10_000;

/** The previous run's record of one instance, when it is still running and may be re-adopted. */
type AdoptedInstance = Adoption['instances'][number];
type AdoptedGateway = Adoption['gateways'][number];

interface InstanceRuntime {
  spec: InstanceSpec;
  appPort: number;
  cert: IssuedCert;
  certIssuedAt: number;
  sidecar: SidecarHandle;
  workload: Workload | null;
  /** Starts the app again (API start/restart) with the environment it was first started with. */
  launch: (() => Workload) | null;
  state: InstanceState;
  /** The detail of the last state change (pull/build progress, why it failed), for the status. */
  detail: string | null;
  /** Taken out of its callers' endpoints for a rolling restart (watch mode, `devmesh restart SERVICE`). */
  draining: boolean;
  logFile: WriteStream;
}

interface GatewayRuntime {
  service: string;
  requestedPort: number;
  cert: IssuedCert;
  certIssuedAt: number;
  sidecar: SidecarHandle;
}

export class ControlPlane {
  /** The API token: a control plane re-adopting a mesh keeps the one its sidecars dial in with. */
  private tokenValue = randomBytes(24).toString('base64url');
  private apiUrl = '';
  private control!: ControlServer;
  private sidecarLaunch!: SidecarLaunch;
  /** What the run that died left to re-adopt (set by open()). */
  private previous: { apiUrl: string; adoption: Adoption | null } | null = null;
  private runFile: string | null = null;
  private persistScheduled: NodeJS.Timeout | null = null;
  private mesh!: MeshFile;
  private readonly meshFile: string;
  private paths!: StatePaths;
  private ca!: LocalCa;
  /** Set by open(): the spans, logs and metrics the API reads. */
  telemetry!: Telemetry;
  readonly operations: LifecycleOperations;
  private reaper!: Reaper;
  private supervisor!: ProcessSupervisor;
  /** Only when the mesh has container services. */
  private containers: ContainerSupervisor | null = null;
  private readonly runId = randomBytes(4).toString('hex');
  private readonly instances: InstanceRuntime[] = [];
  /** Each instance's place in the mesh file, which `instances` keeps. */
  private instanceOrder = new Map<string, number>();
  /** While start() is still adding instances; pushes wait (pushDeferred) until it has them all. */
  private preparing = false;
  private pushDeferred = false;
  /** Ports pickPorts handed out. */
  private readonly pickedPorts = new Set<number>();
  private readonly gateways: GatewayRuntime[] = [];
  /** `dataPlane: shared`: the one proxy process of every process instance and gateway. */
  private shared: SharedProxy | null = null;
  private version = 0;
  /** What `version` was made from (the mesh's policy, the endpoint sets, the certificates), to tell a change from a repeat. */
  private versionKey: string | null = null;
  private versionMadeFrom: { mesh: MeshFile; clusters: Cluster[]; certGeneration: number } | null = null;
  /** Bumped when certificates are renewed: the sidecars' TLS material changed. */
  private certGeneration = 0;
  private readonly history: ConfigVersionRecord[] = [];
  private configError: string | null = null;
  private watcher: FSWatcher | null = null;
  /** Watch mode's file watcher (services with `watch:`), when on. */
  private serviceWatcher: ServiceWatcher | null = null;
  private readonly watchedServices = new Map<string, WatchSpec>();
  private timers: NodeJS.Timeout[] = [];
  private pushScheduled: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly log: (line: string) => void;
  private readonly certTtlMs: number;
  private readonly gracePeriodMs: number;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.meshFile = resolve(opts.meshFile);
    this.log = opts.log ?? (() => {});
    this.certTtlMs = opts.certTtlMs ?? DEFAULT_LEAF_TTL_MS;
    this.gracePeriodMs = opts.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    this.operations = new LifecycleOperations({ stop: (s, p) => this.stopApps(s, p), start: (s, p) => this.startApps(s, p), restart: (s, p) => this.restartRolling(s, p) }, this.log);
  }

  /** Where this mesh keeps its state (set by open()). */
  get stateDir(): StatePaths {
    return this.paths;
  }

  /**
   * Loads the mesh file and opens what status() and the telemetry need, starting nothing: a host can serve
   * the API before start() (status then shows the startup as it goes). start() calls it when nobody did.
   */
  async open(): Promise<void> {
    if (this.mesh) return;
    this.mesh = loadMeshFile(this.meshFile); // throws MeshConfigError with located problems
    const home = this.opts.home ?? defaultHome();
    this.paths = statePaths(home, this.mesh.name);
    const running = liveRun(this.paths.runDir, this.meshFile);
    if (running) throw new Error(`${this.meshFile} is already running (devmesh up, pid ${running.pid}, ${running.apiUrl}); stop it with devmesh down first`);
    // A control plane of this mesh file that died within the grace period left its apps and sidecars serving.
    const previous = orphanedRun(this.paths.runDir, this.meshFile);
    const adoption = previous?.run.adoption ?? null;
    if (previous) this.tokenValue = previous.run.token; // the token the waiting sidecars dial in with
    this.ca = LocalCa.loadOrCreate(this.paths.caDir);
    this.telemetry = new Telemetry({
      tracesDb: this.paths.tracesDb,
      mesh: this.mesh.name,
      // Re-adopted apps keep exporting where, and with what, they were told.
      otlpPort: this.opts.otlpPort !== undefined ? this.opts.otlpPort : adoption?.otlp?.port,
      ...(adoption?.otlp?.grpcPort !== undefined ? { otlpGrpcPort: adoption.otlp.grpcPort } : {}),
      ...(adoption?.otlp ? { otlpToken: adoption.otlp.token } : {}),
      otlpExport: process.env.DEVMESH_OTLP_EXPORT,
      otlpExportHeaders: process.env.DEVMESH_OTLP_EXPORT_HEADERS,
      log: this.log,
    });
    await this.telemetry.start();
    this.reaper = new Reaper({ graceMs: this.gracePeriodMs });
    this.supervisor = new ProcessSupervisor(this.reaper, this.paths.logsDir);
    this.control = new ControlServer(controlSocketOf(this.paths.runDir, this.meshFile), this.token, this.log);
    this.sidecarLaunch = { control: this.control, token: this.token, orphanGraceMs: this.gracePeriodMs + ORPHAN_MARGIN_MS, outputDir: this.paths.logsDir };
    this.version = adoption?.configVersion ?? 0;
    this.previous = previous ? { apiUrl: previous.run.apiUrl, adoption } : null;
  }

  /** The token the API requires (and the sidecars present on the control channel). */
  get token(): string {
    return this.tokenValue;
  }

  /** The API port the previous run of this mesh served (the browser still has it open), if any. */
  get previousApiPort(): number | null {
    return this.previous ? Number(new URL(this.previous.apiUrl).port) || null : null;
  }

  /**
   * Writes the run file through which the CLI finds the API, and through which a control plane that
   * replaces this one (after a crash) re-adopts the mesh; the reaper removes it if nobody does.
   */
  publishRun(apiUrl: string): void {
    this.apiUrl = apiUrl;
    this.runFile = this.persistRunNow();
    for (const file of [this.runFile, tokenFileOf(this.runFile), this.control.socketPath]) this.reaper.watchFile(file);
  }

  async start(): Promise<void> {
    await this.open();
    const adoption = this.previous?.adoption ?? null;
    this.timers.push(setInterval(() => this.telemetry.store.prune(), 30_000).unref());
    this.timers.push(setInterval(() => this.renewCertificates(), Math.min(60_000, this.certTtlMs / 6)).unref());

    const meshDir = dirname(this.meshFile);
    const specs = instancesOf(this.mesh, meshDir);
    if (this.mesh.dataPlane === 'shared') {
      // Containers keep a sidecar each (docs/traffic.md, "Shared data plane" says why).
      const ids = [...specs.filter((s) => !s.container).map((s) => s.id), ...this.mesh.ingress.map((i) => `ingress-${i.service}`)];
      this.shared = new SharedProxy(ids, this.sidecarEnv('shared'), this.sidecarLaunch, this.reaper, this.log);
    }
    const proxies = adoption ? this.adoptableProxies(adoption) : new Set<number>();
    // Which of the previous run's processes carry on: the same instance, unchanged in the mesh file, alive.
    const keep = new Map<string, AdoptedInstance>();
    for (const prev of adoption?.instances ?? []) {
      const spec = specs.find((s) => s.id === prev.id);
      if (spec && !spec.container && prev.fingerprint === this.fingerprint(spec) && prev.appPid && prev.sidecarPid && isAlive(prev.appPid) && proxies.has(prev.sidecarPid)) keep.set(prev.id, prev);
    }
    const keepGateways = new Map<string, AdoptedGateway>();
    for (const prev of adoption?.gateways ?? []) {
      const ing = this.mesh.ingress.find((i) => i.service === prev.service && i.port === prev.requestedPort);
      if (ing && prev.sidecarPid && proxies.has(prev.sidecarPid)) keepGateways.set(prev.id, prev);
    }
    // The shared process carries on for every workload, kept or started again, unless a gateway moved
    // port: a session's listeners stay where they were bound.
    let sharedPid = this.shared ? [...proxies][0] : undefined;
    if (sharedPid && this.mesh.ingress.some((i) => !keepGateways.has(`ingress-${i.service}`))) {
      sharedPid = undefined;
      keep.clear();
      keepGateways.clear();
    }
    if (sharedPid) this.shared!.adopt(sharedPid);
    if (adoption) this.retireUnadopted(adoption, keep, keepGateways, sharedPid);
    await this.control.listen();

    if (specs.some((s) => s.container)) await this.startContainerSupport();
    // Every sidecar (and its certificate) starts now, all together, on ports picked up front: an app needs
    // its sidecar's port numbers for <UPSTREAM>_URL, not its ACK. Starting them one level after the other
    // was most of `up`'s time on a deep mesh (a 30-service chain: 30 × key, sidecar boot, ACK in a row).
    // Begun in start order (keys come off the thread pool roughly in that order), each level awaited on its own.
    const order = startOrder(this.mesh);
    this.instanceOrder = new Map(specs.map((spec, i) => [spec.id, i]));
    const preparing = new Map(order.map((service) => [service, Promise.all(specs.filter((s) => s.service === service).map((spec) => this.prepareInstance(spec, keep.get(spec.id))))]));
    for (const p of preparing.values()) p.catch(() => {}); // each awaited at its level
    this.preparing = true;
    void Promise.allSettled(preparing.values()).then(() => {
      this.preparing = false;
      if (this.pushDeferred) this.schedulePush();
    });
    const gateways = Promise.all(this.mesh.ingress.map((ing) => this.startGateway(ing.service, ing.port, keepGateways.get(`ingress-${ing.service}`))));
    gateways.catch(() => {}); // awaited below, after the apps
    // Apps start in start order but all together: a caller that starts before its upstream answers is held
    // by its sidecar until the upstream's endpoints arrive (proxy/outbound/availability.ts), as in a
    // cluster, where nothing orders pod starts. Waiting for each level's health made a 30-service chain's
    // `up` 30 app starts long. Only `dependsOn` waits: for those services to be healthy.
    const ready = new Map<string, Promise<void>>();
    for (const service of order) {
      const waitFor = (this.mesh.services[service]?.dependsOn ?? []).flatMap((d) => ready.get(d) ?? []);
      ready.set(service, (async () => {
        await Promise.all(waitFor);
        const mine = await preparing.get(service)!;
        // The app's first call goes to its sidecar's outbound listeners, bound when the sidecar takes its
        // first config. A sidecar that cannot take its config fails `up`, as before.
        await Promise.all(mine.map((p) => p.firstAck));
        for (const p of mine) await this.launchApp(p.rt, p.ports, keep.get(p.rt.spec.id));
        this.schedulePush();
        // An instance that cannot start is reported, not fatal.
        await Promise.all(
          mine.map((p) => p.rt.workload?.ready.catch((err: Error) => this.log(`warning: ${err.message}; starting the rest of the mesh anyway`))),
        );
      })());
    }
    await Promise.all(ready.values());
    await gateways;
    this.control.settle();
    await this.pushAll();
    if (adoption) {
      // Our reaper now knows every adopted process: the one of the control plane that died may go.
      if (adoption.reaperPid) signalOrphanedReaper(adoption.reaperPid, 'stand-down');
      const restarted = (adoption.instances.length - keep.size) + (adoption.gateways.length - keepGateways.size);
      this.log(`re-adopted ${keep.size} instance${keep.size === 1 ? '' : 's'} and ${keepGateways.size} gateway${keepGateways.size === 1 ? '' : 's'} of the previous run (same pids, no restart)${restarted > 0 ? `; ${restarted} changed in the mesh file or had exited, and were started again` : ''}`);
    }
    this.schedulePersist();
    this.watchMeshFile();
    await this.startWatchMode();
  }

  /** Watch mode: services with `watch:` restart, one instance at a time, when a file they watch changes. */
  private async startWatchMode(): Promise<void> {
    for (const w of meshWarnings(this.meshFile, this.mesh)) this.log(`warning: ${formatProblem(w)}`);
    for (const [name, svc] of Object.entries(this.mesh.services)) {
      const spec = watchSpecOf(svc.watch);
      if (spec) this.watchedServices.set(name, spec);
    }
    if (this.watchedServices.size === 0) return;
    if (this.opts.watch === false) {
      this.log(`watch: off (--no-watch); ${[...this.watchedServices.keys()].join(', ')} would restart on changes`);
      this.watchedServices.clear();
      return;
    }
    this.serviceWatcher = new ServiceWatcher(
      dirname(this.meshFile),
      this.watchedServices,
      (service, files) => {
        const shown = files.length > 3 ? `${files.slice(0, 3).join(', ')} and ${files.length - 3} more` : files.join(', ');
        this.operations.run('restart', service, `watch: ${shown} changed`);
      },
      this.log,
    );
    await this.serviceWatcher.start();
    for (const [name, spec] of this.watchedServices) this.log(`watch: ${name} restarts when ${spec.paths.join(', ')} change${spec.ignore.length > 0 ? ` (not ${spec.ignore.join(', ')})` : ''}`);
  }

  /**
   * Restarts a service's instances one at a time. Each is first taken out of its callers' endpoints (and
   * waited for: they ACK a config without it), so no new request reaches it while it is down: with other
   * instances, they take the traffic; with none, the callers' sidecars hold requests until it is back
   * (proxy/outbound/availability.ts, up to 3 s). Then it is stopped, started, waited for until healthy, and
   * put back before the next one goes.
   */
  private async restartRolling(service: string, progress: (detail: string) => void): Promise<void> {
    if (!this.mesh.services[service]) throw new Error(`no service "${service}"`);
    const mine = this.instances.filter((rt) => rt.spec.service === service && rt.launch);
    for (const [i, rt] of mine.entries()) {
      progress(`restarting ${service} (${i + 1}/${mine.length})`);
      rt.draining = true;
      try {
        await this.pushAll();
        if (rt.workload) {
          if (rt.state === 'running') await new Promise((r) => setTimeout(r, DRAIN_MS));
          await rt.workload.stop();
        }
        if (this.stopped) return;
        rt.workload = rt.launch!();
        await rt.workload.ready;
      } finally {
        rt.draining = false;
        await this.pushAll();
      }
    }
  }

  /**
   * The previous run's live proxy processes this run can take over as they are: in sidecar mode a process
   * serving one workload; in shared mode the process serving every workload this run shares (a process
   * learns its ids when it starts, so one that lacks an id of this run is started again).
   */
  private adoptableProxies(adoption: Adoption): Set<number> {
    const hosted = new Map<number, string[]>();
    for (const p of [...adoption.instances, ...adoption.gateways]) {
      if (p.sidecarPid) hosted.set(p.sidecarPid, [...(hosted.get(p.sidecarPid) ?? []), p.id]);
    }
    const shared = this.shared;
    const fits = (ids: string[]) => (shared ? shared.ids.every((id) => ids.includes(id)) : ids.length === 1);
    return new Set([...hosted].filter(([pid, ids]) => fits(ids) && isAlive(pid)).map(([pid]) => pid));
  }

  /** Stops what the previous run left that this one will not take over (changed, removed, half dead). */
  private retireUnadopted(adoption: Adoption, keep: Map<string, AdoptedInstance>, keepGateways: Map<string, AdoptedGateway>, sharedPid: number | undefined): void {
    const groups = [
      ...adoption.instances.filter((i) => !keep.has(i.id)).flatMap((i) => [i.appPid, i.sidecarPid]),
      ...adoption.gateways.filter((g) => !keepGateways.has(g.id)).map((g) => g.sidecarPid),
    ];
    for (const pgid of groups) {
      if (!pgid || pgid === sharedPid || !isAlive(pgid)) continue;
      try {
        process.kill(-pgid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  }

  /** What of an instance's spec, once started, only a restart can change. */
  private fingerprint(spec: InstanceSpec): string {
    const upstreams = this.mesh.services[spec.service]?.upstreams ?? [];
    return createHash('sha256').update(JSON.stringify({ spec, upstreams, mesh: this.mesh.name })).digest('hex').slice(0, 32);
  }

  /** The run file, with what a control plane re-adopting this mesh needs; rewritten as pids and ports change. */
  private runRecord(): RunFile {
    return {
      pid: process.pid,
      mesh: this.mesh.name,
      meshFile: this.meshFile,
      cwd: process.cwd(),
      apiUrl: this.apiUrl,
      token: this.token,
      adoption: {
        reaperPid: this.reaper.pid,
        controlSocket: this.control.socketPath,
        configVersion: this.version,
        otlp: this.telemetry.otlpEndpoint
          ? {
              port: Number(new URL(this.telemetry.otlpEndpoint).port),
              token: this.telemetry.otlpToken,
              ...(this.telemetry.otlpGrpcEndpoint ? { grpcPort: Number(new URL(this.telemetry.otlpGrpcEndpoint).port) } : {}),
            }
          : null,
        instances: this.instances.map((rt) => ({
          id: rt.spec.id,
          fingerprint: this.fingerprint(rt.spec),
          appPid: rt.workload?.pid ?? null,
          appPort: rt.appPort,
          appStartedAtMs: rt.workload?.startedAtMs ?? null,
          sidecarPid: rt.sidecar.pid,
          sidecarPorts: rt.sidecar.ports,
          ackedVersion: rt.sidecar.ackedVersion,
        })),
        gateways: this.gateways.map((gw) => ({
          id: gw.sidecar.id,
          service: gw.service,
          requestedPort: gw.requestedPort,
          sidecarPid: gw.sidecar.pid,
          sidecarPorts: gw.sidecar.ports,
          ackedVersion: gw.sidecar.ackedVersion,
        })),
      },
    };
  }

  private persistRunNow(): string {
    return writeRunFile(this.paths.runDir, this.runRecord());
  }

  private schedulePersist(): void {
    if (this.persistScheduled || this.stopped || !this.runFile) return;
    this.persistScheduled = setTimeout(() => {
      this.persistScheduled = null;
      if (this.stopped) return;
      try {
        this.persistRunNow();
      } catch (err) {
        this.log(`could not write the run file: ${(err as Error).message}`);
      }
    }, 50);
  }

  private leafOptions(service: string, commonName: string): Parameters<LocalCa['issue']>[0] {
    return { commonName, uris: [spiffeId(this.mesh.name, service)], dnsNames: [service, 'localhost'], ttlMs: this.certTtlMs };
  }

  private issue(service: string, commonName: string): { cert: IssuedCert; certIssuedAt: number } {
    return { cert: this.ca.issue(this.leafOptions(service, commonName)), certIssuedAt: Date.now() };
  }

  private async issueAsync(service: string, commonName: string): Promise<{ cert: IssuedCert; certIssuedAt: number }> {
    return { cert: await this.ca.issueAsync(this.leafOptions(service, commonName)), certIssuedAt: Date.now() };
  }

  private sidecarEnv(id: string): Record<string, string> {
    return { DEVMESH_HOME: this.paths.home, DEVMESH_SIDECAR: id };
  }

  private sidecarEvents(id: string, onExit: (reason: string) => void): SidecarEvents {
    return {
      onSpans: (spans: Parameters<Telemetry['addSpans']>[0]) => this.telemetry.addSpans(spans),
      onLog: (line: string) => this.log(`${id}.proxy | ${line}`),
      // An instance is an endpoint only while its sidecar lives: callers stop dialling a dead one now, not
      // after its restart, and take it back once it serves again.
      onExit: (reason) => {
        onExit(reason);
        this.schedulePush();
      },
      onRestarted: () => this.schedulePush(),
    };
  }

  /** Connects to the Docker engine and removes what a crashed earlier run of this mesh left. Never fatal. */
  private async startContainerSupport(): Promise<void> {
    this.containers = new ContainerSupervisor(this.reaper, { mesh: this.mesh.name, home: this.paths.home, runId: this.runId });
    try {
      const info = await this.containers.engineInfo();
      const networking = this.containers.networking(info);
      this.log(`containers: Docker ${info.serverVersion} (${info.operatingSystem}), ${networking} networking`);
      if (networking === 'host') {
        for (const clash of fixedPortClashes(instancesOf(this.mesh, dirname(this.meshFile)), true)) {
          this.log(`containers: ${clash.ids.join(', ')} would all listen on port ${clash.port} with host networking; only the first to bind it will start (remove port so each instance gets its own in PORT, if the image honours it)`);
        }
      }
      const removed = await this.containers.removeLeftovers();
      if (removed > 0) this.log(`containers: removed ${removed} container${removed > 1 ? 's' : ''} left by an earlier run of ${this.mesh.name}`);
    } catch (err) {
      this.log(`containers: ${(err as Error).message}; container services are marked failed, process services start`);
    }
  }

  /**
   * Starts an instance's sidecar, or re-adopts it (`adopted`) as the previous run left it, and returns its
   * listener ports at once; `firstAck` settles when the sidecar has taken its first config.
   */
  private async prepareInstance(spec: InstanceSpec, adopted?: AdoptedInstance): Promise<{ rt: InstanceRuntime; ports: ListenerPorts; firstAck: Promise<unknown> }> {
    const appPort = adopted ? adopted.appPort : spec.container ? await this.containers!.appPort(spec.port) : (spec.port ?? (await this.pickPorts(1))[0]!);
    const logFile = createWriteStream(join(this.paths.logsDir, `${spec.id}.log`), { flags: 'a' });
    const rt: InstanceRuntime = {
      spec,
      appPort,
      ...(await this.issueAsync(spec.service, spec.id)),
      sidecar: null as unknown as SidecarHandle,
      workload: null,
      launch: null,
      state: 'pending',
      detail: null,
      draining: false,
      logFile,
    };
    rt.sidecar = new SidecarHandle(
      `${spec.id}`,
      this.sidecarEnv(spec.id),
      this.sidecarEvents(spec.id, (reason) => this.log(`${spec.id}: ${reason}; restarting it`)),
      this.reaper,
      this.sidecarLaunch,
      spec.container ? null : this.shared,
    );
    // In the mesh file's order whatever order the keys came in: endpoint lists and status follow it.
    const rank = (id: string) => this.instanceOrder.get(id) ?? Infinity;
    const at = this.instances.findIndex((other) => rank(other.spec.id) > rank(spec.id));
    this.instances.splice(at < 0 ? this.instances.length : at, 0, rt);
    if (adopted?.sidecarPid && adopted.sidecarPorts) {
      // Serving all along with its last config; it dials in and gets this run's first push.
      rt.sidecar.adopt({ pid: adopted.sidecarPid, ports: adopted.sidecarPorts, ackedVersion: adopted.ackedVersion });
      return { rt, ports: adopted.sidecarPorts, firstAck: Promise.resolve() };
    }
    const clusters = this.clusters();
    const config = this.sidecarConfig(rt, clusters);
    const picked = await this.pickPorts(1 + config.outbound.length);
    const ports: ListenerPorts = {
      inbound: config.inbound ? config.inbound.port || picked[0]! : null,
      outbound: Object.fromEntries(config.outbound.map((l, i) => [l.service, l.port || picked[i + 1]!])),
    };
    rt.sidecar.reservePorts(ports);
    rt.sidecar.start();
    // The ports picked here, not fixed by the mesh file: the ones firstPush may move.
    const pickedHere = new Set([
      ...(config.inbound && !config.inbound.port ? [ports.inbound!] : []),
      ...config.outbound.filter((l) => !l.port).map((l) => ports.outbound[l.service]!),
    ]);
    const firstAck = this.firstPush(rt, ports, pickedHere);
    firstAck.catch(() => {}); // awaited by start() before the app is launched
    return { rt, ports, firstAck };
  }

  /**
   * A new sidecar's first config. A port picked here may be taken before the sidecar binds it (by another
   * program, or any outgoing connection the kernel gives it to: see pickPorts); the sidecar then NACKs
   * "port N in use" and closes what it bound. That listener gets another port (in `ports`, which the
   * sidecar is pinned to) and the config goes again, at most three times; once it is ACKed, `ports` is
   * what the sidecar reports it bound, and its app is told those. A port the mesh file fixed is the
   * user's: its NACK stands.
   */
  private async firstPush(rt: InstanceRuntime, ports: ListenerPorts, picked: Set<number>): Promise<ListenerPorts> {
    for (let attempt = 1; ; attempt++) {
      const clusters = this.clusters();
      try {
        const bound = await this.send(rt.sidecar, this.currentVersion(clusters), this.sidecarConfig(rt, clusters));
        // What the sidecar bound is what its app is told: a push from elsewhere (the mesh's other levels
        // starting) may have reached it between a NACK and the retry, with the port then reserved.
        ports.inbound = bound.inbound;
        Object.assign(ports.outbound, bound.outbound);
        return bound;
      } catch (err) {
        const taken = err instanceof PushRejected ? Number(/: port (\d+) in use$/.exec(err.message)?.[1]) : NaN;
        if (attempt >= 3 || !picked.has(taken)) throw err;
        const [fresh] = await this.pickPorts(1);
        picked.add(fresh!);
        if (ports.inbound === taken) ports.inbound = fresh!;
        for (const [service, port] of Object.entries(ports.outbound)) if (port === taken) ports.outbound[service] = fresh!;
        this.log(`${rt.spec.id}: port ${taken} was taken before its sidecar could bind it; trying ${fresh}`);
      }
    }
  }

  /**
   * Free ports for apps and sidecars that bind them later, none handed out twice in this run: all instances
   * pick theirs at once, and the kernel may give a port just released to the next asker. (Another program
   * may take one before it is bound, the freePort race: a sidecar's listener then gets another port
   * (firstPush); an app fails to start and is restarted with backoff, visibly.)
   */
  private async pickPorts(n: number): Promise<number[]> {
    const out: number[] = [];
    while (out.length < n) {
      for (const port of await freePorts(n - out.length)) {
        if (this.pickedPorts.has(port)) continue;
        this.pickedPorts.add(port);
        out.push(port);
      }
    }
    return out;
  }

  /** Starts (or re-adopts) the app of a prepared instance, its upstreams reached through `ports`. */
  private async launchApp(rt: InstanceRuntime, ports: ListenerPorts, adopted?: AdoptedInstance): Promise<void> {
    const spec = rt.spec;
    const appPort = rt.appPort;
    const env: Record<string, string> = {
      // Apps with an OpenTelemetry SDK send their own spans here, to join the sidecars' (the app's env wins).
      ...this.telemetry.otelEnv({ mesh: this.mesh.name, service: spec.service, instanceId: spec.id, version: spec.version, appEnv: rt.spec.env }),
      ...rt.spec.env,
      DEVMESH_HOME: this.paths.home,
      DEVMESH_SERVICE: spec.service,
      DEVMESH_INSTANCE: spec.id,
      ...(spec.version ? { DEVMESH_VERSION: spec.version } : {}),
    };
    // A container on Docker Desktop reaches this machine's loopback as host.docker.internal.
    const upstreamHost = spec.container ? await this.containers!.upstreamHost() : '127.0.0.1';
    for (const up of this.mesh.services[spec.service]?.upstreams ?? []) {
      env[upstreamEnvName(up)] = `http://${upstreamHost}:${ports.outbound[up]}`;
    }
    const container = spec.container && { ...spec.container, port: spec.port, service: spec.service, version: spec.version };
    const workloadSpec = { id: spec.id, command: spec.command, cwd: spec.cwd, env, port: appPort, health: spec.health, ...(container ? { container } : {}) };
    const workloadEvents: WorkloadEvents = {
        onState: (state, detail) => {
          rt.state = state;
          rt.detail = detail;
          if (detail && state !== 'running') this.log(`${spec.id}: ${state}: ${detail}`);
          // Endpoints follow health: others stop sending to an instance that is down.
          this.schedulePush();
        },
        onLog: (stream, line) => {
          rt.logFile.write(`${new Date().toISOString()} ${stream} ${line}\n`);
          this.telemetry.logs.append(spec.service, spec.id, stream, line);
          this.log(`${spec.id} | ${line}`);
        },
    };
    rt.launch = () => (container ? this.containers! : this.supervisor).start(workloadSpec, workloadEvents);
    rt.workload = adopted?.appPid ? this.supervisor.adopt(workloadSpec, workloadEvents, { pid: adopted.appPid, startedAtMs: adopted.appStartedAtMs }) : rt.launch();
  }

  /** Stops the apps of one service (or all, dependents first); their sidecars stay, so they start again on the same ports. */
  private async stopApps(service: string | null, progress: (detail: string) => void): Promise<void> {
    const order = service ? [service] : startOrder(this.mesh).reverse();
    for (const name of order) {
      const mine = this.instances.filter((rt) => rt.spec.service === name && rt.workload);
      if (mine.length === 0) continue;
      progress(`stopping ${name} (${mine.length} instance${mine.length > 1 ? 's' : ''})`);
      await Promise.all(mine.map((rt) => rt.workload!.stop()));
    }
  }

  /** Starts stopped apps of one service (or all, upstreams first) and waits until they are healthy. */
  private async startApps(service: string | null, progress: (detail: string) => void): Promise<void> {
    const order = service ? [service] : startOrder(this.mesh);
    for (const name of order) {
      const mine = this.instances.filter((rt) => rt.spec.service === name && rt.launch && (!rt.workload || rt.state === 'stopped' || rt.state === 'failed'));
      if (mine.length === 0) continue;
      progress(`starting ${name} (${mine.length} instance${mine.length > 1 ? 's' : ''}), waiting for health`);
      for (const rt of mine) rt.workload = rt.launch!();
      await Promise.all(mine.map((rt) => rt.workload!.ready));
    }
  }

  async scrapeSidecars(): Promise<{ pod: string; text: string }[]> {
    const all = [...this.instances.map((rt) => ({ pod: rt.spec.id, sidecar: rt.sidecar })), ...this.gateways.map((gw) => ({ pod: gw.sidecar.id, sidecar: gw.sidecar }))];
    const texts = await Promise.all(all.map(async ({ pod, sidecar }) => ({ pod, text: await sidecar.scrape().catch(() => '') })));
    return texts.filter((t) => t.text !== '');
  }

  /**
   * Explains a request against the configuration the mesh has applied (its last good one, not the file on
   * disk), with the endpoint health the caller's sidecars report: the ingress gateway of `to`, or every
   * instance of the calling service (of one version, when given).
   */
  explain(q: ExplainRequest): Promise<ExplainResponse> {
    return explainLive(this.mesh, this.version, q, ({ app, version }) =>
      app === 'ingress'
        ? this.gateways.filter((gw) => gw.service === q.to).map((gw) => gw.sidecar)
        : this.instances.filter((rt) => rt.spec.service === app && (version === '' || rt.spec.version === version)).map((rt) => rt.sidecar),
    );
  }

  private async startGateway(service: string, port: number, adopted?: AdoptedGateway): Promise<void> {
    const id = `ingress-${service}`;
    const gw: GatewayRuntime = {
      service,
      requestedPort: port,
      ...(await this.issueAsync('ingress', id)),
      sidecar: new SidecarHandle(id, this.sidecarEnv(id), this.sidecarEvents(id, (reason) => this.log(`${id}: ${reason}; restarting it`)), this.reaper, this.sidecarLaunch, this.shared),
    };
    this.gateways.push(gw);
    if (adopted?.sidecarPid && adopted.sidecarPorts) {
      gw.sidecar.adopt({ pid: adopted.sidecarPid, ports: adopted.sidecarPorts, ackedVersion: adopted.ackedVersion });
      return;
    }
    gw.sidecar.start();
    const clusters = this.clusters();
    const ports = await this.send(gw.sidecar, this.currentVersion(clusters), this.gatewayConfig(gw, clusters));
    if (!ports.outbound[service]) throw new Error(`${id}: the gateway did not report a port for ${service}`);
  }

  private clusters(): Cluster[] {
    return buildClusters(
      this.mesh,
      this.instances.map((rt) => ({
        instanceId: rt.spec.id,
        service: rt.spec.service,
        version: rt.spec.version,
        inboundPort: rt.sidecar.ports?.inbound ?? null,
        healthy: rt.state === 'running' && rt.sidecar.serving && !rt.draining,
      })),
    );
  }

  private tlsOf(rt: { cert: IssuedCert }): TlsMaterial {
    return { caPem: this.ca.rootPem, certPem: rt.cert.certPem, keyPem: rt.cert.keyPem };
  }

  private sidecarConfig(rt: InstanceRuntime, clusters = this.clusters()): SidecarConfig {
    const workload = { service: rt.spec.service, version: rt.spec.version, instanceId: rt.spec.id };
    return buildSidecarConfig(this.mesh, workload, this.tlsOf(rt), rt.appPort, clusters);
  }

  private gatewayConfig(gw: GatewayRuntime, clusters = this.clusters()): SidecarConfig {
    return buildGatewayConfig(this.mesh, gw.service, gw.requestedPort, this.tlsOf(gw), clusters);
  }

  private schedulePush(): void {
    this.schedulePersist();
    // Until start() knows every instance, a push would tell the sidecars of a mesh only partly listed
    // (re-adopted ones, serving all along, would lose their endpoints): it waits for the full list.
    if (this.preparing) {
      this.pushDeferred = true;
      return;
    }
    if (this.pushScheduled || this.stopped) return;
    this.pushScheduled = setTimeout(() => {
      this.pushScheduled = null;
      void this.pushAll();
    }, 20);
  }

  /**
   * The version of the configuration as it is now: the current one while the mesh's policy, the endpoint
   * sets and the certificates are what it was made from; else a new one, recorded with what changed (or
   * `why`). So an instance's state changes that leave its endpoints as they were (stopped → starting, a
   * crash's backoff) make no version, and a restart makes two: its endpoint out, and back.
   */
  private currentVersion(clusters: Cluster[], why?: string): number {
    const key = createHash('sha256').update(JSON.stringify([this.mesh, clusters, this.certGeneration])).digest('hex');
    if (key === this.versionKey) return this.version;
    const reason = describeChange(this.versionMadeFrom, { mesh: this.mesh, clusters, certGeneration: this.certGeneration }, (id) => this.instances.find((rt) => rt.spec.id === id), why);
    this.version++;
    this.versionKey = key;
    this.versionMadeFrom = { mesh: this.mesh, clusters, certGeneration: this.certGeneration };
    this.history.push({ version: this.version, atMs: Date.now(), reason, sent: 0, acked: 0, nacks: [] });
    if (this.history.length > HISTORY_LENGTH) this.history.shift();
    return this.version;
  }

  /** Pushes `version` to one sidecar, counting its answer in the version's history. */
  private send(sidecar: SidecarHandle, version: number, config: SidecarConfig): Promise<ListenerPorts> {
    // Counted once per sidecar: a second push of a version still awaited is the same push.
    const record = sidecar.awaiting(version) ? undefined : this.history.find((h) => h.version === version);
    const pushed = sidecar.push(version, config);
    if (record) {
      record.sent++;
      pushed.then(
        () => void record.acked++,
        (err: Error) => void record.nacks.push(err.message),
      );
    }
    return pushed;
  }

  /**
   * Brings every sidecar to the current version (a new one only when something changed: see
   * currentVersion); returns the NACK reasons (empty when all ACKed).
   */
  private async pushAll(why?: string): Promise<string[]> {
    if (this.stopped) return [];
    const clusters = this.clusters();
    const version = this.currentVersion(clusters, why);
    // A sidecar that ACKed this version already has this very config; one still answering it is waited for.
    const due = (sidecar: SidecarHandle) => sidecar.pid !== null && sidecar.ackedVersion !== version;
    const pushes = [
      ...this.instances.filter((rt) => due(rt.sidecar)).map((rt) => this.send(rt.sidecar, version, this.sidecarConfig(rt, clusters))),
      ...this.gateways.filter((gw) => due(gw.sidecar)).map((gw) => this.send(gw.sidecar, version, this.gatewayConfig(gw, clusters))),
    ];
    const results = await Promise.allSettled(pushes);
    this.schedulePersist();
    const problems = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    for (const p of problems) this.log(`config push: ${p}`);
    return problems;
  }

  private renewCertificates(): void {
    const due = (issuedAt: number) => Date.now() - issuedAt > (this.certTtlMs * 2) / 3;
    let renewed = 0;
    for (const rt of [...this.instances, ...this.gateways]) {
      if (!due(rt.certIssuedAt)) continue;
      const service = 'spec' in rt ? rt.spec.service : 'ingress';
      Object.assign(rt, this.issue(service, 'spec' in rt ? rt.spec.id : `ingress-${rt.service}`));
      renewed++;
    }
    if (renewed > 0) {
      this.log(`renewed ${renewed} workload certificate${renewed > 1 ? 's' : ''}`);
      this.certGeneration++;
      void this.pushAll(`certificates renewed (${renewed})`);
    }
  }

  private watchMeshFile(): void {
    // The mesh file and the policy files it includes (an include that does not exist yet is watched too).
    this.watcher = watch(meshFilesOf(this.meshFile, this.mesh), { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 } });
    this.watcher.on('all', (event) => {
      if (event === 'change' || event === 'add') void this.reload();
    });
  }

  /** Re-reads the mesh file: an invalid edit is reported and changes nothing; a valid one is pushed. */
  async reload(): Promise<void> {
    let next: MeshFile;
    try {
      next = loadMeshFile(this.meshFile);
      this.watcher?.add(meshFilesOf(this.meshFile, next));
    } catch (err) {
      this.configError = err instanceof MeshConfigError ? err.message : String(err);
      this.log(`config rejected, still running the last good configuration:\n${this.configError}`);
      return;
    }
    const { mesh: applicable, needsRestart } = livePart(this.mesh, next);
    if (needsRestart.length > 0) {
      this.log(`${needsRestart.join(', ')} changed in the mesh file: policy is applied now; restart devmesh up for the rest`);
    }
    next = applicable;
    if (JSON.stringify(next) === JSON.stringify(this.mesh)) {
      // Re-read without a change (the watcher after an API apply, an editor touching the file): no new version.
      this.configError = null;
      return;
    }
    const previous = this.mesh;
    this.mesh = next;
    const problems = await this.pushAll();
    if (problems.length > 0) {
      const rejected = this.version;
      this.mesh = previous;
      this.configError = `sidecars rejected the new configuration: ${problems.join('; ')}`;
      await this.pushAll(`back to the last good configuration: sidecars rejected v${rejected}`);
      return;
    }
    this.configError = null;
    this.log(`config v${this.version} applied`);
  }

  /** The mesh's state; where its UI is, the API adds. */
  status(): Omit<StatusResponse, 'uiUrl'> {
    const services: ServiceStatus[] = Object.entries(this.mesh.services).map(([name, svc]) => ({
      name,
      ...(this.watchedServices.has(name) ? { watch: this.watchedServices.get(name)! } : {}),
      upstreams: svc.upstreams ?? [],
      mtls: mtlsOf(this.mesh, name),
      instances: this.instances
        .filter((rt) => rt.spec.service === name)
        .map((rt) => ({
          id: rt.spec.id,
          version: rt.spec.version,
          state: rt.state,
          pid: rt.workload?.pid ?? null,
          appPort: rt.appPort,
          inboundPort: rt.sidecar.ports?.inbound ?? null,
          restarts: rt.workload?.restarts ?? 0,
          startedAtMs: rt.workload?.startedAtMs ?? null,
          lastExit: rt.workload?.lastExit ?? null,
          detail: rt.detail,
          sidecar: sidecarStatus(rt.sidecar),
        })),
    }));
    return {
      mesh: this.mesh.name,
      config: {
        file: this.meshFile,
        version: this.version,
        error: this.configError,
        history: this.history.slice().reverse().map((h) => ({ ...h, nacks: [...h.nacks] })),
        watching: this.serviceWatcher !== null,
      },
      ingress: this.gateways.map((gw) => {
        const port = gw.sidecar.ports?.outbound[gw.service] ?? gw.requestedPort;
        return { service: gw.service, port, url: `http://127.0.0.1:${port}`, sidecar: sidecarStatus(gw.sidecar) };
      }),
      services,
    };
  }

  /** Stops in the order traffic flows: ingress first, then apps, then their sidecars. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.pushScheduled) clearTimeout(this.pushScheduled);
    if (this.persistScheduled) clearTimeout(this.persistScheduled);
    for (const t of this.timers) clearInterval(t);
    await this.watcher?.close();
    await this.serviceWatcher?.close();
    await Promise.all(this.gateways.map((gw) => gw.sidecar.stop()));
    await Promise.all([this.supervisor?.stopAll(), this.containers?.stopAll()]);
    await Promise.all(this.instances.map((rt) => rt.sidecar.stop()));
    for (const rt of this.instances) rt.logFile.end();
    await this.control?.close();
    if (this.runFile) removeRunFile(this.runFile);
    await this.telemetry?.stop();
    this.reaper?.close();
  }
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const cp = new ControlPlane(opts);
  try {
    await cp.start();
  } catch (err) {
    await cp.stop().catch(() => {});
    throw err;
  }
  return cp;
}


/**
 * What of an edited mesh file a running mesh can apply: all policy (routes, policies, authorization, mTLS);
 * services, ingress and the mesh name stay as started, and are listed for the user.
 */
export function livePart(current: MeshFile, next: MeshFile): { mesh: MeshFile; needsRestart: string[] } {
  const withoutMtls = (services: MeshFile['services']) =>
    JSON.stringify(Object.entries(services).map(([name, { mtls: _mtls, ...rest }]) => [name, rest]));
  const needsRestart = [
    ...(next.name !== current.name ? ['the mesh name'] : []),
    ...(withoutMtls(next.services) !== withoutMtls(current.services) ? ['services'] : []),
    ...(JSON.stringify(next.ingress) !== JSON.stringify(current.ingress) ? ['ingress'] : []),
    ...(next.dataPlane !== current.dataPlane ? ['dataPlane'] : []),
  ];
  if (needsRestart.length === 0) return { mesh: next, needsRestart };
  const services = Object.fromEntries(
    Object.entries(current.services).map(([name, svc]) => {
      const { mtls: _old, ...rest } = svc;
      const mtls = next.services[name]?.mtls;
      return [name, mtls === undefined ? rest : { ...rest, mtls }];
    }),
  );
  return { mesh: { ...next, name: current.name, services, ingress: current.ingress, dataPlane: current.dataPlane }, needsRestart };
}

function sidecarStatus(handle: SidecarHandle): SidecarStatus {
  return { pid: handle.pid, ackedVersion: handle.ackedVersion, lastNack: handle.lastNack, restarts: handle.restarts, lastExit: handle.lastExit };
}

type VersionInputs = { mesh: MeshFile; clusters: Cluster[]; certGeneration: number };

/**
 * Why a configuration version was made, from what differs between the inputs of the last one and these:
 * the mesh file's sections ("mesh file edited: routes.catalog"), the endpoints that left or came back
 * ("endpoints: web −web-0 (restarting), +web-1"), the certificates. `why` names a cause the inputs cannot
 * tell (a rollback, a renewal).
 */
export function describeChange(
  before: VersionInputs | null,
  after: VersionInputs,
  instance: (id: string) => { state: InstanceState; draining: boolean; sidecar: { serving: boolean } } | undefined,
  why?: string,
): string {
  if (!before) return why ?? 'first configuration';
  const parts: string[] = why !== undefined ? [why] : [];
  const edited: string[] = [];
  const a = before.mesh as unknown as Record<string, unknown>;
  const b = after.mesh as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key];
    const y = b[key];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    // Keyed sections (routes, policies, services…) name the entries that changed; a section added or removed is {} on its other side.
    const xs = x === undefined && isRecord(y) ? {} : x;
    const ys = y === undefined && isRecord(x) ? {} : y;
    if (isRecord(xs) && isRecord(ys)) {
      for (const sub of new Set([...Object.keys(xs), ...Object.keys(ys)])) {
        if (JSON.stringify(xs[sub]) !== JSON.stringify(ys[sub])) edited.push(`${key}.${sub}`);
      }
    } else edited.push(key);
  }
  if (edited.length > 0 && why === undefined) parts.push(`mesh file edited: ${edited.join(', ')}`);
  const endpoints = (clusters: Cluster[]) => new Map(clusters.map((c) => [c.service, new Set(c.endpoints.map((e) => `${e.instanceId}@${e.port}`))]));
  const was = endpoints(before.clusters);
  const now = endpoints(after.clusters);
  const moves: string[] = [];
  for (const service of new Set([...was.keys(), ...now.keys()])) {
    const x = was.get(service) ?? new Set<string>();
    const y = now.get(service) ?? new Set<string>();
    const id = (e: string) => e.slice(0, e.lastIndexOf('@'));
    const out = [...x].filter((e) => !y.has(e)).map((e) => {
      const rt = instance(id(e));
      const state = !rt ? 'removed' : rt.draining ? 'restarting' : !rt.sidecar.serving ? 'sidecar down' : rt.state;
      return `−${id(e)} (${state})`;
    });
    const back = [...y].filter((e) => !x.has(e)).map((e) => `+${id(e)}`);
    if (out.length + back.length > 0) moves.push(`${service} ${[...out, ...back].join(', ')}`);
  }
  if (moves.length > 0) parts.push(`endpoints: ${moves.join('; ')}`);
  if (after.certGeneration !== before.certGeneration && why === undefined) parts.push('certificates renewed');
  return parts.length > 0 ? parts.join('; ') : 'configuration changed';
}
