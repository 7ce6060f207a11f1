// The connection-level differential: one raw upstream on 127.0.0.1 writes the case's bytes in answer to
// any request head and ends the connection; the sidecar's H1Pool and Node's http client each make one
// request, and must see the same first response (status, headers, body, trailers) or both fail.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { H1Pool, type H1Response, type Headers } from '../../proxy/http1/index.js';
import { llhttpOutcome, normalise, ourOutcome } from './response-outcome.js';

interface Seen {
  ok: boolean;
  status?: number;
  headers?: Headers;
  body?: string;
  trailers?: Headers;
  why?: string;
}

const LIMIT_MS = 3_000;

function record(flat: readonly string[]): Headers {
  const out: Headers = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    if (name === 'transfer-encoding') continue; // consumed by the sidecar's parser, see response-outcome.ts
    const value = flat[i + 1]!;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

function withLimit(p: Promise<Seen>): Promise<Seen> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<Seen>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, why: `no outcome in ${LIMIT_MS} ms` }), LIMIT_MS);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

export class ConnectionDiff {
  private bytes = Buffer.alloc(0);

  private constructor(
    private readonly server: net.Server,
    private readonly port: number,
  ) {}

  static async start(): Promise<ConnectionDiff> {
    let diff: ConnectionDiff | null = null;
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      let head = '';
      const onData = (d: Buffer): void => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        socket.end(diff!.bytes);
      };
      socket.on('data', onData);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    diff = new ConnectionDiff(server, (server.address() as net.AddressInfo).port);
    return diff;
  }

  /** Null when both clients agree on `bytes`; else what differs. */
  async compare(bytes: string, head: boolean): Promise<string | null> {
    this.bytes = Buffer.from(bytes, 'latin1');
    const method = head ? 'HEAD' : 'GET';
    const ours = await withLimit(this.ours(method));
    const node = await withLimit(this.node(method));
    // Deliberate differences (see normalise in response-outcome.ts): where the parser-level comparison
    // expects the sidecar to refuse the first response although llhttp takes it, the sidecar must refuse.
    const parsedOurs = ourOutcome(this.bytes, head, []);
    const parsedTheirs = llhttpOutcome(this.bytes, head);
    const expected = normalise(parsedOurs, parsedTheirs);
    const stricter = parsedTheirs.messages.length > 0 && expected.messages.length === 0;
    // A 101 nobody asked for: Node's client hands it over as a response, the sidecar's refuses it.
    const unasked101 = parsedTheirs.messages[0]?.status === 101;
    if (stricter || unasked101) return ours.ok ? `sidecar took a response it must refuse: ${JSON.stringify(ours)}` : null;
    if (ours.ok !== node.ok) return `verdict: sidecar ${ours.ok ? 'ok' : `failed (${ours.why})`}, node:http ${node.ok ? 'ok' : `failed (${node.why})`}`;
    if (!ours.ok) return null;
    const a = JSON.stringify(ours, sorted);
    const b = JSON.stringify(node, sorted);
    return a === b ? null : `response: sidecar ${a}, node:http ${b}`;
  }

  private async ours(method: string): Promise<Seen> {
    const pool = new H1Pool({ host: '127.0.0.1', port: this.port, tls: null }, { connections: 1, idleTimeoutMs: 1_000, connectTimeoutMs: 1_000 });
    try {
      const r: H1Response = await pool.request({ method, path: '/', headers: [], body: null });
      let body: string;
      if (r.complete !== null) body = r.complete.toString('latin1');
      else {
        body = '';
        for await (const c of r.body) body += (c as Buffer).toString('latin1');
      }
      return { ok: true, status: r.statusCode, headers: r.headers, body, trailers: { ...r.trailers } };
    } catch (err) {
      return { ok: false, why: (err as Error).message };
    } finally {
      pool.destroy();
    }
  }

  private node(method: string): Promise<Seen> {
    return new Promise<Seen>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, method, path: '/', agent: false });
      let res: http.IncomingMessage | null = null;
      const fail = (why: string): void => {
        // A parse error after the response was complete (bytes after it) does not undo the response.
        if (res !== null && res.complete) return;
        resolve({ ok: false, why });
      };
      req.on('response', (r) => {
        res = r;
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString('latin1')));
        r.on('end', () => {
          if (!r.complete) return fail('response ended incomplete');
          resolve({ ok: true, status: r.statusCode!, headers: record(r.rawHeaders), body, trailers: record(r.rawTrailers) });
        });
        r.on('aborted', () => fail('response aborted'));
        r.on('error', (e) => fail(e.message));
      });
      req.on('error', (e: Error & { code?: string }) => fail(`${e.code ?? ''} ${e.message}`));
      req.on('close', () => setTimeout(() => fail('closed without a response'), 50));
      req.end();
    });
  }

  async close(): Promise<void> {
    this.server.close();
    await once(this.server, 'close');
  }
}

function sorted(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = (value as Record<string, unknown>)[k];
  return out;
}
