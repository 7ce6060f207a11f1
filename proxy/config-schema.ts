// Validation of a pushed snapshot, before anything is touched: a config is applied whole or not at all,
// and a rejected one gets a reason precise enough to fix the control plane bug behind it
// (e.g. `route catalog[1]: invalid regex "(": ...`).
// zod's v3 API (shipped inside zod 4 as 'zod/v3'): loading it costs an idle sidecar ~3 MB of RSS where
// zod 4's own API costs ~12 MB. Its issues are worded as zod 4 words them (v4Message), so NACK reasons
// read exactly as before.
import { z, type ZodErrorMap, type ZodIssueOptionalMessage } from 'zod/v3';
import { compileFullMatch, type SidecarConfig, type StringMatch } from './protocol/index.js';
import { checkTlsMaterial } from './tls.js';
import { unknownRetryOn } from './outbound/retry.js';

export class ConfigError extends Error {}

/** Marks a record's invalid_type issue, so v4Message can say "record" (zod 4) where zod 3 says "object". */
const RECORD = '\u0000record';
function record<K extends z.ZodString, V extends z.ZodTypeAny>(key: K, value: V) {
  return z.record(key, value, { errorMap: (issue, ctx) => ({ message: issue.code === 'invalid_type' ? RECORD : ctx.defaultError }) });
}

/** zod 4's received-type names for zod 3's. */
function v4Type(t: string): string {
  return t === 'float' || t === 'integer' || t === 'bigint' ? (t === 'bigint' ? 'bigint' : 'number') : t === 'nan' ? 'NaN' : t;
}

/** "'a' | 'b'" (zod 3's enum list) → '"a"|"b"' (zod 4's). */
function v4Options(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v))).join('|');
}

/** A zod 3 issue in zod 4's English wording (zod/v4/locales/en). */
const v4Message: ZodErrorMap = (issue: ZodIssueOptionalMessage, ctx) => {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = String(issue.expected);
      if (expected.startsWith("'")) return { message: `Invalid option: expected one of ${v4Options(expected.split(' | ').map((o) => o.slice(1, -1)))}` };
      const name = ctx.defaultError === RECORD ? 'record' : expected === 'integer' ? 'int' : expected;
      const received = typeof ctx.data === 'number' && (ctx.data === Infinity || ctx.data === -Infinity) ? String(ctx.data) : v4Type(String(issue.received));
      return { message: `Invalid input: expected ${name}, received ${received}` };
    }
    case 'invalid_enum_value':
      return { message: `Invalid option: expected one of ${v4Options(issue.options)}` };
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = `${small ? '>' : '<'}${issue.inclusive ? '=' : ''}${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)}`;
      const what = issue.type === 'string' ? `string to have ${bound} characters` : issue.type === 'array' ? `array to have ${bound} items` : `number to be ${bound}`;
      return { message: `Too ${small ? 'small' : 'big'}: expected ${what}` };
    }
    case 'not_finite':
      // zod 4 refuses ±Infinity as a number at all (every z.number() here is .finite() for that).
      return { message: `Invalid input: expected number, received ${String(ctx.data)}` };
    case 'invalid_union':
      return { message: 'Invalid input' };
    default:
      return { message: ctx.defaultError };
  }
};

const port = z.number().finite().int().min(0).max(65535);
const name = z.string().min(1);

// Loose here (each field optional); "exactly one" is checked below, where the message can be clear.
/** Exactly one of exact, prefix, regex (one RE2 accepts): narrowed to the protocol's StringMatch union. */
const stringMatch: z.ZodType<StringMatch, z.ZodTypeDef, unknown> = z
  .object({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() })
  .superRefine((m, ctx) => {
    const set = (['exact', 'prefix', 'regex'] as const).filter((k) => m[k] !== undefined);
    if (set.length !== 1) ctx.addIssue({ code: 'custom', message: `a string match needs exactly one of exact, prefix, regex (got ${set.join(', ') || 'none'})` });
    else if (m.regex !== undefined) {
      try {
        compileFullMatch(m.regex);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }
  })
  .transform((m): StringMatch => (m.exact !== undefined ? { exact: m.exact } : m.prefix !== undefined ? { prefix: m.prefix } : { regex: m.regex ?? '' }));

const stringMatches = record(z.string().min(1), stringMatch);
const matchBlock = z.object({
  uri: stringMatch.optional(),
  method: stringMatch.optional(),
  authority: stringMatch.optional(),
  headers: stringMatches.optional(),
  withoutHeaders: stringMatches.optional(),
  queryParams: stringMatches.optional(),
  sourceLabels: z.object({ app: z.string().optional(), version: z.string().optional() }).optional(),
});

const headerOps = z.object({
  set: record(z.string().min(1), z.string()).optional(),
  add: record(z.string().min(1), z.string()).optional(),
  remove: z.array(z.string().min(1)).optional(),
});
const headerRewrite = z.object({ request: headerOps.optional(), response: headerOps.optional() });
const percent = z.number().finite().min(0).max(100);

const routeRule = z.object({
  name: z.string().optional(),
  match: z.array(matchBlock),
  destinations: z.array(
    z.object({ service: name, subset: z.string().optional(), weight: z.number().finite().min(0), headers: headerRewrite.optional() }),
  ),
  redirect: z
    .object({
      uri: z.string().optional(),
      authority: z.string().optional(),
      port: port.min(1).optional(),
      derivePort: z.enum(['protocol', 'request']).optional(),
      prefixRewrite: z.string().optional(),
      scheme: z.enum(['http', 'https']).optional(),
      code: z.number().finite().int().min(300).max(399),
    })
    .optional(),
  directResponse: z.object({ status: z.number().finite().int().min(200).max(599), body: z.string().optional() }).optional(),
  rewrite: z.object({ uri: z.string().optional(), authority: z.string().optional() }).optional(),
  headers: headerRewrite.optional(),
  mirror: z.object({ service: name, subset: z.string().optional(), percent }).optional(),
  fault: z
    .object({
      delay: z.object({ fixedDelayMs: z.number().finite().min(0), percent }).optional(),
      abort: z
        .object({ httpStatus: z.number().finite().int().min(200).max(599).optional(), grpcStatus: z.number().finite().int().min(0).max(16).optional(), percent })
        .optional(),
    })
    .optional(),
  retries: z.object({
    attempts: z.number().finite().int().min(0).max(20),
    perTryTimeoutMs: z.number().finite().positive().optional(),
    retryOn: z.array(z.string()),
  }),
  timeoutMs: z.number().finite().min(0).optional(),
});

const trafficPolicy = z.object({
  loadBalancer: z
    .union([
      z.object({ simple: z.enum(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM']) }),
      z.object({
        consistentHash: z.object({
          header: z.string().min(1).optional(),
          cookie: z.object({ name: z.string().min(1), path: z.string().optional(), ttlMs: z.number().finite().min(0).optional() }).optional(),
          sourceIp: z.boolean().optional(),
          queryParam: z.string().min(1).optional(),
        }),
      }),
    ])
    .optional(),
  connectionPool: z
    .object({
      maxConnections: z.number().finite().int().min(1).optional(),
      connectTimeoutMs: z.number().finite().positive().optional(),
      maxPendingRequests: z.number().finite().int().min(1).optional(),
      maxRequests: z.number().finite().int().min(1).optional(),
      maxRequestsPerConnection: z.number().finite().int().min(0).optional(),
      maxRetries: z.number().finite().int().min(0).optional(),
      idleTimeoutMs: z.number().finite().positive().optional(),
    })
    .optional(),
  outlierDetection: z
    .object({
      consecutive5xxErrors: z.number().finite().int().min(0),
      consecutiveGatewayErrors: z.number().finite().int().min(0),
      intervalMs: z.number().finite().positive(),
      baseEjectionTimeMs: z.number().finite().positive(),
      maxEjectionPercent: z.number().finite().min(0).max(100),
      minHealthPercent: z.number().finite().min(0).max(100),
    })
    .optional(),
  retryBudget: z.object({ ratio: z.number().finite().min(0), minPerSecond: z.number().finite().min(0), ttlMs: z.number().finite().positive() }).optional(),
});

const stringList = z.array(z.string()).optional();
const authorizationPolicy = z.object({
  name: name,
  action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']),
  rules: z
    .array(
      z.object({
        from: z
          .array(z.object({ principals: stringList, notPrincipals: stringList, namespaces: stringList, notNamespaces: stringList }))
          .optional(),
        to: z
          .array(
            z.object({
              methods: stringList,
              notMethods: stringList,
              paths: stringList,
              notPaths: stringList,
              ports: stringList,
              notPorts: stringList,
              hosts: stringList,
              notHosts: stringList,
            }),
          )
          .optional(),
        when: z.array(z.object({ key: z.string().min(1), values: stringList, notValues: stringList })).optional(),
      }),
    )
    .nullable(),
});

const appProtocol = z.enum(['http', 'http2', 'grpc', 'tcp']);

const sidecarConfig: z.ZodType<SidecarConfig, z.ZodTypeDef, unknown> = z.object({
  mesh: name,
  trustDomainAliases: z.array(name).optional(),
  workload: z.object({ service: name, version: z.string(), instanceId: name }),
  tls: z.object({ caPem: name, certPem: name, keyPem: name }),
  inbound: z
    .object({
      port,
      appPort: port.min(1),
      mtls: z.enum(['STRICT', 'PERMISSIVE', 'DISABLE']),
      protocol: appProtocol.optional(),
      authorization: z.array(authorizationPolicy).optional(),
    })
    .optional(),
  outbound: z.array(z.object({ service: name, port, routes: z.array(routeRule) })),
  tracing: z.object({ samplingPercent: z.number().finite().min(0).max(100) }).optional(),
  clusters: z.array(
    z.object({
      service: name,
      spiffeId: z.string(),
      tls: z.boolean(),
      endpoints: z.array(z.object({ instanceId: name, version: z.string(), host: name, port: port.min(1) })),
      protocol: appProtocol.optional(),
      policy: trafficPolicy.optional(),
      subsetPolicies: record(z.string(), trafficPolicy).optional(),
      external: z.boolean().optional(),
    }),
  ),
});

/** "outbound.1.routes.0.retries.attempts" → "route catalog[0].retries.attempts", naming what a human wrote. */
function describePath(raw: unknown, path: readonly PropertyKey[]): string {
  const outbound = (raw as { outbound?: Array<{ service?: unknown }> } | null)?.outbound;
  if (path[0] === 'outbound' && typeof path[1] === 'number') {
    const svc = outbound?.[path[1]]?.service;
    const label = typeof svc === 'string' ? svc : `#${path[1]}`;
    if (path[2] === 'routes' && typeof path[3] === 'number') {
      const rest = joinPath(path.slice(4));
      return `route ${label}[${path[3]}]${path[4] === 'match' ? ` ${rest.slice(1)}` : rest}`;
    }
    return `outbound listener ${label}${joinPath(path.slice(2))}`;
  }
  return joinPath(path).replace(/^\./, '') || 'config';
}

function joinPath(path: readonly PropertyKey[]): string {
  return path.map((seg) => (typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`)).join('');
}

/** The validated config, or a ConfigError whose message is the NACK reason. */
export function parseSidecarConfig(raw: unknown): SidecarConfig {
  const parsed = sidecarConfig.safeParse(raw, { errorMap: v4Message });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${describePath(raw, issue.path)}: ${issue.message}`);
  }
  const config = parsed.data;

  const ports = new Map<number, string>();
  const claim = (p: number, who: string): void => {
    if (p === 0) return;
    const other = ports.get(p);
    if (other !== undefined) throw new ConfigError(`${who}: port ${p} is also configured for ${other}`);
    ports.set(p, who);
  };
  if (config.inbound) claim(config.inbound.port, 'inbound listener');

  const services = new Set<string>();
  for (const listener of config.outbound) {
    if (services.has(listener.service)) throw new ConfigError(`outbound listener ${listener.service}: defined twice`);
    services.add(listener.service);
    claim(listener.port, `outbound listener ${listener.service}`);
    listener.routes.forEach((rule, i) => {
      const where = `route ${listener.service}[${i}]${rule.name ? ` (${rule.name})` : ''}`;
      const actions = [rule.destinations.length > 0, rule.redirect !== undefined, rule.directResponse !== undefined].filter(Boolean).length;
      if (actions !== 1) throw new ConfigError(`${where}: needs exactly one of destinations, redirect, directResponse`);
      if (rule.fault?.abort && (rule.fault.abort.httpStatus === undefined) === (rule.fault.abort.grpcStatus === undefined)) {
        throw new ConfigError(`${where}: fault.abort needs exactly one of httpStatus, grpcStatus`);
      }
      const unknown = unknownRetryOn(rule.retries.retryOn);
      if (unknown !== null) throw new ConfigError(`${where}: unknown retryOn condition ${JSON.stringify(unknown)}`);
    });
  }

  const clusters = new Set<string>();
  for (const cluster of config.clusters) {
    if (clusters.has(cluster.service)) throw new ConfigError(`cluster ${cluster.service}: defined twice`);
    clusters.add(cluster.service);
    const lb = cluster.policy?.loadBalancer;
    if (lb && 'consistentHash' in lb && Object.values(lb.consistentHash).filter((v) => v !== undefined && v !== false).length !== 1) {
      throw new ConfigError(`cluster ${cluster.service}: consistentHash needs exactly one of header, cookie, sourceIp, queryParam`);
    }
    if (cluster.tls && !cluster.external && !cluster.spiffeId.startsWith('spiffe://')) {
      throw new ConfigError(`cluster ${cluster.service}: spiffeId ${JSON.stringify(cluster.spiffeId)} is not a spiffe:// URI`);
    }
  }

  try {
    checkTlsMaterial(config.tls);
  } catch (err) {
    throw new ConfigError(`tls: cannot use the certificate material: ${(err as Error).message}`);
  }
  return config;
}
