// Where devmesh keeps its state: the CA (shared by every mesh, so a user trusts one root), and per mesh
// the trace database and logs; plus a run file per running mesh so `devmesh status` in the same folder
// finds the API and its token. DEVMESH_HOME overrides the per-user default.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

export function defaultHome(): string {
  if (process.env.DEVMESH_HOME) return process.env.DEVMESH_HOME;
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'devmesh');
  if (process.platform === 'win32') return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'devmesh');
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'devmesh');
}

export interface StatePaths {
  home: string;
  caDir: string;
  meshDir: string;
  logsDir: string;
  tracesDb: string;
  runDir: string;
}

/** One CA for every mesh of a user, so its root is trusted once. */
export function caDirOf(home: string): string {
  return join(home, 'ca');
}

export function statePaths(home: string, meshName: string): StatePaths {
  const meshDir = join(home, 'meshes', meshName);
  const paths = {
    home,
    caDir: caDirOf(home),
    meshDir,
    logsDir: join(meshDir, 'logs'),
    tracesDb: join(meshDir, 'traces.db'),
    runDir: join(home, 'run'),
  };
  for (const dir of [paths.meshDir, paths.logsDir, paths.runDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  return paths;
}

const RunFileSchema = z.object({
  pid: z.number().int(),
  mesh: z.string(),
  meshFile: z.string(),
  cwd: z.string(),
  apiUrl: z.string(),
  token: z.string(),
});
export type RunFile = z.infer<typeof RunFileSchema>;

function runFileName(runDir: string, meshFile: string): string {
  return join(runDir, `${createHash('sha256').update(meshFile).digest('hex').slice(0, 16)}.json`);
}

/** Written 0600: it holds the API token. */
/**
 * Written 0600: it holds the API token. Beside it, `<same name>.token` holds just the token, for
 * Prometheus's `credentials_file` (re-read on every scrape, so it follows restarts of the mesh).
 */
export function writeRunFile(runDir: string, run: RunFile): string {
  const file = runFileName(runDir, run.meshFile);
  writeFileSync(file, JSON.stringify(run), { mode: 0o600 });
  writeFileSync(tokenFileOf(file), run.token, { mode: 0o600 });
  return file;
}

export function tokenFileOf(runFile: string): string {
  return runFile.replace(/\.json$/, '.token');
}

export function removeRunFile(file: string): void {
  rmSync(file, { force: true });
  rmSync(tokenFileOf(file), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Running meshes whose process is alive; stale files from a crashed run are removed. */
export function listRuns(home: string): RunFile[] {
  const runDir = join(home, 'run');
  let names: string[];
  try {
    names = readdirSync(runDir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const runs: RunFile[] = [];
  for (const name of names) {
    const file = join(runDir, name);
    try {
      const run = RunFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      if (alive(run.pid)) runs.push(run);
      else rmSync(file, { force: true });
    } catch {
      /* unreadable or half-written: not a mesh we can talk to */
    }
  }
  return runs;
}
