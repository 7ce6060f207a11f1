// Derives what the control plane runs from a validated mesh file: the instances of every service,
// the order to start them in, and each service's route rules with Istio's defaults filled in.
import { resolve } from 'node:path';
import type { FaultPolicy, HeaderOps, HeaderRewrite, MatchBlock, MtlsMode, RetryPolicy, RouteRule, StringMatch } from '../../proxy/protocol/index.js';
import { durationMs, type HttpRouteSpec, type MeshFile } from './mesh-schema.js';

export interface InstanceSpec {
  /** e.g. "reviews-v2-0", "details-0". */
  id: string;
  service: string;
  /** Version key, "" for a service without versions. */
  version: string;
  command: string;
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

/** Istio's retry policy when a route has no `retries` block. */
export const ISTIO_DEFAULT_RETRIES: RetryPolicy = {
  attempts: 2,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', '503'],
};

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
      const v = ver as { run?: string; image?: string; build?: unknown };
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
 * Services ordered so that upstreams start before the services that call them.
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
      const ups = mesh.services[name]?.upstreams ?? [];
      if (ups.every((u) => done.has(u) || u === name)) {
        done.add(name);
        order.push(name);
        progress = true;
      }
    }
  }
  return [...order, ...names.filter((n) => !done.has(n))];
}

/** Istio: a header condition without a value ({}) means "present". */
function presentOr(m: StringMatch | Record<string, never>): StringMatch {
  return 'exact' in m || 'prefix' in m || 'regex' in m ? (m as StringMatch) : { regex: '.*' };
}

function retryPolicy(spec: HttpRouteSpec['retries']): RetryPolicy {
  if (!spec) return ISTIO_DEFAULT_RETRIES;
  const retryOn = (spec.retryOn ?? 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    // Istio's retriable-status-codes defaults to 503 when no code is listed.
    .map((c) => (c === 'retriable-status-codes' ? '503' : c));
  return {
    attempts: spec.attempts,
    retryOn,
    ...(spec.perTryTimeout ? { perTryTimeoutMs: durationMs(spec.perTryTimeout) } : {}),
  };
}

function percentOf(p: { value: number } | undefined, otherwise = 100): number {
  return p === undefined ? otherwise : p.value;
}

function lowerKeys<T>(record: Record<string, T> | undefined): Record<string, T> | undefined {
  return record === undefined ? undefined : Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}

function headerOps(ops: { set?: Record<string, string> | undefined; add?: Record<string, string> | undefined; remove?: string[] | undefined } | undefined): HeaderOps | undefined {
  if (!ops) return undefined;
  return {
    ...(ops.set ? { set: lowerKeys(ops.set)! } : {}),
    ...(ops.add ? { add: lowerKeys(ops.add)! } : {}),
    ...(ops.remove ? { remove: ops.remove.map((h) => h.toLowerCase()) } : {}),
  };
}

function headerRewrite(h: HttpRouteSpec['headers']): HeaderRewrite | undefined {
  if (!h) return undefined;
  return { ...(h.request ? { request: headerOps(h.request)! } : {}), ...(h.response ? { response: headerOps(h.response)! } : {}) };
}

function matchesOf(record: Record<string, StringMatch | Record<string, never>> | undefined, lower: boolean): Record<string, StringMatch> | undefined {
  if (!record) return undefined;
  return Object.fromEntries(Object.entries(record).map(([k, m]) => [lower ? k.toLowerCase() : k, presentOr(m)]));
}

function matchBlock(m: NonNullable<HttpRouteSpec['match']>[number]): MatchBlock {
  const headers = matchesOf(m.headers, true);
  const withoutHeaders = matchesOf(m.withoutHeaders, true);
  const queryParams = matchesOf(m.queryParams, false);
  return {
    ...(m.uri ? { uri: m.uri } : {}),
    ...(m.method ? { method: m.method } : {}),
    ...(m.authority ? { authority: m.authority } : {}),
    // Istio: a header condition without a value means "present".
    ...(headers ? { headers } : {}),
    ...(withoutHeaders ? { withoutHeaders } : {}),
    ...(queryParams ? { queryParams } : {}),
    ...(m.sourceLabels ? { sourceLabels: { ...m.sourceLabels } } : {}),
  };
}

const GRPC_STATUS: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

function faultOf(f: HttpRouteSpec['fault']): FaultPolicy | undefined {
  if (!f || (!f.delay && !f.abort)) return undefined;
  const grpc = f.abort?.grpcStatus;
  const grpcStatus = grpc === undefined ? undefined : /^\d+$/.test(grpc) ? Number(grpc) : GRPC_STATUS[grpc.toUpperCase()] ?? 2;
  return {
    ...(f.delay ? { delay: { fixedDelayMs: durationMs(f.delay.fixedDelay), percent: percentOf(f.delay.percentage) } } : {}),
    ...(f.abort
      ? { abort: { ...(f.abort.httpStatus !== undefined ? { httpStatus: f.abort.httpStatus } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}), percent: percentOf(f.abort.percentage) } }
      : {}),
  };
}

/** The route rules of calls to `target`: the file's rules, or one rule sending everything to all instances. */
export function routesFor(mesh: MeshFile, target: string): RouteRule[] {
  const rules = mesh.routes?.[target];
  if (!rules || rules.length === 0) {
    return [{ name: 'default', match: [], destinations: [{ service: target, weight: 100 }], retries: ISTIO_DEFAULT_RETRIES }];
  }
  return rules.map((rule, i): RouteRule => {
    const fault = faultOf(rule.fault);
    const headers = headerRewrite(rule.headers);
    return {
      name: rule.name ?? `${target}[${i}]`,
      match: (rule.match ?? []).map(matchBlock),
      destinations: (rule.route ?? []).map((d) => {
        const h = headerRewrite(d.headers);
        return {
          service: d.destination.host ?? target,
          ...(d.destination.subset ? { subset: d.destination.subset } : {}),
          weight: d.weight ?? (rule.route?.length === 1 ? 100 : 0),
          ...(h ? { headers: h } : {}),
        };
      }),
      ...(rule.redirect
        ? {
            redirect: {
              ...(rule.redirect.uri !== undefined ? { uri: rule.redirect.uri } : {}),
              ...(rule.redirect.authority !== undefined ? { authority: rule.redirect.authority } : {}),
              ...(rule.redirect.port !== undefined ? { port: rule.redirect.port } : {}),
              ...(rule.redirect.scheme !== undefined ? { scheme: rule.redirect.scheme } : {}),
              code: rule.redirect.redirectCode ?? 301,
            },
          }
        : {}),
      ...(rule.directResponse
        ? { directResponse: { status: rule.directResponse.status, ...(rule.directResponse.body ? { body: rule.directResponse.body.string } : {}) } }
        : {}),
      ...(rule.rewrite ? { rewrite: { ...rule.rewrite } } : {}),
      ...(headers ? { headers } : {}),
      ...(rule.mirror
        ? {
            mirror: {
              service: rule.mirror.host ?? target,
              ...(rule.mirror.subset ? { subset: rule.mirror.subset } : {}),
              // Istio mirrors every request when mirrorPercentage is absent.
              percent: percentOf(rule.mirrorPercentage),
            },
          }
        : {}),
      ...(fault ? { fault } : {}),
      // Istio: a route with a client-side fault has its retries and timeout turned off.
      retries: fault ? { attempts: 0, retryOn: [] } : retryPolicy(rule.retries),
      ...(rule.timeout && !fault ? { timeoutMs: durationMs(rule.timeout) } : {}),
    };
  });
}

/** Services whose calls may be routed to `service`'s clusters: its upstreams and any route hosts they name. */
export function clustersNeededFor(mesh: MeshFile, targets: string[]): string[] {
  const out = new Set<string>();
  for (const t of targets) {
    for (const rule of routesFor(mesh, t)) {
      for (const d of rule.destinations) out.add(d.service);
      if (rule.mirror) out.add(rule.mirror.service);
    }
  }
  return [...out];
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
