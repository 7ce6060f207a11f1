// The reaper: a tiny detached process that outlives `devmesh up` for one reason. If the control plane
// is killed with SIGKILL it cannot clean up, so it tells the reaper every process group it starts
// ("+<pgid>" / "-<pgid>" lines on stdin). When stdin closes, the control plane is gone: the reaper
// terminates every group still listed, and exits. Linux has PR_SET_PDEATHSIG for this; Node does not expose it.
// Containers are listed too ("c+<id> <endpoint json>" / "c-<id>"): they are not our children, so the
// reaper force-removes them through the engine's HTTP API with node:http alone (no dockerode here).
import { request } from 'node:http';
import { createInterface } from 'node:readline';

const groups = new Set<number>();
const containers = new Map<string, { socketPath?: string; host?: string; port?: number }>();

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

// Ctrl-C reaches the whole foreground group; the reaper must stay until the control plane is done.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('SIGHUP', () => {});

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
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
  const pgid = Number(line.slice(1));
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  if (line.startsWith('+')) groups.add(pgid);
  else if (line.startsWith('-')) groups.delete(pgid);
});
lines.on('close', () => {
  const removing = Promise.all([...containers].map(([id, endpoint]) => removeContainer(id, endpoint)));
  if (groups.size === 0) {
    void removing.then(() => process.exit(0));
    return;
  }
  signalAll('SIGTERM');
  setTimeout(() => {
    signalAll('SIGKILL');
    void removing.then(() => process.exit(0));
  }, 2000);
});
