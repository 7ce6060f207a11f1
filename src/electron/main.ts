// The desktop shell: starts the same control plane as `devmesh up` in the Electron main process and
// shows its UI in a window. It stays thin on purpose: everything the window shows comes over the
// control plane's HTTP API, so the shell and a browser tab behave the same.
import { app, BrowserWindow, dialog, shell } from 'electron';
import { existsSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../control-plane/control-plane.js';
// The bridge type the preload exposes to the window (preload.cts is CommonJS: sandboxed preloads cannot be ESM).
import type { ShellBridge } from './preload.cjs';

type ControlPlane = Awaited<ReturnType<typeof startControlPlane>>;

// dist/src/electron/main.js → the repository (or app.asar) root.
const appRoot = fileURLToPath(new URL('../../../', import.meta.url));
const preloadPath = fileURLToPath(new URL('./preload.cjs', import.meta.url));

/**
 * First non-flag argument, else the bundled bookinfo example. Packaged apps get user arguments from
 * argv[1], `electron main.js <file>` from argv[2]. Files inside app.asar are read from
 * app.asar.unpacked (see electron-builder.yml): the mesh's apps run with the mesh folder as cwd,
 * and a process cannot use a folder inside an archive as its cwd.
 */
function meshFileFromArgs(): string {
  const arg = process.argv.slice(app.isPackaged ? 1 : 2).find((a) => !a.startsWith('-'));
  const file = arg ? resolve(process.cwd(), arg) : resolve(appRoot, 'fixtures', 'bookinfo', 'devmesh.yaml');
  return file.replace(`${sep}app.asar${sep}`, `${sep}app.asar.unpacked${sep}`);
}

/** Set from the moment the mesh starts starting, so a quit during startup still stops it. */
let controlPlane: Promise<ControlPlane> | null = null;
let window: BrowserWindow | null = null;
let quitting = false;

function createWindow(uiUrl: string): BrowserWindow {
  const uiOrigin = new URL(uiUrl).origin;
  const win = new BrowserWindow({
    width: 1360,
    height: 900,
    minWidth: 900,
    minHeight: 560,
    title: 'devmesh',
    backgroundColor: '#0f1318',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
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
  win.on('closed', () => {
    window = null;
  });
  void win.loadURL(uiUrl);
  return win;
}

async function stopControlPlane(): Promise<void> {
  const starting = controlPlane;
  controlPlane = null;
  // A failed start has already cleaned up after itself.
  const cp = await starting?.catch(() => null);
  await cp?.stop();
}

async function main(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    // A second window would start a second mesh on the same ports; focus the first one instead.
    app.quit();
    return;
  }
  app.on('second-instance', () => {
    if (window) {
      if (window.isMinimized()) window.restore();
      window.focus();
    }
  });

  // Everything the mesh runs is a child of this process: quitting must stop it first, or the apps
  // and sidecars would outlive the window.
  app.on('before-quit', (event) => {
    if (quitting || !controlPlane) return;
    event.preventDefault();
    quitting = true;
    stopControlPlane()
      .catch((err: unknown) => console.error(`devmesh: stopping the mesh failed: ${String(err)}`))
      .finally(() => app.quit());
  });
  // The mesh belongs to the window, so closing it quits on every platform (macOS included).
  app.on('window-all-closed', () => app.quit());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => app.quit());

  const meshFile = meshFileFromArgs();
  if (!existsSync(meshFile)) throw new Error(`mesh file not found: ${meshFile}`);
  const starting = startControlPlane({ meshFile, log: (line) => console.log(line) });
  controlPlane = starting;
  const [cp] = await Promise.all([starting, app.whenReady()]);
  if (quitting) return; // quit during startup: before-quit is already stopping it
  console.log(`devmesh desktop: UI at ${cp.uiUrl.replace(/#token=.*/, '')}`);
  window = createWindow(cp.uiUrl);
}

main().catch(async (err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`devmesh: ${message}`);
  await stopControlPlane().catch(() => {});
  await app.whenReady();
  dialog.showErrorBox('devmesh could not start the mesh', message);
  app.exit(1);
});

export type { ShellBridge };
