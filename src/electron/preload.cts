// Preload of the devmesh window. It is CommonJS (.cts → preload.cjs) because Electron runs sandboxed
// preloads as plain scripts, without ESM support. It hands the page one frozen object implementing the
// typed bridge of src/contract/ipc.ts: the UI still talks to the control plane over HTTP like any browser
// tab; IPC is only for what a browser cannot do (file dialogs, dropped file paths, switching meshes).
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { EventChannel, IpcEventChannels, IpcInvokeChannels, InvokeChannel, MeshShellState, ShellBridge } from '../contract/ipc.js';

function invoke<C extends InvokeChannel>(channel: C, ...args: IpcInvokeChannels[C]['args']): Promise<IpcInvokeChannels[C]['result']> {
  return ipcRenderer.invoke(channel, ...args) as Promise<IpcInvokeChannels[C]['result']>;
}

function on<C extends EventChannel>(channel: C, listener: (payload: IpcEventChannels[C]) => void): () => void {
  const wrapped = (_event: unknown, payload: IpcEventChannels[C]) => listener(payload);
  ipcRenderer.on(channel, wrapped);
  return () => ipcRenderer.removeListener(channel, wrapped);
}

const bridge: ShellBridge = Object.freeze({
  shell: 'electron' as const,
  platform: process.platform,
  openMeshDialog: () => invoke('mesh:open-dialog'),
  openMeshFile: (file: string) => invoke('mesh:open-file', file),
  meshState: () => invoke('mesh:state'),
  recentMeshes: () => invoke('mesh:recent'),
  pathForFile: (file: File) => webUtils.getPathForFile(file),
  onMeshState: (listener: (state: MeshShellState) => void) => on('mesh:state-changed', listener),
});

contextBridge.exposeInMainWorld('devmesh', bridge);
