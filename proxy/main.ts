// The proxy process: started by the control plane with one sidecar id (a sidecar) or several (the shared
// data plane, `dataPlane: shared`), one ./sidecar-session.ts per id, each spoken to over its own control
// channel (./control-client.ts) with the messages of ./protocol/index.ts. It outlives a control plane that
// dies, serving with its last good configs while it dials again; it exits on SIGTERM, once every session
// was told to shut down, or when no control plane has come back within the orphan grace period, so a mesh
// left alone leaks nothing.
import { CONTROL_ENV } from './protocol/index.js';
import { SidecarSession } from './sidecar-session.js';
import { installLastResortGuard, installTestFaultHook } from './last-resort.js';

/** Upper bound on a graceful exit; a stuck close must not keep an orphan alive. */
const EXIT_DEADLINE_MS = 2_000;
const DEFAULT_ORPHAN_GRACE_MS = 60_000;

const fromArgs = process.argv.slice(2).filter((id) => id !== '');
const sidecarIds = fromArgs.length > 0 ? fromArgs : [process.env.DEVMESH_SIDECAR ?? ''].filter((id) => id !== '');
const shared = sidecarIds.length > 1;

function logAs(id: string | null): (message: string) => void {
  // In a shared process every line says which workload it is about.
  const prefix = `devmesh-sidecar[${process.pid}]${shared && id !== null ? ` ${id}:` : ''}`;
  return (message) => process.stderr.write(`${prefix} ${message}\n`);
}
const log = logAs(null);

const socketPath = process.env[CONTROL_ENV.socket];
const token = process.env[CONTROL_ENV.token];
if (!socketPath || !token || sidecarIds.length === 0) {
  log(`must be started by the devmesh control plane (${CONTROL_ENV.socket}, ${CONTROL_ENV.token} and a sidecar id are missing)`);
  process.exit(2);
}
const graceSetting = Number(process.env[CONTROL_ENV.orphanGraceMs]);
const orphanGraceMs = Number.isFinite(graceSetting) && graceSetting > 0 ? graceSetting : DEFAULT_ORPHAN_GRACE_MS;

let stopping = false;
let open = sidecarIds.length;
const sessions = sidecarIds.map(
  (sidecarId) =>
    new SidecarSession({
      socketPath,
      token,
      sidecarId,
      orphanGraceMs,
      log: logAs(sidecarId),
      // Every channel loses the same control plane at once: the first to give up stops the process.
      onOrphaned: (why) => shutdown(why),
      // A workload the control plane stopped; the process goes with the last of them.
      onClosed: () => {
        if (--open === 0) shutdown('every sidecar was told to shut down');
      },
    }),
);

function shutdown(why: string, code = 0): void {
  if (stopping) return;
  stopping = true;
  log(`shutting down: ${why}`);
  setTimeout(() => process.exit(code), EXIT_DEADLINE_MS).unref();
  void Promise.allSettled(sessions.map((s) => s.close())).then(() => process.exit(code));
}

// One guard per process: an uncaught error cannot be told to belong to one workload, so every workload
// served by this process counts it (a fatal one stops them all).
installLastResortGuard({
  log,
  count: (kind) => sessions.forEach((s) => s.sidecar.metrics.unexpectedError(kind)),
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
for (const s of sessions) s.start();
