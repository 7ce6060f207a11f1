// The composition root that `devmesh up` (src/cli/) and the desktop shell (src/electron/) both run: it
// opens the control plane, serves its API and UI on 127.0.0.1 with this run's token, writes the run file
// through which the CLI finds them, then starts the mesh. The control plane knows nothing of the API; the
// two meet only here.
import { resolve } from 'node:path';
import { uiLink } from '../contract/ui-link.js';
import { ApiServer } from '../api/api-server.js';
import { createApiHandlers } from '../api/api-handlers.js';
import { importApiHandlers } from '../api/import-api-handlers.js';
import { MeshFileEditor } from '../api/mesh-file-editor.js';
import { ControlPlane, type ControlPlaneOptions } from '../control-plane/control-plane.js';

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

/** The port asked for; else the one the previous run of this mesh served (a browser may have it open), if free. */
async function listenApi(api: ApiServer, uiPort: number | undefined, previousPort: number | null): Promise<number> {
  if (uiPort || !previousPort) return api.listen(uiPort ?? 0);
  return api.listen(previousPort).catch(() => api.listen(0));
}

export async function startHost(opts: HostOptions): Promise<Host> {
  const meshFile = resolve(opts.meshFile);
  const controlPlane = new ControlPlane({ ...opts, meshFile });
  let api: ApiServer | null = null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // The API answers while the mesh stops (status shows it going); the control plane removes the run file
      // last: `devmesh down` waits for it to remove the mesh's containers only once this run has let go of them.
      await controlPlane.stop();
      await api?.close();
    })());
  try {
    // Served before the instances start, so status (and the UI) can show a slow pull or build as it goes.
    await controlPlane.open();
    let apiUrl = '';
    // The token is the control plane's: one re-adopting a mesh keeps the token its sidecars dial in with.
    const token = controlPlane.token;
    api = new ApiServer(token, { ...createApiHandlers(controlPlane, new MeshFileEditor(meshFile), () => `${apiUrl}/`), ...importApiHandlers(meshFile) });
    apiUrl = `http://127.0.0.1:${await listenApi(api, opts.uiPort, controlPlane.previousApiPort)}`;
    // The run file (0600: it holds the token) through which `devmesh status`, `down`, `traces` and
    // Prometheus find the API, and through which a control plane replacing a crashed one re-adopts the mesh.
    controlPlane.publishRun(apiUrl);
    await controlPlane.start();
    return { controlPlane, apiUrl, uiUrl: uiLink(apiUrl, token), stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
