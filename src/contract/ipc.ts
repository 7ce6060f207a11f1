// The one IPC contract between the Electron main process and the window's preload (as GitHub Desktop's
// ipc-shared.ts): channel names with their argument and result types, imported by both sides, so neither
// can send what the other does not expect. Raw ipcMain/ipcRenderer calls live only in src/electron/ipc-*.ts.
// Plain types only: this file imports nothing.

/** What the desktop shell is doing with its mesh, shown in the tray and the window title. */
export type MeshShellState =
  | { kind: 'idle' }
  | { kind: 'starting'; file: string }
  | { kind: 'running'; file: string; mesh: string; uiUrl: string }
  | { kind: 'stopping'; file: string }
  | { kind: 'failed'; file: string; error: string };

export type OpenMeshResult = { ok: true; file: string } | { ok: false; error: string };

/** Request/response channels (ipcRenderer.invoke → ipcMain.handle). */
export interface IpcInvokeChannels {
  'mesh:open-dialog': { args: []; result: OpenMeshResult | null };
  'mesh:open-file': { args: [file: string]; result: OpenMeshResult };
  'mesh:state': { args: []; result: MeshShellState };
  'mesh:recent': { args: []; result: string[] };
}

/** Main → window notifications (webContents.send → ipcRenderer.on). */
export interface IpcEventChannels {
  'mesh:state-changed': MeshShellState;
}

export type InvokeChannel = keyof IpcInvokeChannels;
export type EventChannel = keyof IpcEventChannels;

/** `window.devmesh` in the Electron window; absent in a browser tab. */
export interface ShellBridge {
  readonly shell: 'electron';
  readonly platform: string;
  openMeshDialog(): Promise<OpenMeshResult | null>;
  openMeshFile(file: string): Promise<OpenMeshResult>;
  meshState(): Promise<MeshShellState>;
  recentMeshes(): Promise<string[]>;
  /** Path of a file dropped on the window (Electron's webUtils; the sandbox hides File.path). */
  pathForFile(file: File): string;
  onMeshState(listener: (state: MeshShellState) => void): () => void;
}

export const INVOKE_CHANNELS: readonly InvokeChannel[] = ['mesh:open-dialog', 'mesh:open-file', 'mesh:state', 'mesh:recent'];
