// The supervisor contract (supervisor-contract.ts) run against every Supervisor: processes, and containers
// on a private dockerd this file starts (skipped with the reason where it cannot run: no root, no dockerd).
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { DockerEngine } from '../../src/containers/docker-engine.js';
import { ContainerSupervisor } from '../../src/supervisor/container-supervisor.js';
import { ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import { isAlive } from '../helpers/mesh-process.js';
import { BASE_IMAGE, startEngine, whyNoEngine } from '../containers/docker-engine-fixture.js';
import { CONTRACT_RUN, REAPER_GRACE_MS, spawnOwner, supervisorContract, type AppPlace } from './supervisor-contract.js';

const OWNER = fileURLToPath(new URL('./supervisor-owner.js', import.meta.url));
const ownerEnv = (home: string) => ({ DEVMESH_HOME: home, DEVMESH_REAPER_GRACE_MS: String(REAPER_GRACE_MS) });

supervisorContract(
  'process',
  async () => {
    const spec = (id: string, p: AppPlace, env: Record<string, string>) => ({ id, command: 'node app.mjs', cwd: p.dir, env, port: p.port, health: '/healthz' });
    return {
      // The in-test supervisor has no reaper: the test process is not killed.
      supervisor: new ProcessSupervisor(null),
      spec,
      gone: async (_spec, pgid) => !isAlive(-pgid), // its process group, whatever the app forked included
      startOwned: (s) => spawnOwner(OWNER, { kind: 'process', spec: s }, ownerEnv(s.env.DEVMESH_HOME!)),
      close: async () => {},
    };
  },
);

supervisorContract('container', async () => {
  const why = whyNoEngine();
  if (why) return { skip: `no Docker engine here: ${why}` };
  const engine = await startEngine();
  const spec = (id: string, p: AppPlace, env: Record<string, string>) => ({
    id,
    command: 'node /app/app.mjs',
    cwd: p.dir,
    env,
    port: p.port,
    health: '/healthz',
    container: { image: BASE_IMAGE, port: undefined, volumes: [`${p.dir}:/app:ro`], service: id, version: '' },
  });
  const docker: Docker = engine.docker;
  const supervisor = new ContainerSupervisor(null, CONTRACT_RUN, { engine: new DockerEngine({ socketPath: engine.socket }), networking: 'host' });
  return {
    supervisor,
    spec,
    gone: async (s) => {
      try {
        await docker.getContainer(supervisor.namesOf(s.id, s.container!).name).inspect();
        return false;
      } catch (err) {
        return (err as { statusCode?: number }).statusCode === 404;
      }
    },
    startOwned: (s) => spawnOwner(OWNER, { kind: 'container', spec: s, socketPath: engine.socket }, ownerEnv(s.env.DEVMESH_HOME!)),
    close: () => engine.stop(),
  };
});
