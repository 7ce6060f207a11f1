// The sidecar process: started by the control plane with child_process.fork, spoken to over the IPC
// channel with the messages of ./protocol/index.ts. It must never outlive the control plane: when the channel
// goes away (the parent exited or crashed), it closes its listeners and exits, so the mesh leaks nothing.
import type { ControlMessage, SidecarMessage } from './protocol/index.js';
import { Sidecar } from './sidecar.js';
import { installLastResortGuard, installTestFaultHook } from './last-resort.js';

/** Upper bound on a graceful exit; a stuck close must not keep an orphan alive. */
const EXIT_DEADLINE_MS = 2_000;

function log(message: string): void {
  process.stderr.write(`devmesh-sidecar[${process.pid}] ${message}\n`);
}

if (typeof process.send !== 'function') {
  log('must be started by the devmesh control plane (child_process.fork with an IPC channel)');
  process.exit(2);
}

function send(msg: SidecarMessage, written?: () => void): void {
  // After a disconnect there is nobody to tell; dropping is correct.
  if (!process.connected) {
    written?.();
    return;
  }
  process.send!(msg, undefined, undefined, (err) => {
    if (err) log(`send failed: ${err.message}`);
    written?.();
  });
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
    if (process.connected) process.disconnect();
    process.exit(code);
  });
}

process.on('message', (raw: unknown) => {
  const msg = raw as ControlMessage;
  switch (msg?.type) {
    case 'config': {
      const version = typeof msg.version === 'number' ? msg.version : -1;
      // Configs apply one at a time, in arrival order: each ACK describes exactly one state.
      applying = applying
        .then(() => sidecar.apply(version, msg.config))
        .then(send, (err: Error) => send({ type: 'nack', version, reason: `internal error: ${err.stack ?? err.message}` }));
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
});

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

process.on('disconnect', () => shutdown('control plane disconnected'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
