// The desktop shell: starts the same control plane as `devmesh up` in the Electron main process and shows
// its UI in a window. It stays thin on purpose: everything the window shows comes over the control plane's
// HTTP API, so the shell and a browser tab behave the same. What only a desktop app can do lives here: a
// tray icon with the mesh's state, native menus, opening a mesh file by dialog or drag and drop (over the
// typed IPC contract, src/contract/ipc.ts), and remembering the window and the last mesh.
import { app, BrowserWindow, dialog, Menu, nativeImage, shell, Tray, type MenuItemConstructorOptions } from 'electron';
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MeshShellState, OpenMeshResult } from '../contract/ipc.js';
import { startHost, type Host } from '../host/host.js';
import { handleInvokes, send } from './ipc-main.js';
import { readSettings, rememberMesh, writeSettings, type ShellSettings } from './shell-settings.js';

// dist/src/electron/main.js → the repository (or app.asar) root.
const appRoot = fileURLToPath(new URL('../../../', import.meta.url));
const preloadPath = fileURLToPath(new URL('./preload.cjs', import.meta.url));
/** A 16×16 diamond in the UI's accent colour; the tray needs an image and the package ships no icon files. */
const TRAY_ICON = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAQklEQVR4nGNgGNTAb87X/yBMkWayDEHXTJIhuDQTZQghzXgNIVYzTkMoNoBiL1AlEAkZQpRmXIaQpBndELI00w0AAPGw8NlbBrtiAAAAAElFTkSuQmCC';

/** Files inside app.asar are run from app.asar.unpacked: a process cannot use a folder in an archive as its cwd. */
function unpacked(file: string): string {
  return file.replace(`${sep}app.asar${sep}`, `${sep}app.asar.unpacked${sep}`);
}

/** First non-flag argument, else the last mesh opened, else the bundled Bookinfo example. */
function initialMeshFile(settings: ShellSettings): string {
  const arg = process.argv.slice(app.isPackaged ? 1 : 2).find((a) => !a.startsWith('-'));
  if (arg) return unpacked(resolve(process.cwd(), arg));
  const last = settings.recentMeshes.find((f) => existsSync(f));
  return last ?? unpacked(resolve(appRoot, 'fixtures', 'bookinfo', 'devmesh.yaml'));
}

let settingsFile = '';
let settings: ShellSettings;
/** Set from the moment a mesh starts starting, so a quit during startup still stops it. */
let host: Promise<Host> | null = null;
let window: BrowserWindow | null = null;
let tray: Tray | null = null;
let state: MeshShellState = { kind: 'idle' };
let uiOrigin: string | null = null;
let quitting = false;

function setState(next: MeshShellState): void {
  state = next;
  send(window?.webContents, 'mesh:state-changed', next);
  updateTray();
  updateMenu();
  if (window) window.setTitle(next.kind === 'running' ? `${next.mesh} · devmesh` : 'devmesh');
}

function stateLabel(s: MeshShellState): string {
  switch (s.kind) {
    case 'idle':
      return 'no mesh';
    case 'starting':
      return `starting ${s.file}`;
    case 'running':
      return `${s.mesh}: running`;
    case 'stopping':
      return 'stopping';
    case 'failed':
      return `failed: ${s.error.split('\n')[0]}`;
  }
}

function updateTray(): void {
  if (!tray) return;
  tray.setToolTip(`devmesh · ${stateLabel(state)}`);
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: stateLabel(state), enabled: false },
      { type: 'separator' },
      { label: 'Show devmesh', click: () => showWindow() },
      { label: 'Open Mesh File…', click: () => void openByDialog() },
      ...(state.kind === 'running' ? [{ label: 'Open in Browser', click: () => void shell.openExternal((state as { uiUrl: string }).uiUrl) }] : []),
      { type: 'separator' },
      { label: 'Quit devmesh', role: 'quit' },
    ]),
  );
}

function updateMenu(): void {
  const recent: MenuItemConstructorOptions[] = settings.recentMeshes.map((f) => ({ label: f, click: () => void openMesh(f) }));
  const template: MenuItemConstructorOptions[] = [
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Mesh File…', accelerator: 'CmdOrCtrl+O', click: () => void openByDialog() },
        { label: 'Open Recent', submenu: recent.length ? recent : [{ label: 'none', enabled: false }] },
        { type: 'separator' },
        process.platform === 'darwin' ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [{ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }, { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, { type: 'separator' }, { role: 'togglefullscreen' }],
    },
    {
      label: 'Mesh',
      submenu: [
        { label: stateLabel(state), enabled: false },
        { label: 'Open UI in Browser', enabled: state.kind === 'running', click: () => state.kind === 'running' && void shell.openExternal(state.uiUrl) },
        { label: 'Show Mesh File', enabled: state.kind !== 'idle', click: () => 'file' in state && shell.showItemInFolder(state.file) },
      ],
    },
    { role: 'windowMenu' },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

function showWindow(): void {
  if (!window) return;
  if (window.isMinimized()) window.restore();
  window.show();
  window.focus();
}

function createWindow(): BrowserWindow {
  const { width, height, x, y, maximized } = settings.window;
  const win = new BrowserWindow({
    width,
    height,
    ...(x !== undefined && y !== undefined ? { x, y } : {}),
    minWidth: 900,
    minHeight: 560,
    title: 'devmesh',
    backgroundColor: '#0f1318',
    show: false,
    webPreferences: { preload: preloadPath, contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, spellcheck: false },
  });
  if (maximized) win.maximize();
  win.once('ready-to-show', () => win.show());
  // Links (ingress URLs) open in the user's browser; the window itself only ever shows the UI.
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (event, url) => {
    if (new URL(url).origin !== uiOrigin) {
      event.preventDefault();
      if (/^https?:\/\//.test(url)) void shell.openExternal(url);
    }
  });
  const saveBounds = () => {
    if (win.isDestroyed() || win.isMinimized()) return;
    const maximizedNow = win.isMaximized();
    const b = maximizedNow ? settings.window : win.getBounds();
    settings = { ...settings, window: { width: b.width, height: b.height, ...(b.x !== undefined ? { x: b.x } : {}), ...(b.y !== undefined ? { y: b.y } : {}), maximized: maximizedNow } };
    writeSettings(settingsFile, settings);
  };
  win.on('resized', saveBounds);
  win.on('moved', saveBounds);
  win.on('close', saveBounds);
  win.on('closed', () => {
    window = null;
  });
  return win;
}

async function stopControlPlane(): Promise<void> {
  const starting = host;
  host = null;
  // A failed start has already cleaned up after itself.
  const started = await starting?.catch(() => null);
  await started?.stop();
}

/** Stops the mesh that runs (if any) and starts the one in `file`; the window then shows its UI. */
async function openMesh(file: string): Promise<OpenMeshResult> {
  const meshFile = unpacked(resolve(file));
  if (!existsSync(meshFile)) return { ok: false, error: `mesh file not found: ${meshFile}` };
  if (state.kind !== 'idle' && state.kind !== 'failed') {
    setState({ kind: 'stopping', file: 'file' in state ? state.file : meshFile });
    await stopControlPlane();
  }
  setState({ kind: 'starting', file: meshFile });
  const starting = startHost({ meshFile, log: (line) => console.log(line) });
  host = starting;
  try {
    const started = await starting;
    settings = rememberMesh(settings, meshFile);
    writeSettings(settingsFile, settings);
    uiOrigin = new URL(started.uiUrl).origin;
    const mesh = started.controlPlane.status().mesh;
    setState({ kind: 'running', file: meshFile, mesh, uiUrl: started.uiUrl });
    console.log(`devmesh desktop: UI at ${started.uiUrl.replace(/#token=.*/, '')}`);
    await window?.loadURL(started.uiUrl);
    return { ok: true, file: meshFile };
  } catch (err) {
    host = null;
    const error = err instanceof Error ? err.message : String(err);
    setState({ kind: 'failed', file: meshFile, error });
    return { ok: false, error };
  }
}

async function openByDialog(): Promise<OpenMeshResult | null> {
  const options = { title: 'Open a mesh file', properties: ['openFile' as const], filters: [{ name: 'Mesh files', extensions: ['yaml', 'yml'] }] };
  const picked = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
  if (picked.canceled || !picked.filePaths[0]) return null;
  return openMesh(picked.filePaths[0]);
}

async function main(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    // A second window would start a second mesh on the same ports; focus the first one instead.
    app.quit();
    return;
  }
  app.on('second-instance', () => showWindow());

  // Everything the mesh runs is a child of this process: quitting must stop it first, or the apps
  // and sidecars would outlive the window.
  app.on('before-quit', (event) => {
    if (quitting || !host) return;
    event.preventDefault();
    quitting = true;
    stopControlPlane()
      .catch((err: unknown) => console.error(`devmesh: stopping the mesh failed: ${String(err)}`))
      .finally(() => app.quit());
  });
  // The mesh belongs to the window, so closing it quits on every platform (macOS included).
  app.on('window-all-closed', () => app.quit());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => app.quit());

  await app.whenReady();
  settingsFile = join(app.getPath('userData'), 'settings.json');
  settings = readSettings(settingsFile);
  handleInvokes(
    {
      'mesh:open-dialog': () => openByDialog(),
      'mesh:open-file': (file) => openMesh(file),
      'mesh:state': () => state,
      'mesh:recent': () => settings.recentMeshes,
    },
    () => uiOrigin,
  );
  tray = new Tray(nativeImage.createFromDataURL(TRAY_ICON));
  tray.on('click', () => showWindow());
  updateMenu();
  window = createWindow();
  const result = await openMesh(initialMeshFile(settings));
  if (quitting) return; // quit during startup: before-quit is already stopping it
  if (!result.ok) {
    dialog.showErrorBox('devmesh could not start the mesh', result.error);
    const picked = await openByDialog();
    if (!picked?.ok) app.exit(1);
  }
}

main().catch(async (err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`devmesh: ${message}`);
  await stopControlPlane().catch(() => {});
  await app.whenReady();
  dialog.showErrorBox('devmesh could not start', message);
  app.exit(1);
});
