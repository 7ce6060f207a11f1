// What the control plane keeps about a running mesh besides its configuration: spans (SQLite), app logs
// (memory), live tap events, its own metrics, OTLP ingest and export. One object, so the control plane
// wires it with a few lines and the API reads from it.
import { randomBytes } from 'node:crypto';
import type { Span, TraceRetention } from '../contract/api.js';
import { LogStore } from './log-store.js';
import { MeshMetrics } from './mesh-metrics.js';
import { OtlpExporter } from './otlp-exporter.js';
import { OTLP_TOKEN_HEADER, OtlpReceiver } from './otlp-receiver.js';
import { Tap } from './tap.js';
import { TraceStore } from './trace-store.js';

export interface TelemetryOptions {
  tracesDb: string;
  mesh: string;
  retention?: Partial<TraceRetention>;
  /** OTLP/HTTP ingest port on 127.0.0.1; 4318 by default (another free port when taken), null disables. */
  otlpPort?: number | null;
  /** The ingest token apps send; a control plane re-adopting running apps keeps the one they were given. */
  otlpToken?: string;
  /** Collector to export every span to (OTLP/HTTP JSON), e.g. http://127.0.0.1:4318. */
  otlpExport?: string | undefined;
  log(line: string): void;
}

/** Reads DEVMESH_TRACE_MAX_SPANS / DEVMESH_TRACE_MAX_AGE (e.g. 6h, 30m, 3600s) for the store's bounds. */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<TraceRetention> {
  const out: Partial<TraceRetention> = {};
  const spans = Number(env.DEVMESH_TRACE_MAX_SPANS);
  if (Number.isInteger(spans) && spans > 0) out.maxSpans = spans;
  const age = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(env.DEVMESH_TRACE_MAX_AGE ?? '');
  if (age) out.maxAgeMs = Number(age[1]) * { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[age[2] as 'ms'];
  return out;
}

export class Telemetry {
  readonly store: TraceStore;
  readonly logs = new LogStore();
  readonly tap = new Tap();
  readonly metrics: MeshMetrics;
  otlpEndpoint: string | null = null;
  /** What apps send with their spans (OTEL_EXPORTER_OTLP_HEADERS): the ingest token, made per run. */
  readonly otlpToken: string;

  /** The headers an OpenTelemetry exporter must send, as OTEL_EXPORTER_OTLP_HEADERS says them. */
  get otlpHeaders(): Record<string, string> {
    return { [OTLP_TOKEN_HEADER]: this.otlpToken };
  }
  private receiver: OtlpReceiver | null = null;
  private exporter: OtlpExporter | null = null;

  constructor(private readonly opts: TelemetryOptions) {
    this.otlpToken = opts.otlpToken ?? randomBytes(16).toString('hex');
    this.store = new TraceStore(opts.tracesDb, { ...retentionFromEnv(), ...opts.retention });
    this.metrics = new MeshMetrics(opts.mesh);
    if (opts.otlpExport) this.exporter = new OtlpExporter(opts.otlpExport, opts.log);
    this.store.on('spans', (spans) => {
      this.tap.push(spans);
      this.metrics.observeSpans(spans);
      this.exporter?.enqueue(spans);
    });
    this.store.on('failed', (err) => opts.log(`trace store: ${err.message}`));
  }

  async start(): Promise<void> {
    const port = this.opts.otlpPort === undefined ? 4318 : this.opts.otlpPort;
    if (port === null) return;
    this.receiver = new OtlpReceiver((spans) => this.addSpans(spans), this.otlpToken);
    const bound = await this.receiver.listen(port);
    this.otlpEndpoint = `http://127.0.0.1:${bound}`;
  }

  addSpans(spans: readonly Span[]): void {
    try {
      this.store.add(spans);
    } catch (err) {
      this.opts.log(`trace store: ${(err as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    await this.receiver?.close();
    await this.exporter?.close();
    this.store.close();
  }
}
