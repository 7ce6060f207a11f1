// Stands in for a control plane in the reaping test: owns a Reaper and a supervisor, starts one workload,
// prints "ready <pid>" and waits to be killed. Usage: node supervisor-owner.js '{"kind", "spec", "socketPath"?}'
import { ContainerSupervisor } from '../../src/supervisor/container-supervisor.js';
import { DockerEngine } from '../../src/containers/docker-engine.js';
import { ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import { Reaper } from '../../src/supervisor/reaper.js';
import type { Supervisor, WorkloadSpec } from '../../src/supervisor/supervisor.js';
import { CONTRACT_RUN } from './supervisor-contract.js';

interface OwnerRequest {
  kind: 'process' | 'container';
  spec: WorkloadSpec;
  socketPath?: string;
}

/** The one place the test's reaper is made, with the grace period it waits before tearing down. */
function makeReaper(): Reaper {
  return new Reaper({ graceMs: Number(process.env.DEVMESH_REAPER_GRACE_MS) || 0 });
}

const request = JSON.parse(process.argv[2]!) as OwnerRequest;
const reaper = makeReaper();
const supervisor: Supervisor =
  request.kind === 'process' ? new ProcessSupervisor(reaper) : new ContainerSupervisor(reaper, CONTRACT_RUN, { engine: new DockerEngine({ socketPath: request.socketPath! }) });
const workload = supervisor.start(request.spec, { onState: () => {}, onLog: () => {} });
await workload.ready;
console.log(`ready ${workload.pid}`);
setInterval(() => {}, 60_000); // until killed
