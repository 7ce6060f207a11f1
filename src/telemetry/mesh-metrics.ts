// The control plane's /metrics: a federation of every sidecar's Istio-standard metrics (each sidecar keeps
// them with prom-client and hands them over on a `scrape` control message, proxy/protocol/index.ts), plus the control
// plane's own registry. Families with the same name from several sidecars are merged under one HELP/TYPE
// header, and each sample gains `pod="<instance>"` so two replicas of one workload never collide.
import { Counter, Gauge, Registry } from 'prom-client';
import type { Span, StatusResponse } from '../contract/api.js';

export class MeshMetrics {
  readonly registry = new Registry();
  private readonly spans: Counter<'kind'>;
  private readonly instances: Gauge<'service' | 'state'>;
  private readonly configVersion: Gauge;
  private readonly otlpRequests: Counter<'signal' | 'protocol' | 'outcome'>;

  constructor(mesh: string) {
    this.registry.setDefaultLabels({ mesh });
    this.spans = new Counter({ name: 'devmesh_spans_stored_total', help: 'Spans stored in the trace store, by kind.', labelNames: ['kind'], registers: [this.registry] });
    this.instances = new Gauge({ name: 'devmesh_instances', help: 'Instances per service and state.', labelNames: ['service', 'state'], registers: [this.registry] });
    this.configVersion = new Gauge({ name: 'devmesh_config_version', help: 'Configuration version pushed to the sidecars.', registers: [this.registry] });
    this.otlpRequests = new Counter({
      name: 'devmesh_otlp_requests_total',
      help: 'OTLP export requests from apps, by signal, protocol (http/protobuf, http/json, grpc) and outcome (accepted, rejected).',
      labelNames: ['signal', 'protocol', 'outcome'],
      registers: [this.registry],
    });
  }

  observeOtlp(signal: string, protocol: string, outcome: 'accepted' | 'rejected'): void {
    this.otlpRequests.inc({ signal, protocol, outcome });
  }

  observeSpans(spans: readonly Span[]): void {
    for (const s of spans) this.spans.inc({ kind: s.kind });
  }

  observeStatus(status: StatusResponse): void {
    this.instances.reset();
    for (const svc of status.services) {
      const byState = new Map<string, number>();
      for (const i of svc.instances) byState.set(i.state, (byState.get(i.state) ?? 0) + 1);
      for (const [state, n] of byState) this.instances.set({ service: svc.name, state }, n);
    }
    this.configVersion.set(status.config.version);
  }

  /** Prometheus text: the control plane's registry, then every sidecar's families merged. */
  async render(sidecars: readonly { pod: string; text: string }[]): Promise<string> {
    const own = await this.registry.metrics();
    return own.trimEnd() + '\n' + mergeExpositions(sidecars);
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Merges Prometheus text expositions: one HELP/TYPE per family, samples labelled with their pod. */
export function mergeExpositions(sources: readonly { pod: string; text: string }[]): string {
  const families = new Map<string, { help: string | null; type: string | null; samples: string[] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { help: null, type: null, samples: [] }));
    return f;
  };
  for (const { pod, text } of sources) {
    let current: string | null = null;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (meta) {
        current = meta[2]!;
        const f = family(current);
        if (meta[1] === 'HELP') f.help ??= line;
        else f.type ??= line;
        continue;
      }
      if (line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(.*)$/.exec(line);
      if (!m) continue;
      const labels = m[2] ? `{${m[2].slice(1, -1)}${m[2].length > 2 ? ',' : ''}pod="${pod.replace(/["\\]/g, '')}"}` : `{pod="${pod.replace(/["\\]/g, '')}"}`;
      // _bucket/_sum/_count samples belong to the family declared last (histograms).
      family(current && m[1]!.startsWith(current) ? current : m[1]!).samples.push(`${m[1]}${labels} ${m[3]}`);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    if (f.help) out.push(f.help);
    if (f.type) out.push(f.type);
    out.push(...f.samples);
  }
  return out.length ? out.join('\n') + '\n' : '';
}
