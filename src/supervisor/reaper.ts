// Client side of the reaper (see reaper-main.ts): registers the process groups, containers and run files
// of the mesh, so that nothing outlives a control plane that dies and is not restarted within the grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';

const ENTRY = fileURLToPath(new URL('./reaper-main.js', import.meta.url));

export interface ReaperOptions {
  /** How long apps and sidecars keep serving after the control plane dies, waiting to be re-adopted. */
  graceMs?: number;
}

export class Reaper {
  private readonly child: ChildProcess;
  private readonly input: Writable;

  constructor(opts: ReaperOptions = {}) {
    // Inside Electron, execPath is the Electron binary: ELECTRON_RUN_AS_NODE makes it a plain Node.
    const env = process.versions.electron ? { ...process.env, ELECTRON_RUN_AS_NODE: '1' } : process.env;
    this.child = spawn(process.execPath, [ENTRY, String(opts.graceMs ?? 0)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env });
    this.input = this.child.stdin!;
    this.input.on('error', () => {}); // the reaper gone early is not fatal to the mesh
    // Neither the pipe nor the child may keep the control plane's event loop alive.
    this.child.unref();
    (this.input as Writable & { unref?: () => void }).unref?.();
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  watch(pgid: number): void {
    this.input.write(`+${pgid}\n`);
  }

  forget(pgid: number): void {
    this.input.write(`-${pgid}\n`);
  }

  /** A container to force-remove through the engine at `endpoint` if the control plane dies. */
  watchContainer(id: string, endpoint: { socketPath: string } | { protocol: 'http' | 'https'; host: string; port: number }): void {
    this.input.write(`c+${id} ${JSON.stringify(endpoint)}\n`);
  }

  forgetContainer(id: string): void {
    this.input.write(`c-${id}\n`);
  }

  /** A file to remove when the reaper tears the mesh down (the run file, its token, the control socket). */
  watchFile(path: string): void {
    this.input.write(`f+${path}\n`);
  }

  /** After a clean shutdown: the reaper removes what is left at once (no grace period) and exits. */
  close(): void {
    this.input.end('!\n');
  }
}

/**
 * Signals the reaper of a control plane that died: SIGUSR2 makes it stand down (its mesh has been
 * re-adopted), SIGUSR1 makes it tear the mesh down now. Only a process that is a devmesh reaper is
 * signalled (checked on Linux through /proc), so a reused pid is left alone.
 */
export function signalOrphanedReaper(pid: number, action: 'stand-down' | 'tear-down'): boolean {
  if (process.platform === 'linux') {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('reaper-main')) return false;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, action === 'stand-down' ? 'SIGUSR2' : 'SIGUSR1');
    return true;
  } catch {
    return false;
  }
}
