// A private Docker engine for one test file: dockerd as root with its own data root, exec root, pid file
// and socket under a devmesh-test-* folder (so the runner's leak check sees anything it leaves), plus a
// tiny base image made without a registry: busybox-static and this machine's node binary with the
// libraries ldd lists, imported as a root filesystem.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Docker from 'dockerode';
import { processesOfHome, waitFor } from '../helpers/mesh-process.js';

export const BASE_IMAGE = 'devmesh-test/node:1';

export interface TestEngine {
  socket: string;
  dockerHost: string;
  docker: Docker;
  /** Milliseconds from spawning dockerd to its first answer. */
  startMs: number;
  stop(): Promise<void>;
}

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Why no engine can run here, or null when it can. */
export function whyNoEngine(): string | null {
  if (process.platform !== 'linux') return 'the container tests start their own dockerd, which needs Linux';
  if (process.getuid?.() !== 0) return 'the container tests start their own dockerd, which needs root (CI runs as root)';
  if (!which('dockerd')) return 'dockerd is not installed (Debian: apt-get install docker.io; .ci/run does it)';
  return null;
}

export async function startEngine(): Promise<TestEngine> {
  const root = mkdtempSync(join(tmpdir(), 'devmesh-test-docker-'));
  const socket = join(root, 'docker.sock');
  const started = Date.now();
  const daemon: ChildProcess = spawn(
    'dockerd',
    [
      '--data-root', join(root, 'data'),
      '--exec-root', join(root, 'exec'),
      '--pidfile', join(root, 'docker.pid'),
      '-H', `unix://${socket}`,
      // Only host networking is used by the tests: no bridge, no iptables rules on the machine.
      '--iptables=false', '--ip6tables=false', '--bridge=none',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEVMESH_HOME: root } },
  );
  let log = '';
  daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  // If the runner ends this file early (its timeout), dockerd must not outlive it: it stops its containers.
  const onSignal = () => daemon.kill('SIGTERM');
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.once('exit', onSignal);
  const docker = new Docker({ socketPath: socket });
  const stop = async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    // containerd (dockerd's child, with the same DEVMESH_HOME) may exit a moment after dockerd.
    await waitFor('containerd to exit', () => processesOfHome(root).length === 0, 10_000).catch(() => {
      for (const pid of processesOfHome(root)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    // dockerd leaves its network namespace bind-mounted (exec/netns/default): unmount before removing.
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(root + '/'));
    for (const m of mounts.sort((a, b) => b.length - a.length)) spawnSync('umount', ['-l', m]);
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    await waitFor('dockerd to answer', async () => {
      if (daemon.exitCode !== null) throw new Error(`dockerd exited with ${daemon.exitCode}: ${log}`);
      await docker.ping();
      return true;
    }, 30_000, 100);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`, { cause: err });
  }
  const startMs = Date.now() - started;
  try {
    await importBaseImage(docker, root);
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, dockerHost: `unix://${socket}`, docker, startMs, stop };
}

async function importBaseImage(docker: Docker, root: string): Promise<void> {
  const rootfs = join(root, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  mkdirSync(join(rootfs, 'tmp'), { recursive: true });
  // A shell and a few tools when busybox-static is there (handy when debugging a test image); node is enough.
  if (existsSync('/bin/busybox')) {
    cpSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    for (const applet of ['sh', 'ls', 'cat', 'echo', 'sleep', 'wget', 'kill']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  const node = spawnSync('sh', ['-c', 'readlink -f "$(command -v node)"'], { encoding: 'utf8' }).stdout.trim() || process.execPath;
  cpSync(node, join(rootfs, 'bin', 'node'));
  const ldd = spawnSync('ldd', [node], { encoding: 'utf8' }).stdout;
  for (const lib of ldd.match(/\/\S+/g) ?? []) {
    mkdirSync(join(rootfs, dirname(lib)), { recursive: true });
    cpSync(lib, join(rootfs, lib), { dereference: true });
  }
  const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [repo, tag] = BASE_IMAGE.split(':');
  const stream = await docker.importImage(tar.stdout as unknown as string, { repo, tag });
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
  rmSync(rootfs, { recursive: true, force: true });
}

/** Labelled containers of a mesh on the engine (any home). */
export async function meshContainers(docker: Docker, mesh: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`dev.devmesh.mesh=${mesh}`] } });
}

/** The text of an instance's log file in a DEVMESH_HOME. */
export function instanceLog(home: string, mesh: string, instance: string): string {
  const file = join(home, 'meshes', mesh, 'logs', `${instance}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}
