// A re-adopted process is not our child: no 'exit' event will come for it. Its death is noticed by asking
// the kernel whether the pid still exists, once a second (a signal-0 kill is a cheap system call).
import { readFileSync } from 'node:fs';

const POLL_MS = 1_000;

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * An orphan that exited waits as a zombie until its new parent reaps it; where that parent does not (a
 * container's init that never calls wait), signal 0 still finds the pid. Linux says so in /proc.
 */
function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** Calls `onGone` once when `pid` no longer exists; returns a function that stops watching. */
export function watchPid(pid: number, onGone: () => void, pollMs = POLL_MS): () => void {
  const timer = setInterval(() => {
    if (isAlive(pid)) return;
    clearInterval(timer);
    onGone();
  }, pollMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Resolves once `pid` is gone (or after timeoutMs); true when it is gone. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}
