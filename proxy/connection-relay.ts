// Copies bytes both ways between a downstream and an upstream connection (raw TCP, or a WebSocket after
// its upgrade) until either side closes, and reports once. Bytes are counted from the data itself because
// a TLS socket's bytesRead/bytesWritten count the encrypted stream, not what the two peers exchanged.
import type { Duplex } from 'node:stream';
import { classifyTransportError } from './errors.js';

export interface RelayResult {
  /** Bytes the downstream sent (through to the upstream). */
  fromDownstream: number;
  /** Bytes the upstream sent back. */
  fromUpstream: number;
  /** The first upstream error, if the connection ended on one. */
  failure: 'connect-failure' | 'upstream-reset' | null;
}

/**
 * `alreadySent`: bytes written to the upstream before the relay began (e.g. a WebSocket's head).
 * `gate`: when given, bytes flow only once it calls `start` (the upstream must say something first); a
 * failure or close before then is reported as usual.
 */
export function relayConnection(downstream: Duplex, upstream: Duplex, onClosed: (result: RelayResult) => void, alreadySent = 0, gate?: (start: () => void) => void): void {
  const result: RelayResult = { fromDownstream: alreadySent, fromUpstream: 0, failure: null };
  // Registered before the close handlers below, so the failure is known when they report.
  upstream.once('error', (err: Error) => {
    if (result.failure === null) result.failure = classifyTransportError(err) === 'connect-failure' ? 'connect-failure' : 'upstream-reset';
  });
  let closed = false;
  const done = (): void => {
    if (closed) return;
    closed = true;
    onClosed(result);
    downstream.destroy();
    upstream.destroy();
  };
  for (const s of [downstream, upstream]) {
    s.once('error', done);
    s.once('close', done);
  }
  const start = (): void => {
    if (closed) return;
    // Counted where they flow: a 'data' listener set earlier would start the flow before the gate opens.
    downstream.on('data', (chunk: Buffer) => {
      result.fromDownstream += chunk.length;
    });
    upstream.on('data', (chunk: Buffer) => {
      result.fromUpstream += chunk.length;
    });
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  };
  if (gate === undefined) start();
  else gate(start);
}
