// How a devmesh command finds "the mesh": the running one (its run file gives the API URL and token),
// or, for commands that read a stopped mesh's stores, its state folder under DEVMESH_HOME.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { loadMeshFile } from '../config/load-mesh.js';
import type { MeshFile } from '../config/mesh-schema.js';
import { defaultHome, listOrphanedRuns, listRuns, type RunFile } from '../control-plane/state-dir.js';

/** No mesh is running where the command looked: a failure of the command (exit 1), not of its usage. */
export class NoMeshError extends Error {
  constructor(
    message: string,
    readonly code: 'NO_MESH' | 'ORPHANED' = 'NO_MESH',
  ) {
    super(message);
  }
}

/** The running mesh of FILE (--file), or the one running from this folder, or the only one running; null if none. */
export function runningMesh(file: string | undefined): RunFile | null {
  const runs = listRuns(defaultHome());
  const cwd = process.cwd();
  return (file ? runs.find((r) => r.meshFile === resolve(file)) : (runs.find((r) => r.cwd === cwd || dirname(r.meshFile) === cwd) ?? (runs.length === 1 ? runs[0] : undefined))) ?? null;
}

/** As runningMesh, but a missing mesh is a NoMeshError saying what runs instead. */
export function findRun(file: string | undefined): RunFile {
  const match = runningMesh(file);
  if (match) return match;
  const cwd = process.cwd();
  const orphan = listOrphanedRuns(defaultHome()).find((r) => (file ? r.meshFile === resolve(file) : r.cwd === cwd || dirname(r.meshFile) === cwd));
  if (orphan) {
    throw new NoMeshError(
      `the control plane of ${orphan.mesh} (${orphan.meshFile}) died; its apps and sidecars keep serving for the grace period: \`devmesh up\` re-adopts them, \`devmesh down\` stops them`,
      'ORPHANED',
    );
  }
  const runs = listRuns(defaultHome());
  throw new NoMeshError(
    runs.length === 0 ? 'no mesh is running (start one with: devmesh up)' : `no mesh runs from ${cwd}; running: ${runs.map((r) => r.meshFile).join(', ')} (use --file)`,
  );
}

export async function apiCall<T>(run: RunFile, path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(run.apiUrl + path, { ...init, headers: { ...init.headers, authorization: `Bearer ${run.token}` } });
  } catch (err) {
    throw new Error(`the mesh ${run.mesh} (pid ${run.pid}) does not answer at ${run.apiUrl}: ${(err as Error).message}`, { cause: err });
  }
  const body = (await res.json()) as unknown;
  if (!res.ok) {
    const err = z.object({ error: z.string() }).safeParse(body);
    throw new Error(`${path}: ${res.status} ${err.success ? err.data.error : ''}`);
  }
  return body as T;
}

export function apiPost<T>(run: RunFile, path: string, body: unknown): Promise<T> {
  return apiCall<T>(run, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Where a mesh that is not running left its trace store and logs. */
export interface StoppedMesh {
  name: string;
  /** The mesh file, when it was found and read (it names the services' instances). */
  mesh: MeshFile | null;
  dir: string;
  tracesDb: string;
  logsDir: string;
}

/**
 * The state folder of the mesh of FILE (default ./devmesh.yaml), or the only mesh with state under
 * DEVMESH_HOME when there is no mesh file here.
 */
export function stoppedMesh(file: string | undefined): StoppedMesh {
  const home = defaultHome();
  const meshFile = resolve(file ?? 'devmesh.yaml');
  let name: string;
  let mesh: MeshFile | null = null;
  if (existsSync(meshFile)) {
    mesh = loadMeshFile(meshFile);
    name = mesh.name;
  } else {
    if (file) throw new NoMeshError(`${meshFile}: no such file`);
    let names: string[] = [];
    try {
      names = readdirSync(join(home, 'meshes'));
    } catch {
      /* no mesh ever ran here */
    }
    if (names.length !== 1) {
      throw new NoMeshError(
        names.length === 0
          ? `no mesh is running, and none has run with DEVMESH_HOME=${home}`
          : `no mesh is running and there is no devmesh.yaml here; stores of ${names.join(', ')} are in ${join(home, 'meshes')} (use --file)`,
      );
    }
    name = names[0]!;
  }
  const dir = join(home, 'meshes', name);
  return { name, mesh, dir, tracesDb: join(dir, 'traces.db'), logsDir: join(dir, 'logs') };
}
