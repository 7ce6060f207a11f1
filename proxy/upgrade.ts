// An HTTP/1.1 Upgrade (WebSocket) through an undici pool that also hands back a refusal. undici's own
// pool.upgrade() turns any answer other than 101 into a "bad upgrade" socket error, so a 403 from the
// next sidecar's authorization (or a 426 from the app) would reach the client as a proxy 502. This
// dispatches with a handler that takes either: the upgraded socket, or the refusal's status, headers and body.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';

export type UpgradeOutcome =
  | { upgraded: true; headers: Record<string, string | string[]>; socket: Duplex }
  | { upgraded: false; status: number; headers: Record<string, string | string[]>; body: Buffer };

const MAX_REFUSAL_BODY = 64 * 1024;

function parseRaw(raw: Buffer[] | string[] | null | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!raw) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(raw[i]).toLowerCase();
    const value = String(raw[i + 1]);
    const prev = out[name];
    out[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return out;
}

export function upgradeOrRefusal(
  dispatcher: Dispatcher,
  opts: { path: string; method: string; headers: string[]; protocol: string },
): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: Record<string, string | string[]> = {};
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const handler = {
      onConnect(): void {},
      onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
        status = statusCode;
        headers = parseRaw(rawHeaders);
        return true;
      },
      onData(chunk: Buffer): boolean {
        if (size < MAX_REFUSAL_BODY) {
          chunks.push(chunk);
          size += chunk.length;
        }
        return true;
      },
      onComplete(): void {
        if (settled) return;
        settled = true;
        resolve({ upgraded: false, status, headers, body: Buffer.concat(chunks) });
      },
      onUpgrade(_statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
        if (settled) {
          socket.destroy();
          return;
        }
        settled = true;
        resolve({ upgraded: true, headers: parseRaw(rawHeaders), socket });
      },
      onError(err: Error): void {
        if (settled) return;
        settled = true;
        reject(err);
      },
    };
    try {
      dispatcher.dispatch(
        { path: opts.path, method: opts.method as Dispatcher.HttpMethod, headers: opts.headers, upgrade: opts.protocol },
        handler as unknown as Dispatcher.DispatchHandler,
      );
    } catch (err) {
      reject(err);
    }
  });
}

/** The refusal, relayed on the raw downstream socket as an HTTP/1.1 response that closes the connection. */
export function writeRefusal(socket: Duplex, refusal: Extract<UpgradeOutcome, { upgraded: false }>): void {
  let head = `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Refused'}\r\n`;
  for (const [name, value] of Object.entries(refusal.headers)) {
    if (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding' || name === 'content-length') continue;
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v.replace(/[\r\n]/g, ' ')}\r\n`;
  }
  head += `content-length: ${refusal.body.length}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), refusal.body]));
}
