// The Consul config entry fields the importer reads (consul.ts), per kind: the shared unknown-field check
// (../known-fields.ts) reports any other field of an entry as not mapped. Keys compare as the importer
// reads them, lower case without underscores (CamelCase HCL/JSON, snake_case JSON and camelCase CRDs
// alike). Field names as in hashicorp/consul's api/config_entry_*.go.
import type { KnownFields, KnownKinds } from '../known-fields.js';

export function consulKnownKey(key: string): string {
  return key === '*' ? key : key.replace(/_/g, '').toLowerCase();
}

const HEADER_OPS: KnownFields = { add: '*', set: '*', remove: '*' };
// CreateIndex and ModifyIndex: what `consul config read` adds; Consul's bookkeeping, not policy.
const COMMON = { kind: '*', name: '*', namespace: '*', partition: '*', meta: '*', createIndex: '*', modifyIndex: '*' } as const;
const MATCH_VALUE: KnownFields = { name: '*', present: '*', exact: '*', prefix: '*', suffix: '*', regex: '*', invert: '*' };

const RESOLVER: KnownFields = {
  ...COMMON,
  subsets: { '*': { filter: '*', onlyPassing: '*' } },
  defaultSubset: '*',
  connectTimeout: '*',
  // Policy and hash policies are reported together ("hash policies are not applied locally").
  loadBalancer: { policy: '*', hashPolicies: '*' },
  failover: '*',
  redirect: '*',
};
const SPLITTER: KnownFields = {
  ...COMMON,
  splits: [{ weight: '*', service: '*', serviceSubset: '*', requestHeaders: HEADER_OPS, responseHeaders: HEADER_OPS }],
};
const ROUTER: KnownFields = {
  ...COMMON,
  routes: [
    {
      match: { http: { pathExact: '*', pathPrefix: '*', pathRegex: '*', methods: '*', header: [MATCH_VALUE], queryParam: [MATCH_VALUE] } },
      destination: {
        service: '*', serviceSubset: '*', prefixRewrite: '*', requestTimeout: '*', idleTimeout: '*', namespace: '*', partition: '*',
        retryOnConnectFailure: '*', retryOnStatusCodes: '*', retryOn: '*', numRetries: '*', requestHeaders: HEADER_OPS, responseHeaders: HEADER_OPS,
      },
    },
  ],
};
const INTENTIONS: KnownFields = {
  ...COMMON,
  destination: { name: '*' },
  sources: [
    {
      name: '*', action: '*', namespace: '*', partition: '*', peer: '*', samenessGroup: '*',
      permissions: [{ action: '*', http: { pathExact: '*', pathPrefix: '*', pathRegex: '*', methods: '*', header: '*' } }],
      type: '*', description: '*', precedence: '*', legacyId: '*', legacyMeta: '*', legacyCreateTime: '*', legacyUpdateTime: '*',
    },
  ],
};
const SERVICE_DEFAULTS: KnownFields = {
  ...COMMON,
  protocol: '*',
  mutualTLSMode: '*',
  upstreamConfig: {
    overrides: [
      {
        name: '*',
        limits: { maxConnections: '*', maxPendingRequests: '*', maxConcurrentRequests: '*' },
        passiveHealthCheck: { maxFailures: '*', interval: '*', baseEjectionTime: '*', maxEjectionPercent: '*' },
      },
    ],
    defaults: '*',
  },
};
const PROXY_DEFAULTS: KnownFields = { ...COMMON, mutualTLSMode: '*', config: '*', mode: '*' };

/** Each kind twice: the config entry (HCL, JSON: the entry is the root) and its consul-k8s CRD (under spec). */
export const CONSUL_KNOWN: KnownKinds = {
  'service-resolver': { root: [], fields: RESOLVER },
  'service-splitter': { root: [], fields: SPLITTER },
  'service-router': { root: [], fields: ROUTER },
  'service-intentions': { root: [], fields: INTENTIONS },
  'service-defaults': { root: [], fields: SERVICE_DEFAULTS },
  'proxy-defaults': { root: [], fields: PROXY_DEFAULTS },
  ServiceResolver: { root: ['spec'], fields: RESOLVER },
  ServiceSplitter: { root: ['spec'], fields: SPLITTER },
  ServiceRouter: { root: ['spec'], fields: ROUTER },
  ServiceIntentions: { root: ['spec'], fields: INTENTIONS },
  ServiceDefaults: { root: ['spec'], fields: SERVICE_DEFAULTS },
  ProxyDefaults: { root: ['spec'], fields: PROXY_DEFAULTS },
};
