// Both ends of an HTTP/1.1 Upgrade (WebSocket) on the raw downstream socket, for the inbound and the outbound
// listener alike. The refusal (a 403 from the next sidecar's authorization or a 426 from the app) must reach
// the client as that answer, not as a proxy error. (./http1/ hands either back.)
import type { Duplex } from 'node:stream';
import type { UpgradeOutcome } from './http1/index.js';

// The refusal is a response the proxy writes, so it lives with the others in errors.ts; re-exported for the
// listeners that import it from here.
export { writeRefusal } from './errors.js';

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
