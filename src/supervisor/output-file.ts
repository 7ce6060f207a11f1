// Where a workload's (or a sidecar's) stdout and stderr go: a file, not a pipe to the control plane. A pipe
// dies with the control plane, and the next write of a process that outlives it fails (EPIPE kills most
// runtimes); a file outlives it, so a control plane killed with SIGKILL leaves its apps and sidecars
// serving, and the one that re-adopts them picks their output up where it is. The control plane reads the
// file as it grows (fs.watch, so an idle process costs no wakeups) and hands on whole lines.
import { closeSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';

const READ_CHUNK = 64 * 1024;
/** A line longer than this is handed on in pieces rather than held. */
const MAX_LINE = 64 * 1024;

/** Opens (creating, 0600) the file a child's output is written to; `fresh` empties it first. */
export function openOutputFile(path: string, fresh: boolean): number {
  return openSync(path, fresh ? 'w' : 'a', 0o600);
}

/** Follows a growing file from `fromEnd` (its current end) or its start; returns a stop function. */
export function followLines(path: string, fromEnd: boolean, onLine: (line: string) => void): () => void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return () => {};
  }
  let offset = fromEnd ? statSync(path).size : 0;
  let partial = '';
  let stopped = false;
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  const drain = (): void => {
    if (stopped) return;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, READ_CHUNK, offset);
      } catch {
        return;
      }
      if (n === 0) {
        // Emptied by a fresh start of its writer: read it again from its start.
        try {
          if (statSync(path).size < offset) offset = 0;
        } catch {
          /* removed: nothing more to read */
        }
        return;
      }
      offset += n;
      const lines = (partial + buffer.toString('utf8', 0, n)).split('\n');
      partial = lines.pop() ?? '';
      if (partial.length > MAX_LINE) {
        lines.push(partial);
        partial = '';
      }
      for (const line of lines) onLine(line);
    }
  };
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(path, { persistent: false }, () => drain());
  } catch {
    /* no watch on this file system: the final drain on stop still reads what was written */
  }
  drain();
  return () => {
    drain();
    if (partial) onLine(partial);
    stopped = true;
    watcher?.close();
    closeSync(fd);
  };
}
