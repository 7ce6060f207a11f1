// Preload of the devmesh window. It is CommonJS (.cts → preload.cjs) because Electron runs sandboxed
// preloads as plain scripts, without ESM support. It hands the page one frozen, read-only object and
// nothing else: the UI talks to the control plane over HTTP like any browser tab, so it needs no IPC.
import { contextBridge } from 'electron';

const bridge = Object.freeze({
  shell: 'electron' as const,
  platform: process.platform,
});

/** The shape of `window.devmesh` in the renderer (renderer/main.tsx declares the same shape). */
export type ShellBridge = typeof bridge;

contextBridge.exposeInMainWorld('devmesh', bridge);
