// The Gateway API fields the importer reads (gateway-api.ts), per kind: the shared unknown-field check
// (../known-fields.ts) reports any other field of a resource as not mapped. Field names as in
// kubernetes-sigs/gateway-api's apis/v1 (httproute_types.go, grpcroute_types.go, shared_types.go).
// Linkerd's HTTPRoutes (policy.linkerd.io) are the same schema and use these too.
import type { KnownFields, KnownKinds } from '../known-fields.js';

const NAME_VALUE: KnownFields = { type: '*', name: '*', value: '*' };
const HEADER_MODIFIER: KnownFields = { set: [NAME_VALUE], add: [NAME_VALUE], remove: '*' };
const PATH_MODIFIER: KnownFields = { type: '*', replaceFullPath: '*', replacePrefixMatch: '*' };
const BACKEND: KnownFields = { group: '*', kind: '*', name: '*', namespace: '*', port: '*' };
const FILTER: KnownFields = {
  type: '*',
  requestHeaderModifier: HEADER_MODIFIER,
  responseHeaderModifier: HEADER_MODIFIER,
  requestRedirect: { scheme: '*', hostname: '*', path: PATH_MODIFIER, port: '*', statusCode: '*' },
  urlRewrite: { hostname: '*', path: PATH_MODIFIER },
  requestMirror: { backendRef: BACKEND, percent: '*', fraction: { numerator: '*', denominator: '*' } },
  // Filters of other types are reported as a whole ("not supported by the local sidecar").
  extensionRef: '*',
  cors: '*',
  externalAuth: '*',
};
const PARENT_REF: KnownFields = { group: '*', kind: '*', name: '*', namespace: '*', sectionName: '*', port: '*' };

const rule = (match: KnownFields): KnownFields => ({
  name: '*',
  matches: [match],
  filters: [FILTER],
  backendRefs: [{ ...BACKEND, weight: '*', filters: [FILTER] }],
  timeouts: { request: '*', backendRequest: '*' },
  retry: { attempts: '*', codes: '*', backoff: '*' },
  sessionPersistence: '*',
});

const HTTP_MATCH: KnownFields = { path: { type: '*', value: '*' }, headers: [NAME_VALUE], queryParams: [NAME_VALUE], method: '*' };
const GRPC_MATCH: KnownFields = { method: { type: '*', service: '*', method: '*' }, headers: [NAME_VALUE] };

export const HTTP_ROUTE_KNOWN: KnownFields = { parentRefs: [PARENT_REF], hostnames: '*', rules: [rule(HTTP_MATCH)] };

export const GATEWAY_API_KNOWN: KnownKinds = {
  HTTPRoute: { root: ['spec'], fields: HTTP_ROUTE_KNOWN },
  GRPCRoute: { root: ['spec'], fields: { parentRefs: [PARENT_REF], hostnames: '*', rules: [rule(GRPC_MATCH)] } },
  // The listeners are reported as a whole: the mesh file's ingress plays the Gateway's role.
  Gateway: { root: ['spec'], fields: { gatewayClassName: '*', listeners: '*' } },
};
