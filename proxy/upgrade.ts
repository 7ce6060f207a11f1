// Both ends of an HTTP/1.1 Upgrade (WebSocket) on the raw downstream socket, for the inbound and the outbound
// listener alike. The refusal (a 403 from the next sidecar's authorization or a 426 from the app) must reach
// the client as that answer, not as a proxy error. (../h1-client.ts hands either back.)
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UpgradeOutcome } from './http1/index.js';

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

/**
 * The upstream's 101 relayed downstream, and the bytes the client sent after its request head (`head`)
 * passed on upstream: from here the two sockets only need relaying.
 */
export function writeSwitchingProtocols(socket: Duplex, accepted: Extract<UpgradeOutcome, { upgraded: true }>, head: Buffer): void {
  let text = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (const [name, value] of Object.entries(accepted.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) text += `${name}: ${v}\r\n`;
  }
  socket.write(`${text}\r\n`);
  if (head.length > 0) accepted.socket.write(head);
}
