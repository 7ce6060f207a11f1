// The Istio fields the importer reads (istio.ts, virtual-service.ts), per kind: the shared unknown-field
// check (../known-fields.ts) reports any other field of a resource as not mapped. Field names as in
// Istio's API (networking/v1, security/v1, telemetry/v1; istio/api, mirrored in istio/istio's
// manifests/charts/base/files/crd-all.gen.yaml). A field the importer reports itself is listed too, so
// this is the whole of what the importer knows.
import type { KnownFields, KnownKinds } from '../known-fields.js';

const STRING_MATCH: KnownFields = { exact: '*', prefix: '*', regex: '*' };
const DESTINATION: KnownFields = { host: '*', subset: '*', port: { number: '*' } };
const HEADER_OPS: KnownFields = { set: '*', add: '*', remove: '*' };
const HEADERS: KnownFields = { request: HEADER_OPS, response: HEADER_OPS };
const PERCENT: KnownFields = { value: '*' };

const HTTP_MATCH: KnownFields = {
  name: '*', uri: STRING_MATCH, method: STRING_MATCH, authority: STRING_MATCH, scheme: STRING_MATCH,
  headers: { '*': STRING_MATCH }, withoutHeaders: { '*': STRING_MATCH }, queryParams: { '*': STRING_MATCH },
  sourceLabels: '*', port: '*', gateways: '*', ignoreUriCase: '*', sourceNamespace: '*', statPrefix: '*',
};

const HTTP_ROUTE: KnownFields = {
  name: '*',
  match: [HTTP_MATCH],
  route: [{ destination: DESTINATION, weight: '*', headers: HEADERS }],
  redirect: { uri: '*', authority: '*', port: '*', derivePort: '*', scheme: '*', redirectCode: '*' },
  directResponse: { status: '*', body: { string: '*', bytes: '*' } },
  delegate: { name: '*', namespace: '*' },
  rewrite: { uri: '*', authority: '*' },
  timeout: '*',
  retries: { attempts: '*', perTryTimeout: '*', retryOn: '*', retryRemoteLocalities: '*' },
  fault: { delay: { fixedDelay: '*', percentage: PERCENT, percent: '*' }, abort: { httpStatus: '*', grpcStatus: '*', percentage: PERCENT } },
  mirror: DESTINATION,
  mirrorPercentage: PERCENT,
  mirrorPercent: '*',
  mirrors: [{ destination: DESTINATION, percentage: PERCENT }],
  headers: HEADERS,
  corsPolicy: '*',
};

const TRAFFIC_POLICY: KnownFields = {
  loadBalancer: {
    simple: '*',
    consistentHash: { httpHeaderName: '*', httpCookie: { name: '*', path: '*', ttl: '*' }, useSourceIp: '*', httpQueryParameterName: '*', minimumRingSize: '*', ringHash: '*', maglev: '*' },
    localityLbSetting: '*',
    warmupDurationSecs: '*',
  },
  connectionPool: {
    tcp: { maxConnections: '*', connectTimeout: '*', tcpKeepalive: '*' },
    http: { http1MaxPendingRequests: '*', http2MaxRequests: '*', maxRequestsPerConnection: '*', maxRetries: '*', idleTimeout: '*', h2UpgradePolicy: '*', useClientProtocol: '*', maxConcurrentStreams: '*' },
  },
  outlierDetection: {
    consecutive5xxErrors: '*', consecutiveGatewayErrors: '*', consecutiveErrors: '*', maxEjectionPercent: '*', minHealthPercent: '*',
    interval: '*', baseEjectionTime: '*', splitExternalLocalOriginErrors: '*', consecutiveLocalOriginFailures: '*',
  },
  // Reported as a whole (mTLS between sidecars, or TLS origination to an external URL).
  tls: '*',
  portLevelSettings: '*',
};

const SELECTOR: KnownFields = { matchLabels: '*' };

const spec = (fields: KnownFields) => ({ root: ['spec'], fields });

export const ISTIO_KNOWN: KnownKinds = {
  VirtualService: spec({ hosts: '*', gateways: '*', http: [HTTP_ROUTE], tcp: '*', tls: '*', exportTo: '*' }),
  DestinationRule: spec({
    host: '*',
    trafficPolicy: TRAFFIC_POLICY,
    subsets: [{ name: '*', labels: '*', trafficPolicy: TRAFFIC_POLICY }],
    exportTo: '*',
    workloadSelector: '*',
  }),
  ServiceEntry: spec({
    hosts: '*',
    ports: [{ number: '*', name: '*', protocol: '*', targetPort: '*' }],
    resolution: '*',
    location: '*',
    endpoints: [{ address: '*', ports: '*' }],
    addresses: '*',
    exportTo: '*',
  }),
  Gateway: spec({ selector: '*', servers: '*' }),
  PeerAuthentication: spec({ selector: SELECTOR, mtls: { mode: '*' }, portLevelMtls: { '*': { mode: '*' } } }),
  AuthorizationPolicy: spec({
    selector: SELECTOR,
    action: '*',
    provider: '*',
    rules: [
      {
        from: [
          {
            source: {
              principals: '*', notPrincipals: '*', namespaces: '*', notNamespaces: '*', serviceAccounts: '*',
              requestPrincipals: '*', notRequestPrincipals: '*', ipBlocks: '*', notIpBlocks: '*',
              remoteIpBlocks: '*', notRemoteIpBlocks: '*', trustDomains: '*', notTrustDomains: '*',
            },
          },
        ],
        to: [{ operation: { methods: '*', notMethods: '*', paths: '*', notPaths: '*', ports: '*', notPorts: '*', hosts: '*', notHosts: '*' } }],
        when: [{ key: '*', values: '*', notValues: '*' }],
      },
    ],
  }),
  Telemetry: spec({
    selector: '*',
    targetRef: '*',
    targetRefs: '*',
    tracing: [{ match: { mode: '*' }, randomSamplingPercentage: '*', disableSpanReporting: '*', providers: '*', customTags: '*' }],
    metrics: '*',
    accessLogging: '*',
  }),
};
