// The refusal of an HTTP/1.1 Upgrade (WebSocket): a 403 from the next sidecar's authorization or a 426 from
// the app must reach the client as that answer, not as a proxy error. (../h1-client.ts hands it back.)
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UpgradeOutcome } from './h1-client.js';

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
