// The reaper: a tiny detached process that outlives `devmesh up` for one reason. If the control plane
// is killed with SIGKILL it cannot clean up, so it tells the reaper every process group it starts
// ("+<pgid>" / "-<pgid>" lines on stdin). When stdin closes, the control plane is gone: the reaper
// terminates every group still listed, and exits. Linux has PR_SET_PDEATHSIG for this; Node does not expose it.
import { createInterface } from 'node:readline';

const groups = new Set<number>();

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
  const pgid = Number(line.slice(1));
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  if (line.startsWith('+')) groups.add(pgid);
  else if (line.startsWith('-')) groups.delete(pgid);
});
lines.on('close', () => {
  if (groups.size === 0) process.exit(0);
  signalAll('SIGTERM');
  setTimeout(() => {
    signalAll('SIGKILL');
    process.exit(0);
  }, 2000);
});
