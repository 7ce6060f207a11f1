// The composition root that `devmesh up` (src/cli/) and the desktop shell (src/electron/) both run: it
// opens the control plane, serves its API and UI on 127.0.0.1 with this run's token, writes the run file
// through which the CLI finds them, then starts the mesh. The control plane knows nothing of the API; the
// two meet only here.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { ApiServer } from '../api/api-server.js';
import { createApiHandlers } from '../api/api-handlers.js';
import { importApiHandlers } from '../api/import-api-handlers.js';
import { MeshFileEditor } from '../api/mesh-file-editor.js';
import { ControlPlane, type ControlPlaneOptions } from '../control-plane/control-plane.js';
import { removeRunFile, writeRunFile } from '../control-plane/state-dir.js';

export interface HostOptions extends ControlPlaneOptions {
  /** Port of the API and UI on 127.0.0.1; 0 (default) picks a free one. */
  uiPort?: number;
}

export interface Host {
  readonly controlPlane: ControlPlane;
  /** Where the API listens, e.g. http://127.0.0.1:41233. */
  readonly apiUrl: string;
  /** The UI with the token in its fragment, which browsers never send to a server. */
  readonly uiUrl: string;
  /** Stops the mesh, then the API, then removes the run file. */
  stop(): Promise<void>;
}

/** The run file `devmesh status`, `down`, `traces` and Prometheus read (0600: it holds the token). */
function publishRun(controlPlane: ControlPlane, meshFile: string, apiUrl: string, token: string): string {
  return writeRunFile(controlPlane.stateDir.runDir, { pid: process.pid, mesh: controlPlane.status().mesh, meshFile, cwd: process.cwd(), apiUrl, token });
}

export async function startHost(opts: HostOptions): Promise<Host> {
  const meshFile = resolve(opts.meshFile);
  const controlPlane = new ControlPlane({ ...opts, meshFile });
  const token = randomBytes(24).toString('base64url');
  let api: ApiServer | null = null;
  let runFile: string | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // The API answers while the mesh stops (status shows it going), and the run file goes last: `devmesh
      // down` waits for it to remove the mesh's containers only once this run has let go of them.
      await controlPlane.stop();
      await api?.close();
      if (runFile) removeRunFile(runFile);
    })());
  try {
    // Served before the instances start, so status (and the UI) can show a slow pull or build as it goes.
    await controlPlane.open();
    let apiUrl = '';
    api = new ApiServer(token, { ...createApiHandlers(controlPlane, new MeshFileEditor(meshFile), () => `${apiUrl}/`), ...importApiHandlers(meshFile) });
    apiUrl = `http://127.0.0.1:${await api.listen(opts.uiPort ?? 0)}`;
    runFile = publishRun(controlPlane, meshFile, apiUrl, token);
    await controlPlane.start();
    return { controlPlane, apiUrl, uiUrl: `${apiUrl}/#token=${token}`, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
