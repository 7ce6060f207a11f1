// The control-plane API and the UI's static files, on 127.0.0.1 only. Every /api request must carry the
// run's token (`Authorization: Bearer <token>`); the UI gets it from the URL fragment, which browsers never
// send to a server, so it does not land in any access log.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { API, type ApiError, type StatusResponse, type TraceDetailResponse, type TraceListResponse, type TraceQuery } from '../contract/api.js';

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

export interface ApiHandlers {
  status(): StatusResponse;
  listTraces(q: TraceQuery): TraceListResponse;
  getTrace(traceId: string): TraceDetailResponse | null;
}

const TraceQuerySchema = z.strictObject({
  service: z.string().min(1).max(63).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  sinceMs: z.coerce.number().nonnegative().optional(),
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

function tokenMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export class ApiServer {
  private readonly server: Server;

  constructor(private readonly token: string, private readonly handlers: ApiHandlers) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => sendError(res, 500, 'INTERNAL', err.message));
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
    if (!url.pathname.startsWith('/api/')) return this.serveUi(url.pathname, res);
    if (!tokenMatches(req, this.token)) return sendError(res, 401, 'UNAUTHORIZED', 'missing or wrong token: use the URL devmesh printed');
    if (req.method !== 'GET') return sendError(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not supported on ${url.pathname}`);

    if (url.pathname === API.status) return sendJson(res, 200, this.handlers.status());
    if (url.pathname === API.traces) {
      const q = TraceQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!q.success) return sendError(res, 400, 'BAD_QUERY', q.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
      const query: TraceQuery = {};
      if (q.data.service !== undefined) query.service = q.data.service;
      if (q.data.limit !== undefined) query.limit = q.data.limit;
      if (q.data.sinceMs !== undefined) query.sinceMs = q.data.sinceMs;
      return sendJson(res, 200, this.handlers.listTraces(query));
    }
    const traceMatch = /^\/api\/traces\/([0-9a-f]{32})$/.exec(url.pathname);
    if (traceMatch) {
      const trace = this.handlers.getTrace(traceMatch[1]!);
      return trace ? sendJson(res, 200, trace) : sendError(res, 404, 'NOT_FOUND', `no trace ${traceMatch[1]}`);
    }
    return sendError(res, 404, 'NOT_FOUND', `no API at ${url.pathname}`);
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
