// Derives what the control plane runs from a validated mesh file: the instances of every service, the
// order to start them in, and each service's effective mTLS mode. What each sidecar is told (routes,
// policies) is src/sidecar-config/'s.
import { resolve } from 'node:path';
import type { MeshFile, MtlsMode } from './mesh-schema.js';

export interface InstanceSpec {
  /** e.g. "reviews-v2-0", "details-0". */
  id: string;
  service: string;
  /** Version key, "" for a service without versions. */
  version: string;
  /** `run`: a command line, or the program and its arguments; '' for a container. */
  command: string | string[];
  cwd: string;
  env: Record<string, string>;
  health: string | undefined;
  /** The file's `port`: where the app listens (inside the container for images); undefined picks a free one. */
  port: number | undefined;
  /** Set when the workload runs in a container (image or build) rather than as a host process. */
  container?: ContainerSource;
}

export interface ContainerSource {
  image?: string;
  /** Context folder resolved against the mesh file's folder. */
  build?: { context: string; dockerfile?: string | undefined; args?: Record<string, string> | undefined };
  /** host:container[:ro], host paths resolved against the mesh file's folder (named volumes kept as they are). */
  volumes: string[];
  /** Replaces the image's CMD: a string (split into words by the container supervisor) or a list. */
  command?: string | string[];
}

/** "./data:/var/lib/x" → "/abs/data:/var/lib/x"; a named volume ("pgdata:/var/lib/x") is left alone. */
export function resolveVolume(volume: string, meshDir: string): string {
  const [host, ...rest] = volume.split(':');
  if (!host || rest.length === 0 || !/^[./~]/.test(host)) return volume;
  return [resolve(meshDir, host), ...rest].join(':');
}

/** CATALOG_URL for upstream "catalog"; "user-db" gives USER_DB_URL. */
export function upstreamEnvName(service: string): string {
  return `${service.toUpperCase().replaceAll('-', '_')}_URL`;
}

export function instancesOf(mesh: MeshFile, meshDir: string): InstanceSpec[] {
  const out: InstanceSpec[] = [];
  for (const [service, svc] of Object.entries(mesh.services)) {
    const versions = svc.versions && Object.keys(svc.versions).length > 0 ? Object.entries(svc.versions) : [['', {}] as const];
    for (const [version, ver] of versions) {
      const replicas = ('replicas' in ver && ver.replicas) || svc.replicas || 1;
      // A version that says run, image or build replaces the service's workload kind as a whole.
      const v = ver as { run?: unknown; image?: string; build?: unknown };
      const source = v.run !== undefined || v.image !== undefined || v.build !== undefined ? (ver as typeof svc) : svc;
      const command = source.run ?? '';
      // A version naming no workload kind runs the service's image, with its own command if it says one.
      const containerCommand = source === svc ? (('command' in ver && ver.command) || svc.command) : source.command;
      const container: ContainerSource | undefined =
        source.image !== undefined || source.build !== undefined
          ? {
              ...(source.image !== undefined ? { image: source.image } : {}),
              ...(source.build ? { build: { ...source.build, context: resolve(meshDir, source.build.context) } } : {}),
              volumes: [...(svc.volumes ?? []), ...(('volumes' in ver && ver.volumes) || [])].map((v) => resolveVolume(v, meshDir)),
              ...(containerCommand !== undefined ? { command: containerCommand } : {}),
            }
          : undefined;
      if (!command && !container) continue; // the schema rejects this; keeps the type narrow
      for (let i = 0; i < replicas; i++) {
        out.push({
          id: version ? `${service}-${version}-${i}` : `${service}-${i}`,
          service,
          version,
          command,
          cwd: resolve(meshDir, ('cwd' in ver && ver.cwd) || svc.cwd || '.'),
          env: { ...(svc.env ?? {}), ...(('env' in ver && ver.env) || {}) },
          health: svc.health,
          port: svc.port,
          ...(container ? { container } : {}),
        });
      }
    }
  }
  return out;
}

/** Instances that would listen on one fixed host port, per port (only ports shared by two or more). */
export interface PortClash {
  port: number;
  ids: string[];
  services: string[];
}

/**
 * A service's `port` is the host port every one of its instances listens on when it runs as a process
 * (and as a container with host networking): two instances on one fixed port cannot both start.
 * `containersOnHost` counts containers too (host networking, decided when the engine is known).
 */
export function fixedPortClashes(instances: readonly InstanceSpec[], containersOnHost: boolean): PortClash[] {
  const byPort = new Map<number, InstanceSpec[]>();
  for (const i of instances) {
    if (i.port === undefined || (i.container !== undefined && !containersOnHost)) continue;
    byPort.set(i.port, [...(byPort.get(i.port) ?? []), i]);
  }
  return [...byPort]
    .filter(([, list]) => list.length > 1)
    .map(([port, list]) => ({ port, ids: list.map((i) => i.id), services: [...new Set(list.map((i) => i.service))] }));
}

/**
 * Services ordered so that upstreams (and dependsOn) start before the services that call them.
 * Services on a cycle cannot all go first; they start in file order after everything else.
 */
export function startOrder(mesh: MeshFile): string[] {
  const names = Object.keys(mesh.services);
  const done = new Set<string>();
  const order: string[] = [];
  let progress = true;
  while (progress) {
    progress = false;
    for (const name of names) {
      if (done.has(name)) continue;
      const svc = mesh.services[name];
      const ups = [...(svc?.upstreams ?? []), ...(svc?.dependsOn ?? [])];
      if (ups.every((u) => done.has(u) || u === name || !(u in mesh.services))) {
        done.add(name);
        order.push(name);
        progress = true;
      }
    }
  }
  return [...order, ...names.filter((n) => !done.has(n))];
}

/**
 * PeerAuthentication semantics: the policy-file override beats the service's own setting, which beats the
 * mesh default; a port-level mode (keyed by the app port) beats the workload mode; UNSET inherits.
 */
export function effectiveMtls(mesh: MeshFile, service: string, appPort?: number): MtlsMode {
  const setting = mesh.serviceMtls?.[service] ?? mesh.services[service]?.mtls;
  if (setting === undefined) return mesh.mtls;
  if (typeof setting === 'string') return setting;
  const portMode = appPort !== undefined ? setting.portLevelMtls?.[String(appPort)]?.mode : undefined;
  const mode = portMode && portMode !== 'UNSET' ? portMode : setting.mode;
  return mode && mode !== 'UNSET' ? mode : mesh.mtls;
}
