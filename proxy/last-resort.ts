// The sidecar's last resort: an exception nobody caught (uncaughtException, unhandledRejection). Node's
// default is to die, which drops every connection of every app behind this sidecar over one bad socket.
// An error that belongs to one connection or stream (a reset, a broken pipe, a parser or TLS error, a
// stream misuse) leaves the rest of the process sound: counted, logged, and the sidecar keeps serving.
// Anything else (a TypeError, an assertion, a rejection with no code) means some state may be half
// updated; then the sidecar says why in one line and exits with its own code, and the control plane
// restarts it with the last good config on the same ports (src/control-plane/sidecar-handle.ts).
import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';

/** EX_SOFTWARE (sysexits.h): an internal error, told apart from 1 (Node's own crash) and 2 (misuse). */
export const EXIT_UNEXPECTED_ERROR = 70;

/** The metric's label values: a fixed set, so a flood of odd errors cannot grow the label space. */
export const UNEXPECTED_KINDS = ['socket', 'stream', 'http-parser', 'tls', 'fatal'] as const;
export type UnexpectedKind = (typeof UNEXPECTED_KINDS)[number];

/** System errors of one socket: the peer or the network ended that connection, nothing else. */
const SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTCONN', 'ECANCELED']);
/** TLS errors of one handshake or record layer (OpenSSL's own are ERR_SSL_*). */
const TLS_CODES: ReadonlySet<string> = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_HANDSHAKE_TIMEOUT', 'ERR_TLS_RENEGOTIATION_DISABLED', 'ERR_TLS_INVALID_STATE']);
/** HTTP/2 errors of one stream or one session (= one connection). */
const H2_STREAM = /^ERR_HTTP2_(STREAM_|SESSION_|GOAWAY_SESSION|INVALID_STREAM|INVALID_SESSION|PING_CANCEL)/;

/** Which kind an uncaught error is; only 'fatal' is unsafe to keep running after. */
export function classifyUnexpected(err: unknown): UnexpectedKind {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code !== 'string') return 'fatal';
  if (SOCKET_CODES.has(code)) return 'socket';
  if (code.startsWith('ERR_STREAM_') || code === 'ABORT_ERR' || H2_STREAM.test(code)) return 'stream';
  if (code.startsWith('HPE_')) return 'http-parser';
  if (code.startsWith('ERR_SSL_') || TLS_CODES.has(code)) return 'tls';
  return 'fatal';
}

/** "CODE message (at first frame)" or "Name: message (at first frame)": enough to find it, on one line. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return `a non-error value ${JSON.stringify(String(err)).slice(0, 200)}`;
  const code = (err as { code?: unknown }).code;
  const head = typeof code === 'string' ? `${code} ${err.message}` : `${err.name}: ${err.message}`;
  const frame = /\n\s+(at .*)/.exec(err.stack ?? '')?.[1];
  return `${head}${frame ? ` (${frame})` : ''}`.replace(/[\r\n]+/g, ' ');
}

/** A storm of per-connection errors (one hostile client) must not become a storm of log lines. */
const LOG_LINES_PER_MINUTE = 20;

export interface LastResortHooks {
  log(line: string): void;
  count(kind: UnexpectedKind): void;
  /** Stop for a restart with `code`; must not return to serving. */
  exit(code: number, why: string): void;
}

export function installLastResortGuard(hooks: LastResortHooks): void {
  let windowStart = 0;
  let lines = 0;
  let suppressed = 0;
  const handle = (err: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void => {
    const kind = classifyUnexpected(err);
    hooks.count(kind);
    if (kind === 'fatal') {
      const why = "not a connection or stream error, so the sidecar's state may be corrupt";
      hooks.log(`unexpected error (${origin}, ${kind}): ${describe(err)}; exiting for a restart (exit code ${EXIT_UNEXPECTED_ERROR}): ${why}`);
      hooks.exit(EXIT_UNEXPECTED_ERROR, `unexpected ${origin}`);
      return;
    }
    const now = Date.now();
    if (now - windowStart > 60_000) {
      if (suppressed > 0) hooks.log(`unexpected errors: ${suppressed} more per-connection error(s) in the last minute were counted but not logged`);
      windowStart = now;
      lines = 0;
      suppressed = 0;
    }
    if (lines++ < LOG_LINES_PER_MINUTE) hooks.log(`unexpected error (${origin}, ${kind}): ${describe(err)}; keeps serving: it belongs to one connection or stream`);
    else suppressed++;
  };
  process.on('uncaughtException', (err) => handle(err, 'uncaughtException'));
  process.on('unhandledRejection', (reason) => handle(reason, 'unhandledRejection'));
}

/**
 * Test-only and hidden (proxy tests set DEVMESH_SIDECAR_TEST_FAULT; nothing else does): once the
 * per-connection handlers are right there is no honest way left to make an exception escape, yet the
 * guard must be proven on a real process. On SIGUSR2 it provokes one uncaught error of the named sort.
 */
export function installTestFaultHook(fault: string | undefined, log: (line: string) => void): void {
  if (fault === undefined || fault === '' || fault === PORT_TAKEN_ONCE) return;
  log(`test fault hook armed: SIGUSR2 provokes ${fault}`);
  process.on('SIGUSR2', () => {
    switch (fault) {
      case 'stream-econnreset': {
        // A real stream emitting a socket error with nobody listening, as an unguarded socket would.
        const err = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
        new PassThrough().destroy(err);
        return;
      }
      case 'rejection-typeerror':
        // A programming error in async code nobody awaited.
        void Promise.resolve(null as { field: number } | null).then((value) => value!.field);
        return;
      default:
        log(`test fault hook: unknown fault ${JSON.stringify(fault)}`);
    }
  });
}

const PORT_TAKEN_ONCE = 'port-taken-once';
let portTakenOnce = process.env.DEVMESH_SIDECAR_TEST_FAULT === PORT_TAKEN_ONCE;

/**
 * Test only (DEVMESH_SIDECAR_TEST_FAULT=port-taken-once): the first time this process binds an outbound
 * listener, another listener takes its port just before, as another program can take a port the control
 * plane picked before the sidecar binds it (test/e2e/port-taken.test.ts). Returns what frees the port.
 */
export async function takePortForTest(port: number): Promise<(() => void) | null> {
  if (!portTakenOnce || port === 0) return null;
  portTakenOnce = false;
  const taker = createServer();
  await new Promise<void>((resolve, reject) => taker.once('error', reject).listen(port, '127.0.0.1', resolve));
  return () => taker.close();
}
