// Translates the mesh (file + what is running) into the snapshot each sidecar gets: the proxy protocol's
// SidecarConfig. Pure functions, so what a sidecar will be told can be tested without running anything.
import { spiffeId, type Cluster, type MtlsMode, type SidecarConfig, type TlsMaterial, type WorkloadIdentity } from '../../proxy/protocol.js';
import { effectiveMtls, routesFor } from '../config/mesh-model.js';
import type { MeshFile } from '../config/mesh-schema.js';

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

export function buildClusters(mesh: MeshFile, endpoints: readonly EndpointView[]): Cluster[] {
  return Object.keys(mesh.services).map((service) => ({
    service,
    spiffeId: spiffeId(mesh.name, service),
    tls: mtlsOf(mesh, service) !== 'DISABLE',
    endpoints: endpoints
      .filter((e) => e.service === service && e.healthy && e.inboundPort)
      .map((e) => ({ instanceId: e.instanceId, version: e.version, host: '127.0.0.1', port: e.inboundPort! })),
  }));
}

export function buildSidecarConfig(mesh: MeshFile, workload: WorkloadIdentity, tls: TlsMaterial, appPort: number, clusters: Cluster[]): SidecarConfig {
  const upstreams = mesh.services[workload.service]?.upstreams ?? [];
  return {
    mesh: mesh.name,
    workload,
    tls,
    inbound: { port: 0, appPort, mtls: mtlsOf(mesh, workload.service) },
    outbound: upstreams.map((up) => ({ service: up, port: 0, routes: routesFor(mesh, up) })),
    clusters,
  };
}

/** An ingress gateway: one outbound listener on the requested port, entering the mesh at `service`. */
export function buildGatewayConfig(mesh: MeshFile, service: string, port: number, tls: TlsMaterial, clusters: Cluster[]): SidecarConfig {
  return {
    mesh: mesh.name,
    workload: { service: 'ingress', version: '', instanceId: `ingress-${service}` },
    tls,
    outbound: [{ service, port, routes: routesFor(mesh, service) }],
    clusters,
  };
}
