// Client side of the reaper (see reaper-main.ts): registers the process groups the mesh starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';

export class Reaper {
  private readonly child: ChildProcess;
  private readonly input: Writable;

  constructor() {
    const entry = fileURLToPath(new URL('./reaper-main.js', import.meta.url));
    // Inside Electron, execPath is the Electron binary: ELECTRON_RUN_AS_NODE makes it a plain Node.
    const env = process.versions.electron ? { ...process.env, ELECTRON_RUN_AS_NODE: '1' } : process.env;
    this.child = spawn(process.execPath, [entry], { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env });
    this.input = this.child.stdin!;
    this.input.on('error', () => {}); // the reaper gone early is not fatal to the mesh
    // Neither the pipe nor the child may keep the control plane's event loop alive.
    this.child.unref();
    (this.input as Writable & { unref?: () => void }).unref?.();
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

  /** After a clean shutdown: close the pipe so the reaper exits with nothing to do. */
  close(): void {
    this.input.end();
  }
}
