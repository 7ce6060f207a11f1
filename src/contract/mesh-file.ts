// The mesh file (devmesh.yaml) and the policy files it includes, as written: what the UI's forms read and
// edit. Plain types that import nothing, so the renderer can use them. They are the zod schema's input
// type (src/config/mesh-schema.ts), checked both ways at compile time: a field added, removed or retyped
// on one side and not the other fails the build. Field names follow Istio (VirtualService for routes,
// DestinationRule for policies, AuthorizationPolicy, PeerAuthentication).

/** Istio StringMatch: exactly one of exact, prefix, regex (RE2). */
export type StringMatchSpec = { exact: string } | { prefix: string } | { regex: string };

/** A header or query condition; {} means "present" (Istio). */
export type HeaderMatchSpec = StringMatchSpec | Record<string, never>;

/** Conditions that must all hold (AND); a rule's match blocks OR together. */
export interface HttpMatchSpec {
  name?: string | undefined;
  uri?: StringMatchSpec | undefined;
  method?: StringMatchSpec | undefined;
  authority?: StringMatchSpec | undefined;
  headers?: Record<string, HeaderMatchSpec> | undefined;
  withoutHeaders?: Record<string, HeaderMatchSpec> | undefined;
  queryParams?: Record<string, HeaderMatchSpec> | undefined;
  /** The calling workload: app is the calling service, version its version key. */
  sourceLabels?: { app?: string | undefined; version?: string | undefined } | undefined;
}

export interface DestinationSpec {
  /** Destination service; defaults to the service the rule is keyed by. */
  host?: string | undefined;
  /** A version key of the destination service. */
  subset?: string | undefined;
  port?: { number: number } | undefined;
}

export interface HeaderOperationsSpec {
  set?: Record<string, string> | undefined;
  add?: Record<string, string> | undefined;
  remove?: string[] | undefined;
}

export interface HeadersSpec {
  request?: HeaderOperationsSpec | undefined;
  response?: HeaderOperationsSpec | undefined;
}

export interface HttpRouteDestinationSpec {
  destination: DestinationSpec;
  weight?: number | undefined;
  headers?: HeadersSpec | undefined;
}

/** Durations are written as "500ms", "2s", "1m", "1h". */
export type DurationText = string;

export interface PercentSpec {
  value: number;
}

/** Istio HTTPRetry; no retries block means Istio's default (2 retries on connection errors and 503). */
export interface HttpRetrySpec {
  attempts: number;
  perTryTimeout?: DurationText | undefined;
  /** Comma-separated conditions (5xx, gateway-error, connect-failure, …) or status codes. */
  retryOn?: string | undefined;
  retryRemoteLocalities?: boolean | undefined;
}

/** Fault injection; a rule with a fault has its retries and timeout turned off (Istio). */
export interface HttpFaultSpec {
  delay?: { fixedDelay: DurationText; percentage?: PercentSpec | undefined } | undefined;
  abort?: { httpStatus?: number | undefined; grpcStatus?: string | undefined; percentage?: PercentSpec | undefined } | undefined;
}

export interface HttpRedirectSpec {
  uri?: string | undefined;
  /**
   * Istio's HTTPRedirect.prefixRewrite, instead of uri: replaces the prefix the rule matched (the whole
   * path for an exact or regex match) and keeps the rest of the path and the query.
   */
  prefixRewrite?: string | undefined;
  authority?: string | undefined;
  port?: number | undefined;
  /**
   * Istio's HTTPRedirect.derivePort, instead of port: FROM_PROTOCOL_DEFAULT gives the scheme's own port,
   * FROM_REQUEST_PORT the port the request came to. Neither: the request's port is kept unless the rule
   * sets authority or port, or changes the scheme of a request on its scheme's default port (Envoy).
   */
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT' | undefined;
  scheme?: 'http' | 'https' | undefined;
  redirectCode?: number | undefined;
}

/** One VirtualService http rule: exactly one of route, redirect, directResponse. */
export interface HttpRouteSpec {
  name?: string | undefined;
  match?: HttpMatchSpec[] | undefined;
  route?: HttpRouteDestinationSpec[] | undefined;
  redirect?: HttpRedirectSpec | undefined;
  directResponse?: { status: number; body?: { string: string } | undefined } | undefined;
  rewrite?: { uri?: string | undefined; authority?: string | undefined } | undefined;
  headers?: HeadersSpec | undefined;
  mirror?: DestinationSpec | undefined;
  mirrorPercentage?: PercentSpec | undefined;
  fault?: HttpFaultSpec | undefined;
  retries?: HttpRetrySpec | undefined;
  timeout?: DurationText | undefined;
}

export type SimpleLoadBalancer = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH' | 'UNSPECIFIED';

export interface LoadBalancerSpec {
  simple?: SimpleLoadBalancer | undefined;
  /** Exactly one hash key. */
  consistentHash?:
    | {
        httpHeaderName?: string | undefined;
        httpCookie?: { name: string; path?: string | undefined; ttl?: DurationText | undefined } | undefined;
        useSourceIp?: boolean | undefined;
        httpQueryParameterName?: string | undefined;
      }
    | undefined;
}

/** DestinationRule connectionPool: the circuit breaker's limits. */
export interface ConnectionPoolSpec {
  tcp?: { maxConnections?: number | undefined; connectTimeout?: DurationText | undefined } | undefined;
  http?:
    | {
        http1MaxPendingRequests?: number | undefined;
        http2MaxRequests?: number | undefined;
        maxRequestsPerConnection?: number | undefined;
        maxRetries?: number | undefined;
        idleTimeout?: DurationText | undefined;
      }
    | undefined;
}

/** DestinationRule outlierDetection; omitted fields take Istio's defaults. */
export interface OutlierDetectionSpec {
  consecutive5xxErrors?: number | undefined;
  consecutiveGatewayErrors?: number | undefined;
  interval?: DurationText | undefined;
  baseEjectionTime?: DurationText | undefined;
  maxEjectionPercent?: number | undefined;
  minHealthPercent?: number | undefined;
}

/** Linkerd-style retry budget; omitted fields take Linkerd's defaults. */
export interface RetryBudgetSpec {
  retryRatio?: number | undefined;
  minRetriesPerSecond?: number | undefined;
  ttl?: DurationText | undefined;
}

export interface TrafficPolicyFieldsSpec {
  loadBalancer?: LoadBalancerSpec | undefined;
  connectionPool?: ConnectionPoolSpec | undefined;
  outlierDetection?: OutlierDetectionSpec | undefined;
  retryBudget?: RetryBudgetSpec | undefined;
}

/** DestinationRule trafficPolicy for calls to a service, with per-version overrides. */
export interface TrafficPolicySpec extends TrafficPolicyFieldsSpec {
  subsets?: Record<string, TrafficPolicyFieldsSpec> | undefined;
}

type StringList = string[] | undefined;

export interface AuthorizationRuleSpec {
  from?:
    | {
        source: {
          principals?: StringList;
          notPrincipals?: StringList;
          namespaces?: StringList;
          notNamespaces?: StringList;
          /** Calling services (devmesh shorthand for their principals). */
          services?: StringList;
          notServices?: StringList;
        };
      }[]
    | undefined;
  to?:
    | {
        operation: {
          methods?: StringList;
          notMethods?: StringList;
          paths?: StringList;
          notPaths?: StringList;
          ports?: StringList;
          notPorts?: StringList;
          hosts?: StringList;
          notHosts?: StringList;
        };
      }[]
    | undefined;
  when?: { key: string; values?: StringList; notValues?: StringList }[] | undefined;
}

export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

/** Istio AuthorizationPolicy: `rules: [{}]` allows all; no rules (ALLOW) allows nothing. */
export interface AuthorizationPolicySpec {
  name: string;
  /** The service it applies to; omitted: every service. */
  service?: string | undefined;
  /** Omitted: ALLOW. */
  action?: AuthorizationAction | undefined;
  rules?: AuthorizationRuleSpec[] | undefined;
}

export type MtlsModeSpec = 'STRICT' | 'PERMISSIVE' | 'DISABLE';
type PeerAuthenticationMode = 'UNSET' | MtlsModeSpec;

/** PeerAuthentication: a mode, or { mode, portLevelMtls } keyed by the app port. UNSET inherits. */
export type MtlsSettingSpec =
  | MtlsModeSpec
  | { mode?: PeerAuthenticationMode | undefined; portLevelMtls?: Record<string, { mode: PeerAuthenticationMode }> | undefined };

interface WorkloadSpec {
  /**
   * A string is a command line, split as a shell would and run without one; a list is the program and its
   * arguments as they are ($NAME and ${NAME} inside an item are replaced from the app's environment).
   */
  run?: string | string[] | undefined;
  image?: string | undefined;
  build?: { context: string; dockerfile?: string | undefined; args?: Record<string, string> | undefined } | undefined;
  command?: string | string[] | undefined;
  cwd?: string | undefined;
  env?: Record<string, string | number | boolean> | undefined;
  volumes?: string[] | undefined;
  replicas?: number | undefined;
}

export type VersionSpec = WorkloadSpec;

export interface ServiceSpec extends WorkloadSpec {
  port?: number | undefined;
  protocol?: 'http' | 'http2' | 'grpc' | 'tcp' | undefined;
  upstreams?: string[] | undefined;
  dependsOn?: string[] | undefined;
  health?: string | undefined;
  mtls?: MtlsSettingSpec | undefined;
  versions?: Record<string, VersionSpec> | undefined;
  /**
   * Watch mode: paths or globs relative to the mesh file's folder whose change restarts the service's
   * instances one at a time; { paths, ignore } leaves some out. Process services only.
   */
  watch?: string[] | { paths: string[]; ignore?: string[] | undefined } | undefined;
}

export interface IngressSpec {
  /** 127.0.0.1 port; 0 picks a free one. */
  port: number;
  service: string;
}

/** A destination outside the mesh (Istio ServiceEntry). */
export interface ExternalSpec {
  url: string;
}

/** The sections a policy file may hold, as the mesh file may. */
export interface PolicySectionsSpec {
  /** VirtualService http rules keyed by destination service; first match wins. */
  routes?: Record<string, HttpRouteSpec[]> | undefined;
  policies?: Record<string, TrafficPolicySpec> | undefined;
  authorization?: AuthorizationPolicySpec[] | undefined;
  serviceMtls?: Record<string, MtlsSettingSpec> | undefined;
  external?: Record<string, ExternalSpec> | undefined;
  /** Percent of new traces recorded; omitted: every request. */
  tracing?: { sampling: number } | undefined;
}

/** A file listed under `include:` (what `devmesh import` writes). */
export interface PolicyFileSpec extends PolicySectionsSpec {
  $schema?: string | undefined;
  mtls?: MtlsModeSpec | undefined;
}

export interface MeshFileSpec extends PolicySectionsSpec {
  $schema?: string | undefined;
  name: string;
  trustDomainAliases?: string[] | undefined;
  /** Omitted: STRICT. */
  mtls?: MtlsModeSpec | undefined;
  include?: string[] | undefined;
  /** Omitted: sidecar (one proxy process per instance); shared: one proxy process for every process instance. */
  dataPlane?: 'sidecar' | 'shared' | undefined;
  ingress?: IngressSpec[] | undefined;
  services: Record<string, ServiceSpec>;
}
