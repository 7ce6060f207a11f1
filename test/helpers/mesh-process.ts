// Runs `devmesh up` as a user would, in a temporary folder with a temporary DEVMESH_HOME, and gives the
// test the URLs it printed. Everything the mesh starts carries that DEVMESH_HOME, which is how tests
// (and the runner's leak check) find processes left behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(REPO, 'bin', 'devmesh.js');

export interface RunningMesh {
  dir: string;
  home: string;
  child: ChildProcess;
  uiUrl: string;
  token: string;
  apiBase: string;
  ingress: Record<string, string>;
  stdout(): string;
  api<T>(path: string): Promise<T>;
  /** Runs another devmesh command in the mesh's folder with its DEVMESH_HOME. */
  cli(args: string[]): { status: number | null; stdout: string; stderr: string };
  /** Runs `devmesh up` again in the same folder and home (after the first one died); waits for ready. */
  upAgain(extraArgs?: string[]): Promise<void>;
  stop(): Promise<void>;
}

export interface StartMeshOptions {
  yaml?: string;
  /** Copy this folder (e.g. fixtures/bookinfo) first; `transform` may then rewrite its devmesh.yaml. */
  fromFolder?: string;
  transform?: (yaml: string) => string;
  files?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Extra environment for `devmesh up` (and so for its sidecars and apps). */
  env?: Record<string, string>;
  /** Extra arguments for `devmesh up` (e.g. --no-watch). */
  args?: string[];
}

/**
 * DEVMESH_TEST_DATA_PLANE=shared runs every mesh a test starts with `dataPlane: shared`, so the end-to-end
 * suites check both data planes (a mesh file that chooses its data plane keeps its choice).
 */
export function withTestDataPlane(yaml: string): string {
  const mode = process.env.DEVMESH_TEST_DATA_PLANE;
  if (!mode || /^dataPlane:/m.test(yaml)) return yaml;
  return `${yaml.replace(/\n*$/, '\n')}dataPlane: ${mode}\n`;
}

export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'devmesh-test-'));
}

/** Pids of live processes whose environment has DEVMESH_HOME=home. */
export function processesOfHome(home: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'latin1').split('\0');
      if (env.includes(`DEVMESH_HOME=${home}`)) out.push(Number(name));
    } catch {
      /* exited, or not ours to read */
    }
  }
  return out;
}

/** True while `pid` exists (a negative pid: while any process of that group does), zombies included. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

export async function startMesh(opts: StartMeshOptions): Promise<RunningMesh> {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-test-mesh-'));
  const home = tempHome();
  if (opts.fromFolder) cpSync(opts.fromFolder, dir, { recursive: true });
  for (const [name, text] of Object.entries(opts.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const meshPath = join(dir, 'devmesh.yaml');
  let yaml = opts.yaml ?? readFileSync(meshPath, 'utf8');
  if (opts.transform) yaml = opts.transform(yaml);
  yaml = withTestDataPlane(yaml);
  writeFileSync(meshPath, yaml);

  const env = { ...process.env, ...opts.env, DEVMESH_HOME: home };
  let up = launchUp(dir, env, opts.args);

  const cleanup = async () => {
    const child = up.child;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await up.exited;
      clearTimeout(timer);
    }
    // Whatever survived is a leak the test reports; kill it so one failure does not cascade.
    await waitFor('mesh processes to exit', () => processesOfHome(home).length === 0, 5000).catch(() => {
      for (const pid of processesOfHome(home)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  };

  let urls: ReturnType<typeof urlsOf>;
  try {
    urls = await untilReady(up, opts.readyTimeoutMs);
  } catch (err) {
    await cleanup();
    throw err;
  }

  const mesh: RunningMesh = {
    dir,
    home,
    child: up.child,
    ...urls,
    stdout: () => up.out(),
    async api<T>(path: string): Promise<T> {
      const res = await fetch(mesh.apiBase + path, { headers: { authorization: `Bearer ${mesh.token}` } });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
    cli(args: string[]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    async upAgain(extraArgs: string[] = []): Promise<void> {
      up = launchUp(dir, env, extraArgs);
      mesh.child = up.child;
      Object.assign(mesh, await untilReady(up, opts.readyTimeoutMs));
    },
    stop: cleanup,
  };
  return mesh;
}

interface Up {
  child: ChildProcess;
  exited: Promise<void>;
  out(): string;
}

function launchUp(dir: string, env: NodeJS.ProcessEnv, extraArgs: string[] = []): Up {
  const child = spawn(process.execPath, [CLI, 'up', 'devmesh.yaml', ...extraArgs], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited, out: () => out };
}

async function untilReady(up: Up, timeoutMs = 60_000): Promise<ReturnType<typeof urlsOf>> {
  try {
    await waitFor(
      '"ready" from devmesh up',
      () => {
        if (up.child.exitCode !== null) throw new Error(`devmesh up exited with ${up.child.exitCode}:\n${up.out()}`);
        return /^ready: /m.test(up.out());
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- output ---\n${up.out()}`, { cause: err });
  }
  return urlsOf(up.out());
}

function urlsOf(out: string): Pick<RunningMesh, 'uiUrl' | 'token' | 'apiBase' | 'ingress'> {
  const uiUrl = /^UI: (\S+)$/m.exec(out)![1]!;
  const token = /#token=(\S+)$/.exec(uiUrl)![1]!;
  const apiBase = new URL(uiUrl).origin;
  const ingress: Record<string, string> = {};
  for (const m of out.matchAll(/^ingress (\S+): (http:\/\/\S+)$/gm)) ingress[m[1]!] = m[2]!;
  return { uiUrl, token, apiBase, ingress };
}
