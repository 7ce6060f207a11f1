// The API's answers, assembled from the control plane's parts (through MeshControl): its status, the
// telemetry it keeps, the mesh file editor and the lifecycle operations.
import type { ApplyResponse, LifecycleAction, ServiceMetricsResponse, StatusResponse } from '../contract/api.js';
import { UnknownServiceError } from '../control-plane/explain.js';
import { edgesOf, seriesOf } from '../telemetry/golden-metrics.js';
import { spansToOtlp, otlpToSpans } from '../telemetry/otlp.js';
import { isAppSpan } from '../telemetry/otlp-signals.js';
import { ApiFailure, type ApiHandlers } from './api-server.js';
import type { MeshControl } from './mesh-control.js';
import type { MeshFileEditor } from './mesh-file-editor.js';

/** `uiUrl` is asked on each status: the server's port is known only once it listens. */
export function createApiHandlers(cp: MeshControl, editor: MeshFileEditor, uiUrl: () => string): ApiHandlers {
  const { telemetry } = cp;
  const { store } = telemetry;
  const status = (): StatusResponse => ({ ...cp.status(), uiUrl: uiUrl(), operations: cp.operations.recent, otlpEndpoint: telemetry.otlpEndpoint, ...(telemetry.otlpEndpoint !== null ? { otlpHeaders: telemetry.otlpHeaders, otlpGrpcEndpoint: telemetry.otlpGrpcEndpoint } : {}) });

  const afterApply = async (): Promise<ApplyResponse> => {
    await cp.reload();
    const s = cp.status();
    return {
      applied: s.config.error === null,
      problems: [],
      version: s.config.version,
      sidecars: s.services.flatMap((svc) => svc.instances.map((i) => ({ id: i.id, ackedVersion: i.sidecar.ackedVersion, lastNack: i.sidecar.lastNack }))),
      error: s.config.error,
    };
  };

  return {
    status,
    listTraces: (q) => ({ traces: store.listTraces(q) }),
    getTrace: (traceId) => {
      const spans = store.getTrace(traceId);
      return spans.length ? { traceId, spans } : null;
    },
    traceOtlp: (traceId) => {
      const spans = store.getTrace(traceId);
      return spans.length ? spansToOtlp(spans) : null;
    },
    importOtlp: (body) => {
      let spans;
      try {
        spans = otlpToSpans(body);
      } catch (err) {
        throw new ApiFailure(400, 'BAD_OTLP', `not OTLP JSON: ${(err as Error).message.slice(0, 300)}`);
      }
      store.add(spans);
      return { imported: spans.length };
    },
    logs: (q) => telemetry.logs.query(q, (instance, from, to) => store.serverSpansOf(instance, from, to)),
    tap: (q) => telemetry.tap.read(q),
    topology: (windowMs) => {
      const now = Date.now();
      return { windowMs, edges: edgesOf(store.spansBetween(now - windowMs, now, { kind: 'client' }).filter((s) => !isAppSpan(s)), windowMs) };
    },
    serviceMetrics: (service, windowMs, stepMs): ServiceMetricsResponse => {
      // Whole buckets only, aligned to the step, so a chart does not wobble between polls.
      const to = Math.ceil(Date.now() / stepMs) * stepMs;
      const from = to - windowMs;
      // The sidecars' spans: an app's own span of a request it served (OTLP) is not a second request.
      const spans = store.spansBetween(from, to, { service }).filter((s) => !isAppSpan(s));
      return {
        service,
        stepMs,
        inbound: seriesOf(spans.filter((s) => s.kind === 'server'), from, to, stepMs),
        outbound: seriesOf(spans.filter((s) => s.kind === 'client'), from, to, stepMs),
        source: 'computed from the spans every sidecar reports (exact per request); the sidecars’ prom-client counters are on /metrics',
      };
    },
    lifecycle: (action: LifecycleAction, service) => {
      if (service !== null && !cp.status().services.some((s) => s.name === service)) throw new ApiFailure(404, 'NO_SUCH_SERVICE', `no service "${service}" in this mesh`);
      return { operation: cp.operations.run(action, service) };
    },
    config: () => {
      const s = cp.status();
      return { file: editor.file, text: editor.read(), version: s.config.version, error: s.config.error, revisions: editor.history };
    },
    validateConfig: (text) => editor.validate(text),
    applyConfig: async (text, baseText) => {
      const v = editor.write(text, baseText);
      if (!v.valid) return { applied: false, problems: v.problems, version: cp.status().config.version, sidecars: [], error: 'the text is invalid; nothing was written' };
      return afterApply();
    },
    undoConfig: async () => {
      editor.undo();
      return afterApply();
    },
    explain: async (q) => {
      try {
        return await cp.explain(q);
      } catch (err) {
        if (err instanceof UnknownServiceError) throw new ApiFailure(404, err.code, err.message);
        throw err;
      }
    },
    // App telemetry over OTLP (issue 15).
    appLogs: (q) => telemetry.appLogs.query(q),
    appMetrics: (service) => telemetry.appMetrics.of(service),
    prometheus: async () => {
      telemetry.metrics.observeStatus(status());
      return { contentType: telemetry.metrics.contentType, text: await telemetry.metrics.render(await cp.scrapeSidecars()) };
    },
  };
}
