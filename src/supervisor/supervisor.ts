// What the control plane needs from whatever runs a workload. Processes (ProcessSupervisor) are the
// first implementation; containers (dockerode) are meant to be a second one behind the same interface.
import type { InstanceState } from '../contract/api.js';

export interface WorkloadSpec {
  id: string;
  /** A command line (split as sh would, no shell) or, from a `run` list, the program and its arguments. */
  command: string | string[];
  cwd: string;
  env: Record<string, string>;
  /** Loopback port the workload must listen on. */
  port: number;
  /** HTTP path that answers 2xx when ready; without it, ready means the port accepts connections. */
  health: string | undefined;
  /** Only for the container supervisor: what to run instead of `command` on the host. */
  container?: ContainerWorkloadSpec;
}

export interface ContainerWorkloadSpec {
  image?: string | undefined;
  build?: { context: string; dockerfile?: string | undefined; args?: Record<string, string> | undefined } | undefined;
  /** Port the app listens on inside the container; undefined: the app is told PORT and listens there. */
  port: number | undefined;
  /** host:container[:ro] with absolute host paths, or named volumes. */
  volumes: string[];
  /** The instance's service and version ("" for none): the container supervisor names and labels the container, and tags a built image, from them. */
  service: string;
  version: string;
  /** Replaces the image's CMD (the mesh file's `command`): a string is split into words, a list used as is. */
  command?: string | string[] | undefined;
}

export interface WorkloadEvents {
  onState(state: InstanceState, detail: string | null): void;
  onLog(stream: 'stdout' | 'stderr', line: string): void;
}

export interface Workload {
  readonly id: string;
  readonly state: InstanceState;
  readonly pid: number | null;
  readonly restarts: number;
  readonly startedAtMs: number | null;
  readonly lastExit: string | null;
  /** Resolves when the workload is healthy the first time, or rejects if it cannot start. */
  readonly ready: Promise<void>;
  /** Graceful stop (SIGTERM, then SIGKILL after the grace period); no restart follows. */
  stop(graceMs?: number): Promise<void>;
}

export interface Supervisor {
  readonly kind: 'process' | 'container';
  start(spec: WorkloadSpec, events: WorkloadEvents): Workload;
  /** Stops every workload it started. */
  stopAll(graceMs?: number): Promise<void>;
}
