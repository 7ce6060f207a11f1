// The Linkerd fields the importer reads (linkerd.ts, annotations.ts), per kind: the shared unknown-field
// check (../known-fields.ts) reports any other field of a resource as not mapped. Field names as in
// linkerd/linkerd2's CRDs (charts/linkerd-crds/templates/policy/*.yaml, serviceprofile.yaml); HTTPRoutes
// (policy.linkerd.io and gateway.networking.k8s.io) read the Gateway API schema.
import { HTTP_ROUTE_KNOWN } from '../gateway-api/known-fields.js';
import type { KnownFields, KnownKinds } from '../known-fields.js';

const CONDITION: { [field: string]: KnownFields } = { method: '*', pathRegex: '*' };
CONDITION.all = [CONDITION];
CONDITION.any = [CONDITION];
CONDITION.not = CONDITION;

const LABEL_SELECTOR: KnownFields = { matchLabels: '*', matchExpressions: [{ key: '*', operator: '*', values: '*' }] };
const REF: KnownFields = { group: '*', kind: '*', name: '*', namespace: '*' };

export const LINKERD_KNOWN: KnownKinds = {
  ServiceProfile: {
    root: ['spec'],
    fields: {
      routes: [{ name: '*', condition: CONDITION, isRetryable: '*', timeout: '*', responseClasses: '*' }],
      retryBudget: { retryRatio: '*', minRetriesPerSecond: '*', ttl: '*' },
      dstOverrides: [{ authority: '*', weight: '*' }],
      opaquePorts: '*',
    },
  },
  HTTPRoute: { root: ['spec'], fields: HTTP_ROUTE_KNOWN },
  Server: { root: ['spec'], fields: { podSelector: LABEL_SELECTOR, selector: LABEL_SELECTOR, port: '*', proxyProtocol: '*', accessPolicy: '*' } },
  ServerAuthorization: {
    root: ['spec'],
    fields: {
      server: { name: '*', selector: { matchLabels: '*' } },
      client: { unauthenticated: '*', networks: '*', meshTLS: { serviceAccounts: [{ name: '*', namespace: '*' }], identities: '*' } },
    },
  },
  AuthorizationPolicy: { root: ['spec'], fields: { targetRef: REF, requiredAuthenticationRefs: [REF] } },
  MeshTLSAuthentication: { root: ['spec'], fields: { identities: '*', identityRefs: [REF] } },
  NetworkAuthentication: { root: ['spec'], fields: { networks: '*' } },
  // A Kubernetes Service is read for its annotations only: its spec is the cluster's, not mesh policy.
  Service: { root: ['spec'], fields: '*' },
};
