// OTLP/HTTP ingest on 127.0.0.1 (POST /v1/traces, JSON), so apps instrumented with an OpenTelemetry SDK
// send their own spans and they join the sidecar spans of the same trace. No token: OpenTelemetry SDKs
// cannot be told one without code changes, and the listener is loopback-only and accepts nothing but spans.
// Protobuf bodies are answered 415 with a message naming the JSON protocol setting.
import { createServer, type Server } from 'node:http';
import type { Span } from '../contract/api.js';
import { otlpToSpans } from './otlp.js';

const MAX_BODY = 8 * 1024 * 1024;

export class OtlpReceiver {
  private readonly server: Server;

  constructor(private readonly onSpans: (spans: Span[]) => void) {
    this.server = createServer((req, res) => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/traces') return reply(404, { error: 'only POST /v1/traces is served here' });
      const type = req.headers['content-type'] ?? '';
      if (!type.includes('json')) {
        req.resume();
        return reply(415, { error: 'send OTLP as JSON: set OTEL_EXPORTER_OTLP_PROTOCOL=http/json' });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        try {
          const spans = otlpToSpans(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          this.onSpans(spans);
          reply(200, {});
        } catch (err) {
          reply(400, { error: (err as Error).message.slice(0, 500) });
        }
      });
    });
  }

  /** Listens on `port` (4318 is OTLP/HTTP's default); falls back to a free port when it is taken. */
  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE' && port !== 0) {
          this.server.listen(0, '127.0.0.1');
        } else reject(err);
      };
      this.server.on('error', onError);
      this.server.on('listening', () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
      this.server.listen(port, '127.0.0.1');
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
