// Trace context for a raw TCP connection, which has no headers to carry it. Between two sidecars the
// connection is their own mTLS session, so the outbound may say something before the app's first byte,
// which the inbound reads off and the app never sees: one line, the client span's W3C traceparent
// ("00-<trace>-<span>-<flags>\n", 56 bytes). Whether that line comes is agreed in the TLS handshake, not
// guessed from the bytes (an app protocol may begin with anything): the outbound offers the ALPN protocol
// TCP_TRACE_ALPN, and only when the inbound chose it is the line written, and expected. This is Istio's
// pattern for its TCP metadata exchange (ALPN `istio-peer-exchange`, then a preamble on the stream:
// istio/istio pilot/pkg/networking/core/cluster_tls.go, 86c9f01), used here for the trace context.
//
// The outbound also offers http/1.1 after it, so an inbound that does not know the protocol completes the
// handshake (it passes tcp bytes through whatever ALPN says) and the connection goes on untraced-across,
// as before. Plaintext (DISABLE) has no handshake to agree in, so it gets no preamble: its two spans stay
// separate traces.
import type { Duplex } from 'node:stream';
import { formatTraceparent, parseTraceparent, type TraceContext } from './trace-context.js';

export const TCP_TRACE_ALPN = 'devmesh-tcp-trace/1';
/** What the outbound offers for a tcp destination: the preamble, or (an older inbound) none. */
export const TCP_CLIENT_ALPN: readonly string[] = [TCP_TRACE_ALPN, 'http/1.1'];
/** "00-" + 32 + "-" + 16 + "-" + 2 + "\n" */
const LENGTH = 56;
/** A peer that agreed to the preamble and sends none within this is cut. */
export const PREAMBLE_TIMEOUT_MS = 10_000;

export function tcpPreamble(traceId: string, spanId: string, flags: string): Buffer {
  return Buffer.from(`${formatTraceparent(traceId, spanId, flags)}\n`, 'latin1');
}

/**
 * Reads the preamble off `socket` (paused: whatever follows stays buffered for the relay), then calls
 * `done` with the context; with an Error naming what was wrong when it is malformed, or does not come.
 */
export function readTcpPreamble(socket: Duplex, done: (result: TraceContext | Error) => void): void {
  let finished = false;
  const finish = (result: TraceContext | Error): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('readable', read);
    socket.off('end', ended);
    socket.off('close', ended);
    done(result);
  };
  const ended = (): void => finish(new Error('tcp trace preamble: the connection closed before it'));
  const read = (): void => {
    const chunk = socket.read(LENGTH) as Buffer | null;
    if (chunk === null) return;
    const line = chunk.toString('latin1');
    const context = line.endsWith('\n') ? parseTraceparent(line.slice(0, -1)) : null;
    finish(context ?? new Error(`tcp trace preamble: not a traceparent line (${JSON.stringify(line.slice(0, 24))}…)`));
  };
  const timer = setTimeout(() => finish(new Error(`tcp trace preamble: none within ${PREAMBLE_TIMEOUT_MS} ms`)), PREAMBLE_TIMEOUT_MS);
  timer.unref();
  socket.on('readable', read);
  socket.once('end', ended);
  socket.once('close', ended);
  read();
}
