// What the control plane keeps about a running mesh besides its configuration: spans (SQLite), app output
// (memory), apps' OpenTelemetry log records (SQLite) and metrics (memory), live tap events, its own
// metrics, OTLP ingest (HTTP and gRPC) and export. One object, so the control plane wires it with a few
// lines and the API reads from it.
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { TraceRetention } from '../contract/api.js';
import { AppLogStore, type AppLogRetention } from './app-log-store.js';
import { AppMetricsStore } from './app-metrics.js';
import { LogStore } from './log-store.js';
import { MeshMetrics } from './mesh-metrics.js';
import { OtlpExporter, parseHeaderList } from './otlp-exporter.js';
import { OtlpGrpcReceiver } from './otlp-grpc.js';
import { OTLP_TOKEN_HEADER, OtlpReceiver, type OtlpProtocol, type OtlpRejected } from './otlp-receiver.js';
import { REPORTER_ATTRIBUTE, type OtlpBatch } from './otlp-signals.js';
import { Tap } from './tap.js';
import { TraceStore, type IncomingSpan } from './trace-store.js';

export interface TelemetryOptions {
  tracesDb: string;
  mesh: string;
  retention?: Partial<TraceRetention>;
  /** OTLP/HTTP ingest port on 127.0.0.1; 4318 by default (another free port when taken), null disables. */
  otlpPort?: number | null;
  /** OTLP/gRPC ingest port on 127.0.0.1; 4317 by default (another free port when taken), null disables. */
  otlpGrpcPort?: number | null;
  /** SQLite file of the apps' OpenTelemetry log records; app-logs.db beside tracesDb by default. */
  appLogsDb?: string;
  appLogRetention?: Partial<AppLogRetention>;
  /** The ingest token apps send; a control plane re-adopting running apps keeps the one they were given. */
  otlpToken?: string;
  /** Collector to export every span, app metric and app log to (OTLP/HTTP JSON), e.g. http://127.0.0.1:4318. */
  otlpExport?: string | undefined;
  /** Headers for the collector, `k=v,k=v` (DEVMESH_OTLP_EXPORT_HEADERS). */
  otlpExportHeaders?: string | undefined;
  log(line: string): void;
}

/** A count and an age (e.g. 6h, 30m, 3600s) from two environment variables; either may be absent. */
function boundsFromEnv(countText: string | undefined, ageText: string | undefined): { count?: number; ageMs?: number } {
  const out: { count?: number; ageMs?: number } = {};
  const count = Number(countText);
  if (Number.isInteger(count) && count > 0) out.count = count;
  const age = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(ageText ?? '');
  if (age) out.ageMs = Number(age[1]) * { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[age[2] as 'ms'];
  return out;
}

/** Reads DEVMESH_TRACE_MAX_SPANS / DEVMESH_TRACE_MAX_AGE (e.g. 6h, 30m, 3600s) for the store's bounds. */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<TraceRetention> {
  const b = boundsFromEnv(env.DEVMESH_TRACE_MAX_SPANS, env.DEVMESH_TRACE_MAX_AGE);
  return { ...(b.count !== undefined ? { maxSpans: b.count } : {}), ...(b.ageMs !== undefined ? { maxAgeMs: b.ageMs } : {}) };
}

/** Reads DEVMESH_LOG_MAX_RECORDS / DEVMESH_LOG_MAX_AGE for the bounds of the apps' OpenTelemetry log records. */
export function appLogRetentionFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<AppLogRetention> {
  const b = boundsFromEnv(env.DEVMESH_LOG_MAX_RECORDS, env.DEVMESH_LOG_MAX_AGE);
  return { ...(b.count !== undefined ? { maxRecords: b.count } : {}), ...(b.ageMs !== undefined ? { maxAgeMs: b.ageMs } : {}) };
}

/** What an instance's OpenTelemetry SDK is told (otelEnv), about the instance. */
export interface OtelResourceOf {
  mesh: string;
  service: string;
  instanceId: string;
  version?: string | undefined;
  /** The service's own env from the mesh file: it may choose OTEL_EXPORTER_OTLP_PROTOCOL=grpc or http/json. */
  appEnv?: Record<string, string> | undefined;
}

/** OTEL_RESOURCE_ATTRIBUTES is a W3C-baggage-like list: values percent-encoded. */
const resourceList = (attrs: Record<string, string>) =>
  Object.entries(attrs)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join(',');

export class Telemetry {
  readonly store: TraceStore;
  readonly logs = new LogStore();
  /** The apps' OpenTelemetry log records (structured logs) and metrics, sent over OTLP. */
  readonly appLogs: AppLogStore;
  readonly appMetrics = new AppMetricsStore();
  readonly tap = new Tap();
  readonly metrics: MeshMetrics;
  otlpEndpoint: string | null = null;
  otlpGrpcEndpoint: string | null = null;
  /** What apps send with their spans (OTEL_EXPORTER_OTLP_HEADERS): the ingest token, made per run. */
  readonly otlpToken: string;

  /** The headers an OpenTelemetry exporter must send, as OTEL_EXPORTER_OTLP_HEADERS says them. */
  get otlpHeaders(): Record<string, string> {
    return { [OTLP_TOKEN_HEADER]: this.otlpToken };
  }
  private receiver: OtlpReceiver | null = null;
  private grpcReceiver: OtlpGrpcReceiver | null = null;
  private exporter: OtlpExporter | null = null;
  private readonly pruneTimer: NodeJS.Timeout;
  private readonly rejectionsSaid = new Set<string>();

  /**
   * The environment an OpenTelemetry SDK needs to export everything to this mesh with no code: endpoint,
   * protocol, headers (the token), service name and resource (namespace = mesh, instance id, version), and
   * export intervals short enough for a dev loop. http/protobuf (what most SDKs default to and all implement)
   * unless the service's own env asks for grpc or http/json, which then gets the matching endpoint.
   * Empty when ingest is off. The app's own env wins over every variable here.
   */
  otelEnv(of: OtelResourceOf): Record<string, string> {
    if (this.otlpEndpoint === null) return {};
    const asked = of.appEnv?.OTEL_EXPORTER_OTLP_PROTOCOL;
    const grpc = asked === 'grpc' && this.otlpGrpcEndpoint !== null;
    return {
      OTEL_EXPORTER_OTLP_ENDPOINT: grpc ? this.otlpGrpcEndpoint! : this.otlpEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: grpc || asked === 'http/json' ? asked : 'http/protobuf',
      OTEL_EXPORTER_OTLP_HEADERS: Object.entries(this.otlpHeaders)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      OTEL_SERVICE_NAME: of.service,
      OTEL_RESOURCE_ATTRIBUTES: resourceList({ 'service.namespace': of.mesh, 'service.instance.id': of.instanceId, ...(of.version ? { 'service.version': of.version } : {}) }),
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'otlp',
      // Defaults are 60 s for metrics and 5 s for spans: too slow to watch a change land.
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
      OTEL_BSP_SCHEDULE_DELAY: '1000',
      OTEL_BLRP_SCHEDULE_DELAY: '1000',
      // For an app that wants the other transport without being told the port.
      DEVMESH_OTLP_HTTP_ENDPOINT: this.otlpEndpoint,
      ...(this.otlpGrpcEndpoint !== null ? { DEVMESH_OTLP_GRPC_ENDPOINT: this.otlpGrpcEndpoint } : {}),
    };
  }

  constructor(private readonly opts: TelemetryOptions) {
    this.otlpToken = opts.otlpToken ?? randomBytes(16).toString('hex');
    this.store = new TraceStore(opts.tracesDb, { ...retentionFromEnv(), ...opts.retention });
    this.metrics = new MeshMetrics(opts.mesh);
    if (opts.otlpExport) {
      let headers: Record<string, string> = {};
      try {
        headers = parseHeaderList(opts.otlpExportHeaders);
      } catch (err) {
        opts.log(`DEVMESH_OTLP_EXPORT_HEADERS: ${(err as Error).message}; exporting without headers`);
      }
      this.exporter = new OtlpExporter(opts.otlpExport, opts.log, headers);
    }
    this.store.on('spans', (spans) => {
      this.tap.push(spans);
      this.metrics.observeSpans(spans);
      this.exporter?.enqueue(spans);
    });
    this.store.on('failed', (err) => opts.log(`trace store: ${err.message}`));
    this.appLogs = new AppLogStore(opts.appLogsDb ?? join(dirname(opts.tracesDb), 'app-logs.db'), { ...appLogRetentionFromEnv(), ...opts.appLogRetention });
    this.pruneTimer = setInterval(() => this.pruneAppLogs(), 30_000).unref();
  }

  private pruneAppLogs(): void {
    try {
      this.appLogs.prune();
    } catch (err) {
      this.opts.log(`app log store: ${(err as Error).message}`);
    }
  }

  /** A refused OTLP request: counted, and said once per distinct reason (an app retries the same mistake). */
  private rejected({ signal, protocol, message }: Parameters<OtlpRejected>[0]): void {
    this.metrics.observeOtlp(signal ?? 'unknown', protocol, 'rejected');
    if (this.rejectionsSaid.size >= 100 || this.rejectionsSaid.has(message)) return;
    this.rejectionsSaid.add(message);
    this.opts.log(`otlp: refused a ${protocol} request: ${message}`);
  }

  /** Takes what an OTLP receiver validated: spans into the trace store, metrics and logs into theirs, all to the exporter. */
  private take(batch: OtlpBatch, protocol: OtlpProtocol): void {
    this.metrics.observeOtlp(batch.signal, protocol, 'accepted');
    if (batch.signal === 'traces') return this.addSpans(batch.spans.map((sp) => ({ ...sp, attributes: { ...sp.attributes, [REPORTER_ATTRIBUTE]: 'app' } })));
    if (batch.signal === 'metrics') {
      this.appMetrics.add(batch.metrics);
      this.exporter?.enqueueMetrics(batch.raw);
      return;
    }
    try {
      this.appLogs.add(batch.logs);
    } catch (err) {
      this.opts.log(`app log store: ${(err as Error).message}`);
    }
    this.exporter?.enqueueLogs(batch.raw);
  }

  async start(): Promise<void> {
    const port = this.opts.otlpPort === undefined ? 4318 : this.opts.otlpPort;
    if (port === null) return;
    this.receiver = new OtlpReceiver((batch, via) => this.take(batch, via), this.otlpToken, (r) => this.rejected(r));
    const bound = await this.receiver.listen(port);
    this.otlpEndpoint = `http://127.0.0.1:${bound}`;
    const grpcPort = this.opts.otlpGrpcPort === undefined ? 4317 : this.opts.otlpGrpcPort;
    if (grpcPort === null) return;
    this.grpcReceiver = new OtlpGrpcReceiver((batch, via) => this.take(batch, via), this.otlpToken, (r) => this.rejected(r), this.opts.log);
    try {
      this.otlpGrpcEndpoint = `http://127.0.0.1:${await this.grpcReceiver.listen(grpcPort)}`;
    } catch (err) {
      this.opts.log(`otlp: the gRPC receiver could not listen (${(err as Error).message}); OTLP/HTTP still serves ${this.otlpEndpoint}`);
      this.grpcReceiver = null;
    }
  }

  addSpans(spans: readonly IncomingSpan[]): void {
    try {
      this.store.add(spans);
    } catch (err) {
      this.opts.log(`trace store: ${(err as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.receiver?.close();
    await this.grpcReceiver?.close();
    await this.exporter?.close();
    this.store.close();
    this.appLogs.close();
  }
}
