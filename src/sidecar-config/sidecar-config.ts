// Mesh file → sidecar config: the one place that translates what devmesh.yaml says (routes, traffic
// policies, authorization, mTLS, tracing) plus what is running into the snapshot each sidecar gets, the
// proxy protocol's SidecarConfig. Pure functions, so what a sidecar will be told can be tested without
// running anything. Istio's and Linkerd's defaults (src/mesh-semantics/) are filled in here, so the
// sidecar never guesses. Routes are translated in route-rules.ts beside this file.
import {
  spiffeId,
  type AppProtocol,
  type AuthorizationPolicy,
  type Cluster,
  type MtlsMode,
  type SidecarConfig,
  type TlsMaterial,
  type TrafficPolicy,
  type WorkloadIdentity,
} from '../../proxy/protocol/index.js';
import { effectiveMtls } from '../config/mesh-model.js';
import { durationMs, type AuthorizationPolicySpec, type MeshFile, type TrafficPolicySpec } from '../config/mesh-schema.js';
import { DEVMESH_TRACE_SAMPLING_PERCENT } from '../mesh-semantics/defaults.js';
import { effectiveOutlierDetection, effectiveRetryBudget } from '../mesh-semantics/traffic-policy.js';
import { routesFor } from './route-rules.js';

/** What the control plane knows of one running instance, as far as other sidecars are concerned. */
export interface EndpointView {
  instanceId: string;
  service: string;
  version: string;
  /** The sidecar's inbound port, once it has ACKed. */
  inboundPort: number | null;
  /** Only healthy instances receive traffic. */
  healthy: boolean;
}

export function mtlsOf(mesh: MeshFile, service: string): MtlsMode {
  return effectiveMtls(mesh, service, mesh.services[service]?.port);
}

type PolicyFields = Omit<TrafficPolicySpec, 'subsets'>;

export function trafficPolicyOf(spec: PolicyFields | undefined): TrafficPolicy | undefined {
  if (!spec) return undefined;
  const out: TrafficPolicy = {};
  const lb = spec.loadBalancer;
  if (lb?.consistentHash) {
    const h = lb.consistentHash;
    out.loadBalancer = {
      consistentHash: {
        ...(h.httpHeaderName !== undefined ? { header: h.httpHeaderName.toLowerCase() } : {}),
        ...(h.httpCookie !== undefined
          ? { cookie: { name: h.httpCookie.name, ...(h.httpCookie.path ? { path: h.httpCookie.path } : {}), ...(h.httpCookie.ttl ? { ttlMs: durationMs(h.httpCookie.ttl) } : {}) } }
          : {}),
        ...(h.useSourceIp ? { sourceIp: true } : {}),
        ...(h.httpQueryParameterName !== undefined ? { queryParam: h.httpQueryParameterName } : {}),
      },
    };
  } else if (lb?.simple === 'ROUND_ROBIN' || lb?.simple === 'LEAST_REQUEST' || lb?.simple === 'RANDOM') {
    out.loadBalancer = { simple: lb.simple };
  }
  const cp = spec.connectionPool;
  if (cp) {
    out.connectionPool = {
      ...(cp.tcp?.maxConnections !== undefined ? { maxConnections: cp.tcp.maxConnections } : {}),
      ...(cp.tcp?.connectTimeout ? { connectTimeoutMs: durationMs(cp.tcp.connectTimeout) } : {}),
      ...(cp.http?.http1MaxPendingRequests !== undefined ? { maxPendingRequests: cp.http.http1MaxPendingRequests } : {}),
      ...(cp.http?.http2MaxRequests !== undefined ? { maxRequests: cp.http.http2MaxRequests } : {}),
      ...(cp.http?.maxRequestsPerConnection !== undefined ? { maxRequestsPerConnection: cp.http.maxRequestsPerConnection } : {}),
      ...(cp.http?.maxRetries !== undefined ? { maxRetries: cp.http.maxRetries } : {}),
      ...(cp.http?.idleTimeout ? { idleTimeoutMs: durationMs(cp.http.idleTimeout) } : {}),
    };
  }
  if (spec.outlierDetection) out.outlierDetection = effectiveOutlierDetection(spec.outlierDetection);
  if (spec.retryBudget) out.retryBudget = effectiveRetryBudget(spec.retryBudget);
  return out;
}

function policyFields(cluster: Pick<Cluster, 'policy' | 'subsetPolicies'>, spec: TrafficPolicySpec | undefined): void {
  const policy = trafficPolicyOf(spec);
  if (policy) cluster.policy = policy;
  const subsets = Object.entries(spec?.subsets ?? {});
  if (subsets.length > 0) cluster.subsetPolicies = Object.fromEntries(subsets.map(([k, v]) => [k, trafficPolicyOf(v)!]));
}

export function buildClusters(mesh: MeshFile, endpoints: readonly EndpointView[]): Cluster[] {
  const clusters = Object.keys(mesh.services).map((service): Cluster => {
    const cluster: Cluster = {
      service,
      spiffeId: spiffeId(mesh.name, service),
      tls: mtlsOf(mesh, service) !== 'DISABLE',
      endpoints: endpoints
        .filter((e) => e.service === service && e.healthy && e.inboundPort)
        .map((e) => ({ instanceId: e.instanceId, version: e.version, host: '127.0.0.1', port: e.inboundPort! })),
    };
    const protocol = mesh.services[service]?.protocol;
    if (protocol && protocol !== 'http') cluster.protocol = protocol;
    policyFields(cluster, mesh.policies?.[service]);
    return cluster;
  });
  for (const [name, ext] of Object.entries(mesh.external ?? {})) {
    const url = new URL(ext.url);
    const tls = url.protocol === 'https:';
    const cluster: Cluster = {
      service: name,
      spiffeId: '',
      tls,
      external: true,
      endpoints: [{ instanceId: `${name}-external`, version: '', host: url.hostname, port: Number(url.port) || (tls ? 443 : 80) }],
    };
    policyFields(cluster, mesh.policies?.[name]);
    clusters.push(cluster);
  }
  return clusters;
}

/** The AuthorizationPolicies selecting `service`, with devmesh's `services` shorthand turned into principals. */
export function authorizationFor(mesh: MeshFile, service: string): AuthorizationPolicy[] {
  const principal = (svc: string) => spiffeId(mesh.name, svc).replace(/^spiffe:\/\//, '');
  return (mesh.authorization ?? [])
    .filter((p) => p.service === undefined || p.service === service)
    .map((p: AuthorizationPolicySpec): AuthorizationPolicy => ({
      name: p.name,
      action: p.action,
      rules:
        p.rules === undefined
          ? null
          : p.rules.map((rule) => ({
              ...(rule.from
                ? {
                    from: rule.from.map(({ source: s }) => {
                      const principals = [...(s.principals ?? []), ...(s.services ?? []).map(principal)];
                      const notPrincipals = [...(s.notPrincipals ?? []), ...(s.notServices ?? []).map(principal)];
                      return {
                        ...(s.principals || s.services ? { principals } : {}),
                        ...(s.notPrincipals || s.notServices ? { notPrincipals } : {}),
                        ...(s.namespaces ? { namespaces: s.namespaces } : {}),
                        ...(s.notNamespaces ? { notNamespaces: s.notNamespaces } : {}),
                      };
                    }),
                  }
                : {}),
              ...(rule.to ? { to: rule.to.map(({ operation }) => stripUndefined(operation)) } : {}),
              ...(rule.when ? { when: rule.when.map((c) => stripUndefined(c)) } : {}),
            })),
    }));
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

export function buildSidecarConfig(mesh: MeshFile, workload: WorkloadIdentity, tls: TlsMaterial, appPort: number, clusters: Cluster[]): SidecarConfig {
  const svc = mesh.services[workload.service];
  const upstreams = svc?.upstreams ?? [];
  const protocol: AppProtocol | undefined = svc?.protocol && svc.protocol !== 'http' ? svc.protocol : undefined;
  const authorization = authorizationFor(mesh, workload.service);
  const outbound = upstreams.map((up) => ({ service: up, port: 0, routes: routesFor(mesh, up) }));
  return {
    mesh: mesh.name,
    ...(mesh.trustDomainAliases?.length ? { trustDomainAliases: mesh.trustDomainAliases } : {}),
    workload,
    tls,
    inbound: {
      port: 0,
      appPort,
      mtls: mtlsOf(mesh, workload.service),
      ...(protocol ? { protocol } : {}),
      ...(authorization.length > 0 ? { authorization } : {}),
    },
    outbound,
    clusters: reachableClusters(outbound, clusters),
    ...tracingOf(mesh),
  };
}

/**
 * The clusters a sidecar's outbound listeners can reach (their services, and every destination and mirror
 * of their routes): the sidecar looks up nothing else, so nothing else is sent. As an Istio Sidecar
 * resource's egress hosts scope what istiod pushes. It keeps a sidecar's config unchanged when an endpoint
 * it cannot reach comes or goes, which makes that version a reconfirm instead of a whole config to parse
 * and rebuild (a 30-service chain's `up` sent each sidecar about 11 whole configs; docs/traffic.md).
 */
function reachableClusters(outbound: SidecarConfig['outbound'], clusters: Cluster[]): Cluster[] {
  const reachable = new Set<string>();
  for (const listener of outbound) {
    reachable.add(listener.service);
    for (const rule of listener.routes) {
      for (const d of rule.destinations) reachable.add(d.service);
      if (rule.mirror) reachable.add(rule.mirror.service);
    }
  }
  return clusters.filter((c) => reachable.has(c.service));
}

function tracingOf(mesh: MeshFile): Pick<SidecarConfig, 'tracing'> {
  const sampling = mesh.tracing?.sampling;
  return sampling === undefined || sampling >= DEVMESH_TRACE_SAMPLING_PERCENT ? {} : { tracing: { samplingPercent: sampling } };
}

/** An ingress gateway: one outbound listener on the requested port, entering the mesh at `service`. */
export function buildGatewayConfig(mesh: MeshFile, service: string, port: number, tls: TlsMaterial, clusters: Cluster[]): SidecarConfig {
  const outbound = [{ service, port, routes: routesFor(mesh, service) }];
  return {
    mesh: mesh.name,
    workload: { service: 'ingress', version: '', instanceId: `ingress-${service}` },
    tls,
    outbound,
    clusters: reachableClusters(outbound, clusters),
    ...tracingOf(mesh),
  };
}
