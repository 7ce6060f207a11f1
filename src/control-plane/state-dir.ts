// Where devmesh keeps its state: the CA (shared by every mesh, so a user trusts one root), and per mesh
// the trace database and logs; plus a run file per running mesh so `devmesh status` in the same folder
// finds the API and its token. DEVMESH_HOME overrides the per-user default.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { isAlive } from '../supervisor/pid-watch.js';

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

const PortsSchema = z.object({ inbound: z.number().int().nullable(), outbound: z.record(z.string(), z.number().int()) });

/** What a control plane that died leaves for the one that re-adopts its mesh: every process and its ports. */
const AdoptionSchema = z.object({
  reaperPid: z.number().int().nullable(),
  controlSocket: z.string(),
  configVersion: z.number().int().nonnegative(),
  otlp: z.object({ port: z.number().int(), token: z.string(), grpcPort: z.number().int().optional() }).nullable(),
  instances: z.array(
    z.object({
      id: z.string(),
      /** The instance's spec as started: a re-adopting control plane restarts it if the mesh file changed it. */
      fingerprint: z.string(),
      appPid: z.number().int().nullable(),
      appPort: z.number().int(),
      appStartedAtMs: z.number().nullable(),
      sidecarPid: z.number().int().nullable(),
      sidecarPorts: PortsSchema.nullable(),
      ackedVersion: z.number().int().nonnegative(),
    }),
  ),
  gateways: z.array(
    z.object({
      id: z.string(),
      service: z.string(),
      requestedPort: z.number().int(),
      sidecarPid: z.number().int().nullable(),
      sidecarPorts: PortsSchema.nullable(),
      ackedVersion: z.number().int().nonnegative(),
    }),
  ),
});
export type Adoption = z.infer<typeof AdoptionSchema>;

const RunFileSchema = z.object({
  pid: z.number().int(),
  mesh: z.string(),
  meshFile: z.string(),
  cwd: z.string(),
  apiUrl: z.string(),
  token: z.string(),
  adoption: AdoptionSchema.optional(),
});
export type RunFile = z.infer<typeof RunFileSchema>;

function runFileName(runDir: string, meshFile: string): string {
  return join(runDir, `${createHash('sha256').update(meshFile).digest('hex').slice(0, 16)}.json`);
}

/**
 * Written 0600: it holds the API token. Beside it, `<same name>.token` holds just the token, for
 * Prometheus's `credentials_file` (re-read on every scrape, so it follows restarts of the mesh). Written
 * whole to a temporary name and renamed, so a control plane killed mid-write leaves the previous one.
 */
export function writeRunFile(runDir: string, run: RunFile): string {
  const file = runFileName(runDir, run.meshFile);
  writeFileSync(`${file}.tmp`, JSON.stringify(run), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  writeFileSync(tokenFileOf(file), run.token, { mode: 0o600 });
  return file;
}

/** The control socket of the mesh of `meshFile`: beside its run file (a named pipe on Windows). */
export function controlSocketOf(runDir: string, meshFile: string): string {
  const name = runFileName(runDir, meshFile).replace(/\.json$/, '.sock');
  return process.platform === 'win32' ? `\\\\.\\pipe\\devmesh-${createHash('sha256').update(name).digest('hex').slice(0, 16)}` : name;
}

export function tokenFileOf(runFile: string): string {
  return runFile.replace(/\.json$/, '.token');
}

export function removeRunFile(file: string): void {
  rmSync(file, { force: true });
  rmSync(tokenFileOf(file), { force: true });
}

function readRun(file: string): RunFile | null {
  try {
    return RunFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return null; // unreadable or half-written: not a mesh we can talk to
  }
}

/** Every readable run file of the home, with its path. */
function runFiles(home: string): { file: string; run: RunFile }[] {
  const runDir = join(home, 'run');
  let names: string[];
  try {
    names = readdirSync(runDir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const file = join(runDir, name);
    const run = readRun(file);
    return run ? [{ file, run }] : [];
  });
}

/**
 * Running meshes whose process is alive. A run whose control plane died is left alone while its reaper
 * waits out the grace period (it may be re-adopted; see orphanedRun), and removed once nothing is left.
 */
export function listRuns(home: string): RunFile[] {
  const runs: RunFile[] = [];
  for (const { file, run } of runFiles(home)) {
    if (isAlive(run.pid)) runs.push(run);
    else if (!orphanWaiting(run)) removeRunFile(file);
  }
  return runs;
}

/** Runs whose control plane died while their apps and sidecars wait for one (within the grace period). */
export function listOrphanedRuns(home: string): RunFile[] {
  return runFiles(home).map(({ run }) => run).filter((run) => !isAlive(run.pid) && orphanWaiting(run));
}

/** A run whose control plane died while its reaper still keeps its apps and sidecars for re-adoption. */
function orphanWaiting(run: RunFile): boolean {
  return run.adoption?.reaperPid != null && isAlive(run.adoption.reaperPid);
}

/** The run of `meshFile` whose control plane is dead: what a new `devmesh up` of it may re-adopt. */
export function orphanedRun(runDir: string, meshFile: string): { file: string; run: RunFile } | null {
  const file = runFileName(runDir, meshFile);
  const run = readRun(file);
  if (!run || isAlive(run.pid)) return null;
  return { file, run };
}

/** The run of `meshFile` whose control plane is alive, if any. */
export function liveRun(runDir: string, meshFile: string): RunFile | null {
  const run = readRun(runFileName(runDir, meshFile));
  return run && isAlive(run.pid) ? run : null;
}
