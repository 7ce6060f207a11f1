// The reaper: a tiny detached process that outlives `devmesh up` for one reason. If the control plane
// is killed with SIGKILL it cannot clean up, so it tells the reaper every process group it starts
// ("+<pgid>" / "-<pgid>" lines on stdin). When stdin closes, the control plane is gone. Linux has
// PR_SET_PDEATHSIG for this; Node does not expose it.
//
// The apps and sidecars keep serving for a grace period (argv[2], ms) after that, as a data plane does
// while its control plane restarts: a `devmesh up` on the same mesh file within it re-adopts them and sends
// this reaper SIGUSR2 ("stand down": exit, touching nothing). Past the grace period, or on SIGUSR1
// (`devmesh down` of an orphaned mesh), it terminates every group still listed, removes the containers and
// the run's files ("f<path>" lines), and exits.
// Containers are listed too ("c+<id> <endpoint json>" / "c-<id>"): they are not our children, so the
// reaper force-removes them through the engine's HTTP API with node:http alone (no dockerode here).
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { createInterface } from 'node:readline';

const groups = new Set<number>();
const containers = new Map<string, { socketPath?: string; host?: string; port?: number }>();
const files = new Set<string>();
const graceMs = Math.max(0, Number(process.argv[2]) || 0);
let cleanShutdown = false;
let tearingDown = false;

/** DELETE /containers/<id>?force=true: stops (SIGKILL) and removes in one call; never throws. */
function removeContainer(id: string, endpoint: { socketPath?: string; host?: string; port?: number }): Promise<void> {
  return new Promise((resolve) => {
    const where = endpoint.socketPath ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };
    const req = request({ ...where, method: 'DELETE', path: `/containers/${encodeURIComponent(id)}?force=true&v=true`, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', () => resolve());
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function signalAll(signal: NodeJS.Signals): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, signal);
    } catch {
      groups.delete(pgid); // already gone
    }
  }
}

function tearDown(): void {
  if (tearingDown) return;
  tearingDown = true;
  const removing = Promise.all([...containers].map(([id, endpoint]) => removeContainer(id, endpoint)));
  const finish = (): void => {
    for (const f of files) rmSync(f, { force: true });
    void removing.then(() => process.exit(0));
  };
  if (groups.size === 0) return finish();
  signalAll('SIGTERM');
  setTimeout(() => {
    signalAll('SIGKILL');
    finish();
  }, 2000);
}

// Ctrl-C reaches the whole foreground group; the reaper must stay until the control plane is done.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('SIGHUP', () => {});
// A control plane that re-adopted the mesh has its own reaper now: this one leaves, touching nothing.
process.on('SIGUSR2', () => {
  if (!tearingDown) process.exit(0);
});
// `devmesh down` of a mesh whose control plane is gone: no need to wait out the grace period.
process.on('SIGUSR1', () => tearDown());

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === '!') {
    cleanShutdown = true; // the control plane stopped everything itself: nothing waits to be re-adopted
    return;
  }
  if (line.startsWith('c+')) {
    const space = line.indexOf(' ');
    try {
      containers.set(line.slice(2, space), JSON.parse(line.slice(space + 1)) as { socketPath?: string });
    } catch {
      /* a malformed line is ignored, as for groups */
    }
    return;
  }
  if (line.startsWith('c-')) {
    containers.delete(line.slice(2));
    return;
  }
  if (line.startsWith('f+')) {
    files.add(line.slice(2));
    return;
  }
  if (line.startsWith('f-')) {
    files.delete(line.slice(2));
    return;
  }
  const pgid = Number(line.slice(1));
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  if (line.startsWith('+')) groups.add(pgid);
  else if (line.startsWith('-')) groups.delete(pgid);
});
lines.on('close', () => {
  if (cleanShutdown || graceMs === 0 || (groups.size === 0 && containers.size === 0)) tearDown();
  else setTimeout(tearDown, graceMs);
});
