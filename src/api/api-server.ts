// The control-plane API and the UI's static files, on 127.0.0.1 only. Every /api request must carry the
// run's token (`Authorization: Bearer <token>`); the UI gets it from the URL fragment, which browsers never
// send to a server, so it does not land in any access log. /metrics needs the token too (Prometheus sends it
// from the run's token file). Requests whose Host is not a loopback name are refused, so a web page cannot
// reach the API through DNS rebinding.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  API,
  type ApiError,
  type ApplyResponse,
  type ConfigDocumentResponse,
  type ExplainRequest,
  type ExplainResponse,
  type LifecycleAction,
  type LogQuery,
  type LogResponse,
  type OperationResponse,
  type OtlpImportResponse,
  type ServiceMetricsResponse,
  type StatusResponse,
  type TapResponse,
  type TopologyResponse,
  type TraceDetailResponse,
  type TraceListResponse,
  type TraceQuery,
  type ValidateResponse,
} from '../contract/api.js';
import type { AppLogQuery, AppLogResponse, AppMetricsResponse } from '../contract/api.js';
import type { ExportRequest, ExportResponse, ImportApplyResponse, ImportPreviewResponse, ImportRequest } from '../contract/api.js';

const UI_ROOT = fileURLToPath(new URL('../../renderer/', import.meta.url));
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};
const MAX_BODY = 4 * 1024 * 1024;

/** An error a handler throws to answer with a status and a stable code. */
export class ApiFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface ApiHandlers {
  status(): StatusResponse;
  listTraces(q: TraceQuery): TraceListResponse;
  getTrace(traceId: string): TraceDetailResponse | null;
  /** The rest are optional so a minimal server (tests, tools) can leave them out: absent means 404. */
  traceOtlp?(traceId: string): unknown;
  importOtlp?(body: unknown): OtlpImportResponse;
  logs?(q: LogQuery): LogResponse;
  topology?(windowMs: number): TopologyResponse;
  serviceMetrics?(service: string, windowMs: number, stepMs: number): ServiceMetricsResponse;
  lifecycle?(action: LifecycleAction, service: string | null): OperationResponse;
  tap?(q: { service?: string; afterSeq?: number; limit?: number }): TapResponse;
  config?(): ConfigDocumentResponse;
  validateConfig?(text: string): ValidateResponse;
  applyConfig?(text: string, baseText: string | undefined): Promise<ApplyResponse>;
  undoConfig?(): Promise<ApplyResponse>;
  prometheus?(): Promise<{ contentType: string; text: string }>;
  /** Explains a request against the applied configuration, with live endpoint health from the caller's sidecars. */
  explain?(req: ExplainRequest): Promise<ExplainResponse>;
  // Policy import (src/api/import-api-handlers.ts).
  importPreview?(req: ImportRequest): ImportPreviewResponse;
  importApply?(req: ImportRequest): ImportApplyResponse;
  // App telemetry over OTLP (issue 15): structured logs and app metrics.
  appLogs?(q: AppLogQuery): AppLogResponse;
  appMetrics?(service: string): AppMetricsResponse;
  exportPolicy?(req: ExportRequest): ExportResponse;
}

const ImportRequestSchema = z.strictObject({
  files: z.array(z.strictObject({ name: z.string().min(1).max(500), text: z.string().max(5_000_000) })).min(1).max(500),
  from: z.enum(['istio', 'gateway-api', 'linkerd', 'consul']).optional(),
  map: z.record(z.string().min(1).max(253), z.string().regex(/^[a-z0-9][-a-z0-9]*(\/[a-z0-9][-a-z0-9]*)?$/, 'must be local or local/version')).optional(),
});

const ExportRequestSchema = z.strictObject({
  to: z.enum(['istio', 'gateway-api', 'linkerd', 'consul']),
  format: z.enum(['hcl', 'crd']).optional(),
}).refine((r) => r.format === undefined || r.to === 'consul', { message: 'format is for to: consul', path: ['format'] });

const num = z.coerce.number();
const TraceQuerySchema = z.strictObject({
  service: z.string().min(1).max(63).optional(),
  route: z.string().min(1).max(200).optional(),
  status: z.union([z.enum(['ok', 'error']), z.coerce.number().int().min(0).max(599)]).optional(),
  minDurationMs: num.nonnegative().optional(),
  attribute: z.string().min(1).max(300).optional(),
  fromMs: num.nonnegative().optional(),
  toMs: num.nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  sinceMs: num.nonnegative().optional(),
});
const LogQuerySchema = z.strictObject({
  service: z.string().min(1).max(63).optional(),
  instance: z.string().min(1).max(100).optional(),
  search: z.string().max(200).optional(),
  afterSeq: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(5000).optional(),
});
// ---- app telemetry over OTLP (issue 15) ----
const AppLogQuerySchema = z.strictObject({
  service: z.string().min(1).max(253).optional(),
  instance: z.string().min(1).max(253).optional(),
  minSeverity: z.union([z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), z.coerce.number().int().min(0).max(24)]).optional(),
  search: z.string().max(200).optional(),
  attribute: z.string().min(1).max(300).optional(),
  traceId: z.string().regex(/^[0-9a-fA-F]{32}$/, 'must be 32 hex digits').optional(),
  spanId: z.string().regex(/^[0-9a-fA-F]{16}$/, 'must be 16 hex digits').optional(),
  afterSeq: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(5000).optional(),
});
const TapQuerySchema = z.strictObject({
  service: z.string().min(1).max(63).optional(),
  afterSeq: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
const WindowSchema = z.strictObject({
  windowMs: z.coerce.number().int().min(1000).max(24 * 3600_000).optional(),
  stepMs: z.coerce.number().int().min(1000).max(3600_000).optional(),
});
const ValidateSchema = z.strictObject({ text: z.string().max(MAX_BODY) });
const ApplySchema = z.strictObject({ text: z.string().max(MAX_BODY), baseText: z.string().max(MAX_BODY).optional() });
const ExplainSchema = z.strictObject({
  to: z.string().min(1).max(63),
  from: z.string().min(1).max(127).optional(),
  method: z.string().regex(/^[A-Za-z]{1,20}$/, 'must be an HTTP method, e.g. GET'),
  path: z.string().max(8192).startsWith('/', 'must start with /'),
  headers: z.record(z.string().min(1).max(256), z.string().max(8192)).optional(),
});

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, error: string): void {
  const body: ApiError = { code, error };
  sendJson(res, status, body);
}

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?$/;

function tokenMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const r = schema.safeParse(input);
  if (!r.success) throw new ApiFailure(400, 'BAD_REQUEST', r.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`).join('; '));
  return r.data;
}

/** Drops undefined fields (the contract's optional fields are exact under exactOptionalPropertyTypes-style use). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ApiFailure(413, 'TOO_LARGE', `request body over ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ApiFailure(400, 'BAD_JSON', `request body is not JSON: ${(err as Error).message}`);
  }
}

function need<T>(h: T | undefined, path: string): T {
  if (!h) throw new ApiFailure(404, 'NOT_FOUND', `no API at ${path}`);
  return h;
}

export class ApiServer {
  private readonly server: Server;

  constructor(private readonly token: string, private readonly handlers: ApiHandlers) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (res.headersSent) return res.destroy();
        if (err instanceof ApiFailure) sendError(res, err.status, err.code, err.message);
        else sendError(res, 500, 'INTERNAL', err.message);
      });
    });
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const h = this.handlers;
    if (!LOOPBACK_HOST.test(req.headers.host ?? '')) return sendError(res, 403, 'FORBIDDEN_HOST', `Host "${req.headers.host ?? ''}" is not a loopback address`);
    if (path === API.metrics && h.prometheus) {
      if (!tokenMatches(req, this.token)) return sendError(res, 401, 'UNAUTHORIZED', 'missing or wrong token: Prometheus reads it from the token file under $DEVMESH_HOME/run (see README)');
      const { contentType, text } = await h.prometheus();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    if (!path.startsWith('/api/')) return this.serveUi(path, res);
    if (!tokenMatches(req, this.token)) return sendError(res, 401, 'UNAUTHORIZED', 'missing or wrong token: use the URL devmesh printed');
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';

    if (method === 'GET') {
      if (path === API.status) return sendJson(res, 200, h.status());
      if (path === API.traces) return sendJson(res, 200, h.listTraces(defined(parse(TraceQuerySchema, query, 'query')) as TraceQuery));
      const traceMatch = /^\/api\/traces\/([0-9a-f]{32})(\/otlp)?$/.exec(path);
      if (traceMatch) {
        const id = traceMatch[1]!;
        const body = traceMatch[2] ? need(h.traceOtlp, path)(id) : h.getTrace(id);
        return body ? sendJson(res, 200, body) : sendError(res, 404, 'NOT_FOUND', `no trace ${id}`);
      }
      if (path === API.logs) return sendJson(res, 200, need(h.logs, path)(defined(parse(LogQuerySchema, query, 'query')) as LogQuery));
      if (path === API.tap) return sendJson(res, 200, need(h.tap, path)(defined(parse(TapQuerySchema, query, 'query'))));
      if (path === API.topology) return sendJson(res, 200, need(h.topology, path)(parse(WindowSchema, query, 'query').windowMs ?? 60_000));
      const metricsMatch = /^\/api\/services\/([^/]+)\/metrics$/.exec(path);
      if (metricsMatch) {
        const w = parse(WindowSchema, query, 'query');
        return sendJson(res, 200, need(h.serviceMetrics, path)(decodeURIComponent(metricsMatch[1]!), w.windowMs ?? 5 * 60_000, w.stepMs ?? 10_000));
      }
      if (path === API.config) return sendJson(res, 200, need(h.config, path)());
      // ---- app telemetry over OTLP (issue 15) ----
      if (path === API.appLogs) return sendJson(res, 200, need(h.appLogs, path)(defined(parse(AppLogQuerySchema, query, 'query')) as AppLogQuery));
      const appMetricsMatch = /^\/api\/services\/([^/]+)\/app-metrics$/.exec(path);
      if (appMetricsMatch) return sendJson(res, 200, need(h.appMetrics, path)(decodeURIComponent(appMetricsMatch[1]!)));
      return sendError(res, 404, 'NOT_FOUND', `no API at ${path}`);
    }
    if (method !== 'POST') return sendError(res, 405, 'METHOD_NOT_ALLOWED', `${method} is not supported on ${path}`);

    const body = await readJson(req);
    if (path === API.importOtlp) return sendJson(res, 200, need(h.importOtlp, path)(body));
    if (path === API.configValidate) return sendJson(res, 200, need(h.validateConfig, path)(parse(ValidateSchema, body, 'body').text));
    if (path === API.configApply) {
      const b = parse(ApplySchema, body, 'body');
      return sendJson(res, 200, await need(h.applyConfig, path)(b.text, b.baseText));
    }
    if (path === API.configUndo) return sendJson(res, 200, await need(h.undoConfig, path)());
    if (path === API.explain) return sendJson(res, 200, await need(h.explain, path)(defined(parse(ExplainSchema, body, 'body')) as ExplainRequest));
    // ---- policy import (the import wizard) ----
    if (path === API.importPreview) return sendJson(res, 200, need(h.importPreview, path)(parse(ImportRequestSchema, body, 'body') as ImportRequest));
    if (path === API.importApply) return sendJson(res, 200, need(h.importApply, path)(parse(ImportRequestSchema, body, 'body') as ImportRequest));
    if (path === API.exportPolicy) return sendJson(res, 200, need(h.exportPolicy, path)(parse(ExportRequestSchema, body, 'body') as ExportRequest));
    const action = /^\/api\/(?:services\/([^/]+)|mesh)\/(start|stop|restart)$/.exec(path);
    if (action) {
      const service = action[1] ? decodeURIComponent(action[1]) : null;
      return sendJson(res, 202, need(h.lifecycle, path)(action[2] as LifecycleAction, service));
    }
    return sendError(res, 404, 'NOT_FOUND', `no API at ${path}`);
  }

  private async serveUi(pathname: string, res: ServerResponse): Promise<void> {
    const rel = pathname === '/' ? 'index.html' : normalize(decodeURIComponent(pathname)).replace(/^[/\\]+/, '');
    if (rel.startsWith('..')) return sendError(res, 404, 'NOT_FOUND', 'not found');
    try {
      const body = await readFile(join(UI_ROOT, rel));
      res.writeHead(200, { 'content-type': MIME[extname(rel)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      res.end(body);
    } catch {
      sendError(res, 404, 'NOT_FOUND', `not found: ${pathname}${rel === 'index.html' ? ' (the UI is not built: run npm run build)' : ''}`);
    }
  }
}
