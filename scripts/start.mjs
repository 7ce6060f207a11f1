// What `npm start` runs after the build: the desktop app when the Electron binary is installed,
// otherwise the same mesh headless (`devmesh up`), with the UI URL printed for a browser.
// `--headless` forces headless; any other argument is the mesh file (default: the bookinfo example).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const forceHeadless = args.includes('--headless') || process.env.DEVMESH_HEADLESS === '1';
const meshFile = resolve(args.find((a) => !a.startsWith('--')) ?? join(root, 'fixtures', 'bookinfo', 'devmesh.yaml'));

/**
 * The Electron binary, found the way the electron package itself records it, without loading that
 * package: require('electron') downloads the binary when it is missing.
 */
function findElectron() {
  if (forceHeadless) return { why: '--headless was given' };
  const pkg = join(root, 'node_modules', 'electron');
  const pathTxt = join(pkg, 'path.txt');
  if (!existsSync(pathTxt)) return { why: 'the Electron binary is not installed (node_modules/electron/path.txt is missing)' };
  const binary = join(pkg, 'dist', readFileSync(pathTxt, 'utf8').trim());
  if (!existsSync(binary)) return { why: `the Electron binary is missing (${binary} does not exist)` };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return { why: 'there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)' };
  }
  return { binary };
}

const electron = findElectron();
// The child gets its own process group (detached), so a Ctrl-C in the terminal reaches it once, through
// us: `devmesh up` treats a second SIGINT as "exit now, skip the cleanup", and without this it would get
// one from the terminal and one forwarded by us (and npm may pass on a third).
const options = { stdio: ['ignore', 'inherit', 'inherit'], detached: process.platform !== 'win32' };
let child;
if (electron.binary) {
  console.log(`devmesh: starting the desktop app (Electron found at ${electron.binary})`);
  child = spawn(electron.binary, [join(root, 'dist', 'src', 'electron', 'main.js'), meshFile], options);
} else {
  console.log(`devmesh: running headless because ${electron.why}; open the UI URL below in a browser`);
  child = spawn(process.execPath, [join(root, 'bin', 'devmesh.js'), 'up', meshFile], options);
}

// One keypress can arrive here more than once (from the terminal and again from npm); copies within
// a moment are one request. A signal repeated later is passed on, so a stuck shutdown can be forced.
let lastForwardMs = 0;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (Date.now() - lastForwardMs < 750) return;
    lastForwardMs = Date.now();
    child.kill(signal);
  });
}
child.on('error', (err) => {
  console.error(`devmesh: could not start ${child.spawnfile}: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
});
