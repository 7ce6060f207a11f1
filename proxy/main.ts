// The sidecar process: started by the control plane, spoken to over the control channel
// (./control-client.ts) with the messages of ./protocol/index.ts. It outlives a control plane that dies,
// serving with its last good config while it dials again; it exits on a `shutdown`, on SIGTERM, or when
// no control plane has come back within the orphan grace period, so a mesh left alone leaks nothing.
import { CONTROL_ENV, type ControlMessage, type ListenerPorts, type SidecarMessage } from './protocol/index.js';
import { Sidecar } from './sidecar.js';
import { ControlClient } from './control-client.js';
import { installLastResortGuard, installTestFaultHook } from './last-resort.js';

/** Upper bound on a graceful exit; a stuck close must not keep an orphan alive. */
const EXIT_DEADLINE_MS = 2_000;
const DEFAULT_ORPHAN_GRACE_MS = 60_000;

function log(message: string): void {
  process.stderr.write(`devmesh-sidecar[${process.pid}] ${message}\n`);
}

const sidecarId = process.argv[2] ?? process.env.DEVMESH_SIDECAR ?? '';
const socketPath = process.env[CONTROL_ENV.socket];
const token = process.env[CONTROL_ENV.token];
if (!socketPath || !token || !sidecarId) {
  log(`must be started by the devmesh control plane (${CONTROL_ENV.socket}, ${CONTROL_ENV.token} and a sidecar id are missing)`);
  process.exit(2);
}
const graceSetting = Number(process.env[CONTROL_ENV.orphanGraceMs]);
const orphanGraceMs = Number.isFinite(graceSetting) && graceSetting > 0 ? graceSetting : DEFAULT_ORPHAN_GRACE_MS;

let applied: { version: number; ports: ListenerPorts | null } = { version: 0, ports: null };
const client = new ControlClient({
  socketPath,
  token,
  sidecarId,
  orphanGraceMs,
  current: () => ({ ackedVersion: applied.version, ports: applied.ports }),
  onMessage: (msg) => onControlMessage(msg),
  onOrphaned: (why) => shutdown(why),
  log,
});

function send(msg: SidecarMessage, written?: () => void): boolean {
  if (msg.type === 'ack') applied = { version: msg.version, ports: msg.ports };
  // With no control plane connected there is nobody to tell; the caller counts what it drops.
  return client.send(msg, written);
}

const sidecar = new Sidecar(send, log);
let applying: Promise<void> = Promise.resolve();
let stopping = false;

function shutdown(why: string, code = 0): void {
  if (stopping) return;
  stopping = true;
  log(`shutting down: ${why}`);
  setTimeout(() => process.exit(code), EXIT_DEADLINE_MS).unref();
  sidecar.close().finally(() => {
    client.close();
    process.exit(code);
  });
}

function onControlMessage(raw: unknown): void {
  const msg = raw as ControlMessage;
  switch (msg?.type) {
    case 'config': {
      const version = typeof msg.version === 'number' ? msg.version : -1;
      // Configs apply one at a time, in arrival order: each ACK describes exactly one state.
      applying = applying
        .then(() => sidecar.apply(version, msg.config))
        .then(send, (err: Error) => send({ type: 'nack', version, reason: `internal error: ${err.stack ?? err.message}` }))
        .then(() => undefined);
      return;
    }
    case 'scrape': {
      const id = msg.id;
      sidecar.metrics.text().then(
        (text) => send({ type: 'metrics', id, text }),
        (err: Error) => log(`metrics scrape failed: ${err.message}`),
      );
      return;
    }
    case 'endpointHealth':
      send({ type: 'endpointHealth', id: msg.id, sets: sidecar.endpointHealth() });
      return;
    case 'shutdown':
      shutdown('shutdown requested');
      return;
    default:
      // String() and not JSON.stringify: a message type JSON cannot write (a BigInt) must not throw here.
      log(`ignoring unknown control message type ${String((raw as { type?: unknown } | null)?.type).slice(0, 100)}`);
  }
}

installLastResortGuard({
  log,
  count: (kind) => sidecar.metrics.unexpectedError(kind),
  exit: (code, why) => {
    // A fatal error while already closing must not wait for that close: it may be what is broken.
    if (stopping) process.exit(code);
    shutdown(why, code);
  },
});
installTestFaultHook(process.env.DEVMESH_SIDECAR_TEST_FAULT, log);

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
// A control plane's terminal closing is not a reason to stop serving.
process.on('SIGHUP', () => {});
client.start();
