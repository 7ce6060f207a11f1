// The schema of devmesh.yaml. Field names follow Istio's VirtualService (routes), so a mesh user
// recognises them. It is the single source of truth: the CLI's `validate`, the running mesh's file
// watcher and the published JSON Schema (schema/devmesh.schema.json) all come from it.
import { z } from 'zod';
import type { MeshFileSpec, PolicyFileSpec } from '../contract/mesh-file.js';
import { isRetryOnToken, RETRY_ON_CONDITIONS } from '../mesh-semantics/retry-on.js';
import { re2Problem } from '../mesh-semantics/regex.js';
import { argvProblem, CommandLineError, parseCommandLine } from '../supervisor/command-line.js';
import { watchPatternProblem } from './watch-paths.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "2s", "1.5m", "1h" → milliseconds. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`invalid duration "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

const Duration = z
  .string()
  .regex(DURATION, 'must be a duration such as 500ms, 2s or 1m')
  .describe('A duration: a number followed by ms, s, m or h.');

const Name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lower-case letters, digits and "-"')
  .max(63);

/** A SPIFFE trust domain name (SPIFFE ID spec §2.1: lower-case letters, digits, ".", "-" and "_"). */
const TrustDomain = z
  .string()
  .regex(/^[a-z0-9._-]+$/, 'must be a SPIFFE trust domain: lower-case letters, digits, ".", "-" and "_"')
  .max(255);

export const MtlsModeSchema = z.enum(['STRICT', 'PERMISSIVE', 'DISABLE']).describe('mTLS mode, as in Istio PeerAuthentication.');

const STRING_MATCH_OPTIONS = [
  z.strictObject({ exact: z.string() }),
  z.strictObject({ prefix: z.string() }),
  z.strictObject({
    regex: z
      .string()
      .superRefine((pattern, ctx) => {
        const problem = re2Problem(pattern);
        if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('An RE2 regular expression (as Envoy and Istio), matched against the whole value.'),
  }),
] as const;

const StringMatch = z.union(STRING_MATCH_OPTIONS).describe('Istio StringMatch: exactly one of exact, prefix, regex (RE2, full match).');

// Istio: a header condition with no value ({}) checks that the header is present. One flat union (not a
// union of unions), so a regex RE2 refuses is reported at its own field with RE2's reason.
const HeaderMatch = z.union([...STRING_MATCH_OPTIONS, z.strictObject({})]);

const HttpMatchRequest = z
  .strictObject({
    name: z.string().optional(),
    uri: StringMatch.optional(),
    method: StringMatch.optional(),
    authority: StringMatch.optional(),
    headers: z.record(z.string(), HeaderMatch).optional(),
    withoutHeaders: z.record(z.string(), HeaderMatch).optional().describe('Headers that must not match (absent, or a different value).'),
    queryParams: z.record(z.string(), HeaderMatch).optional(),
    sourceLabels: z
      .strictObject({ app: Name.optional(), version: z.string().optional() })
      .optional()
      .describe('The calling workload: app is the calling service, version its version key.'),
  })
  .describe('Conditions that must all hold (AND). Several match blocks OR together.');

const Destination = z.strictObject({
  host: Name.optional().describe('Destination service; defaults to the service the rule is keyed by.'),
  subset: Name.optional().describe('A version key of the destination service.'),
  port: z.strictObject({ number: z.number().int().min(1).max(65535) }).optional(),
});

const HeaderOperations = z.strictObject({
  set: z.record(z.string(), z.string()).optional(),
  add: z.record(z.string(), z.string()).optional(),
  remove: z.array(z.string()).optional(),
});

const Headers = z.strictObject({ request: HeaderOperations.optional(), response: HeaderOperations.optional() });

const HttpRouteDestination = z.strictObject({
  destination: Destination,
  weight: z.number().int().min(0).max(100).optional(),
  headers: Headers.optional(),
});

const HttpRetry = z.strictObject({
  attempts: z.number().int().min(0).max(20),
  perTryTimeout: Duration.optional(),
  retryOn: z
    .string()
    .refine(
      (s) => s.split(',').every((c) => isRetryOnToken(c.trim())),
      `must be a comma-separated list of ${[...RETRY_ON_CONDITIONS].join(', ')} or HTTP status codes`,
    )
    .optional(),
  retryRemoteLocalities: z.boolean().optional(),
});

const Percent = z.strictObject({ value: z.number().min(0).max(100) });

const HttpFault = z
  .strictObject({
    delay: z.strictObject({ fixedDelay: Duration, percentage: Percent.optional() }).optional(),
    abort: z
      .strictObject({
        httpStatus: z.number().int().min(200).max(599).optional(),
        grpcStatus: z.string().optional(),
        percentage: Percent.optional(),
      })
      .refine((a) => (a.httpStatus === undefined) !== (a.grpcStatus === undefined), 'needs exactly one of httpStatus, grpcStatus')
      .optional(),
  })
  .describe('Fault injection. As in Istio, a route with a fault has its retries and timeout turned off.');

const HttpRoute = z
  .strictObject({
    name: z.string().optional(),
    match: z.array(HttpMatchRequest).optional(),
    route: z.array(HttpRouteDestination).min(1, 'needs at least one destination').optional(),
    redirect: z
      .strictObject({
        uri: z.string().optional(),
        authority: z.string().optional(),
        port: z.number().int().min(1).max(65535).optional(),
        derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
        prefixRewrite: z.string().optional(),
        scheme: z.enum(['http', 'https']).optional(),
        redirectCode: z.number().int().min(300).max(399).optional(),
      })
      .refine((r) => r.port === undefined || r.derivePort === undefined, { message: 'set port or derivePort, not both (Istio: one of)' })
      .refine((r) => r.uri === undefined || r.prefixRewrite === undefined, { message: 'set uri or prefixRewrite, not both' })
      .optional(),
    directResponse: z
      .strictObject({ status: z.number().int().min(200).max(599), body: z.strictObject({ string: z.string() }).optional() })
      .optional(),
    rewrite: z.strictObject({ uri: z.string().optional(), authority: z.string().optional() }).optional(),
    headers: Headers.optional(),
    mirror: Destination.optional(),
    mirrorPercentage: Percent.optional(),
    fault: HttpFault.optional(),
    retries: HttpRetry.optional(),
    timeout: Duration.optional(),
  })
  .superRefine((r, ctx) => {
    const actions = [r.route, r.redirect, r.directResponse].filter((a) => a !== undefined).length;
    if (actions !== 1) ctx.addIssue({ code: 'custom', message: 'needs exactly one of route, redirect, directResponse' });
  });

const LoadBalancer = z.strictObject({
  simple: z.enum(['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'PASSTHROUGH', 'UNSPECIFIED']).optional(),
  consistentHash: z
    .strictObject({
      httpHeaderName: z.string().optional(),
      httpCookie: z.strictObject({ name: z.string(), path: z.string().optional(), ttl: Duration.optional() }).optional(),
      useSourceIp: z.boolean().optional(),
      httpQueryParameterName: z.string().optional(),
    })
    .refine((c) => Object.keys(c).length === 1, 'needs exactly one hash key: httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName')
    .optional(),
});

const ConnectionPool = z.strictObject({
  tcp: z.strictObject({ maxConnections: z.number().int().min(1).optional(), connectTimeout: Duration.optional() }).optional(),
  http: z
    .strictObject({
      http1MaxPendingRequests: z.number().int().min(1).optional(),
      http2MaxRequests: z.number().int().min(1).optional(),
      maxRequestsPerConnection: z.number().int().min(0).optional(),
      maxRetries: z.number().int().min(0).optional(),
      idleTimeout: Duration.optional(),
    })
    .optional(),
});

const OutlierDetection = z.strictObject({
  consecutive5xxErrors: z.number().int().min(0).optional(),
  consecutiveGatewayErrors: z.number().int().min(0).optional(),
  interval: Duration.optional(),
  baseEjectionTime: Duration.optional(),
  maxEjectionPercent: z.number().int().min(0).max(100).optional(),
  minHealthPercent: z.number().int().min(0).max(100).optional(),
});

const RetryBudget = z
  .strictObject({
    retryRatio: z.number().min(0).max(1).optional(),
    minRetriesPerSecond: z.number().int().min(0).optional(),
    ttl: Duration.optional(),
  })
  .describe('Linkerd-style retry budget: retries may add at most retryRatio of the requests (plus minRetriesPerSecond), over ttl.');

const TrafficPolicyFields = {
  loadBalancer: LoadBalancer.optional(),
  connectionPool: ConnectionPool.optional(),
  outlierDetection: OutlierDetection.optional(),
  retryBudget: RetryBudget.optional(),
};

const TrafficPolicy = z
  .strictObject({
    ...TrafficPolicyFields,
    subsets: z.record(Name, z.strictObject(TrafficPolicyFields)).optional().describe('Per-version overrides, like DestinationRule subsets.'),
  })
  .describe("DestinationRule trafficPolicy for calls to this service.");

const StringList = z.array(z.string()).optional();

const AuthorizationRule = z.strictObject({
  from: z
    .array(
      z.strictObject({
        source: z.strictObject({
          principals: StringList,
          notPrincipals: StringList,
          namespaces: StringList,
          notNamespaces: StringList,
          services: z.array(Name).optional().describe('Calling services (devmesh shorthand for their principals).'),
          notServices: z.array(Name).optional(),
        }),
      }),
    )
    .optional(),
  to: z
    .array(
      z.strictObject({
        operation: z.strictObject({
          methods: StringList,
          notMethods: StringList,
          paths: StringList,
          notPaths: StringList,
          ports: StringList,
          notPorts: StringList,
          hosts: StringList,
          notHosts: StringList,
        }),
      }),
    )
    .optional(),
  when: z.array(z.strictObject({ key: z.string(), values: StringList, notValues: StringList })).optional(),
});

const AuthorizationPolicy = z
  .strictObject({
    name: z.string().min(1),
    service: Name.optional().describe('The service the policy applies to (its inbound); omitted: every service.'),
    action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).default('ALLOW'),
    rules: z.array(AuthorizationRule).optional().describe('rules: [{}] allows all; no rules (ALLOW) allows nothing.'),
  })
  .describe('Istio AuthorizationPolicy: CUSTOM, then DENY, then ALLOW; with no ALLOW policy, everything is allowed.');

const PortLevelMtls = z.record(z.string().regex(/^\d+$/, 'must be a port number'), z.strictObject({ mode: z.enum(['UNSET', 'STRICT', 'PERMISSIVE', 'DISABLE']) }));

const MtlsSetting = z
  .union([
    MtlsModeSchema,
    z.strictObject({ mode: z.enum(['UNSET', 'STRICT', 'PERMISSIVE', 'DISABLE']).optional(), portLevelMtls: PortLevelMtls.optional() }),
  ])
  .describe('PeerAuthentication for this service: a mode, or { mode, portLevelMtls } keyed by the app port. UNSET inherits.');

const Env = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not a valid environment variable name'), z.union([z.string(), z.number(), z.boolean()]).transform(String));

const Build = z.strictObject({
  context: z.string().min(1).describe('Build context folder, relative to the mesh file.'),
  dockerfile: z.string().optional(),
  args: z.record(z.string(), z.string()).optional(),
});

const CommandLineText = z
  .string()
  .min(1)
  .superRefine((line, ctx) => {
    try {
      parseCommandLine(line);
    } catch (err) {
      if (!(err instanceof CommandLineError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  });

const CommandArgv = z
  .array(z.string())
  .min(1, 'needs at least the program')
  .superRefine((argv, ctx) => {
    if (argv[0] === '') ctx.addIssue({ code: 'custom', path: [0], message: 'the program (the first word) is empty' });
    argv.forEach((arg, i) => {
      const problem = argvProblem(arg);
      if (problem !== null) ctx.addIssue({ code: 'custom', path: [i], message: problem });
    });
  });

const Workload = {
  run: z
    .union([CommandLineText, CommandArgv])
    .optional()
    .describe(
      'The command. A string is split into words as a shell would (quotes, backslashes, $NAME, leading NAME=value) and started without a shell; pipes, &&, ; and redirections are refused: write sh -c \'…\' for those. A list is the program and its arguments as they are: no splitting, quotes or globbing; only $NAME and ${NAME} are replaced inside an item from the app\'s environment (PORT included; $$ is a literal $), and an item stays one argument.',
    ),
  image: z.string().min(1).optional().describe('Container image, run through the Docker Engine API.'),
  build: Build.optional().describe('Build the container image from a Dockerfile.'),
  command: z
    .union([z.string().min(1), z.array(z.string()).min(1)])
    .optional()
    .describe("With image or build: replaces the image's CMD (its ENTRYPOINT stays), as compose's command does. A string is split into words (quotes group, no shell); a list is used as is."),
  cwd: z.string().optional().describe('Working directory, relative to the mesh file.'),
  env: Env.optional(),
  volumes: z.array(z.string()).optional().describe('Container volumes, host:container[:ro] (host paths relative to the mesh file).'),
  replicas: z.number().int().min(1).max(16).optional(),
};

const Version = z.strictObject(Workload);

const WatchPattern = z
  .string()
  .min(1)
  .superRefine((pattern, ctx) => {
    const problem = watchPatternProblem(pattern);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });

const Service = z.strictObject({
  ...Workload,
  port: z.number().int().min(1).max(65535).optional().describe('Port the app listens on (inside the container for images); processes get a free one in PORT when omitted.'),
  protocol: z.enum(['http', 'http2', 'grpc', 'tcp']).optional().describe('Application protocol; tcp is passed through unparsed.'),
  upstreams: z.array(Name).optional().describe('Services this one calls: each gets <NAME>_URL in the environment. They start first, but are not waited for: a call made before an upstream is ready is held by the sidecar (up to 3 s).'),
  dependsOn: z.array(Name).optional().describe('Services that must be healthy before this one starts (compose depends_on with condition: service_healthy), e.g. a database an app migrates at start.'),
  health: z.string().startsWith('/', 'must be an HTTP path starting with /').optional(),
  mtls: MtlsSetting.optional().describe('Inbound mTLS of this service; defaults to the mesh mode.'),
  versions: z.record(Name, Version).optional().describe('Each version is a workload labelled version=<key>, a subset of the service.'),
  watch: z
    .union([
      z.array(WatchPattern).min(1, 'needs at least one path'),
      z.strictObject({ paths: z.array(WatchPattern).min(1, 'needs at least one path'), ignore: z.array(WatchPattern).optional() }),
    ])
    .optional()
    .describe(
      'Watch mode: files whose change restarts this service\'s instances one at a time, keeping traffic flowing. Paths or globs (*, **, ?, [..], {a,b}) relative to the mesh file\'s folder; a plain path is a file or a whole folder. { paths, ignore } leaves files out. Process services only; `devmesh up --no-watch` turns it off.',
    ),
});

const Ingress = z.strictObject({
  port: z.number().int().min(0).max(65535).describe('127.0.0.1 port; 0 picks a free one.'),
  service: Name,
});

const External = z
  .strictObject({
    url: z.url().describe('Where the external service is, e.g. https://api.example.com or http://127.0.0.1:5432.'),
  })
  .describe('A destination outside the mesh (Istio ServiceEntry): apps call it through their sidecar like an upstream.');

/** The policy sections: allowed in the mesh file and in the policy files it includes. */
const PolicySections = {
  routes: z.record(Name, z.array(HttpRoute)).optional().describe('VirtualService http rules keyed by destination service; first match wins.'),
  policies: z.record(Name, TrafficPolicy).optional().describe('DestinationRule traffic policies keyed by destination service.'),
  authorization: z.array(AuthorizationPolicy).optional().describe('AuthorizationPolicy list.'),
  serviceMtls: z.record(Name, MtlsSetting).optional().describe('PeerAuthentication per service (overrides the service\'s own mtls).'),
  external: z.record(Name, External).optional(),
  tracing: z
    .strictObject({
      sampling: z
        .number()
        .min(0)
        .max(100)
        .describe("Percent of new traces recorded (Istio's randomSamplingPercentage); default 100, every request. A caller's sampled flag in traceparent is kept either way."),
    })
    .optional()
    .describe('Tracing: every request is traced unless sampling says otherwise; metrics count every request regardless. A policy file\'s tracing replaces the mesh file\'s (Istio Telemetry imports here).'),
};

/** A file listed under `include:`: policy only (what `devmesh import` writes). */
export const PolicyFileSchema = z.strictObject({ $schema: z.string().optional(), mtls: MtlsModeSchema.optional(), ...PolicySections });

export const MeshSchema = z.strictObject({
  $schema: z.string().optional(),
  name: Name.describe('Mesh name: the SPIFFE trust domain.'),
  trustDomainAliases: z
    .array(TrustDomain)
    .optional()
    .describe(
      "Other SPIFFE trust domains whose peers are accepted as this mesh's own (Istio meshConfig trustDomainAliases), e.g. while moving from one trust domain to another. Without it only `name` is trusted.",
    ),
  mtls: MtlsModeSchema.default('STRICT'),
  include: z.array(z.string().min(1)).optional().describe('Policy files (relative to this file) merged in; their entries override this file\'s per service.'),
  dataPlane: z
    .enum(['sidecar', 'shared'])
    .default('sidecar')
    .describe(
      'sidecar: one proxy process per instance (a crash affects one instance). shared: one proxy process serves every process instance and ingress, each with its own identity and config (much less memory, faster up; a crash of it affects them all until its restart). Containers keep their own sidecars.',
    ),
  ingress: z.array(Ingress).default([]),
  services: z.record(Name, Service).refine((s) => Object.keys(s).length > 0, 'must list at least one service'),
  ...PolicySections,
});

// The contract's mesh-file types (what the UI edits) are this schema's input, exactly: drift on either
// side is a compile error here. (Identity, not assignability: an extra optional field would still assign.)
type Identical<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export const MESH_FILE_MATCHES_CONTRACT: Identical<z.input<typeof MeshSchema>, MeshFileSpec> = true;
export const POLICY_FILE_MATCHES_CONTRACT: Identical<z.input<typeof PolicyFileSchema>, PolicyFileSpec> = true;

export type MeshFile = z.infer<typeof MeshSchema>;
export type PolicyFile = z.infer<typeof PolicyFileSchema>;
export type ServiceSpec = MeshFile['services'][string];
export type HttpRouteSpec = NonNullable<MeshFile['routes']>[string][number];
export type TrafficPolicySpec = NonNullable<MeshFile['policies']>[string];
export type AuthorizationPolicySpec = NonNullable<MeshFile['authorization']>[number];
export type MtlsSettingSpec = z.infer<typeof MtlsSetting>;
export type MtlsMode = z.infer<typeof MtlsModeSchema>;

export interface SchemaIssue {
  path: (string | number)[];
  message: string;
}

/** Checks that need the whole (merged) mesh: references between services, subsets, weights. */
export function crossCheck(mesh: MeshFile): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });
  const names = new Set(Object.keys(mesh.services));
  const externals = new Set(Object.keys(mesh.external ?? {}));
  for (const [name, svc] of Object.entries(mesh.services)) {
    if (externals.has(name)) add(['external', name], `"${name}" is both a service and an external destination`);
    const kinds = (w: { run?: unknown; image?: string | undefined; build?: unknown }) =>
      [w.run, w.image, w.build].filter((x) => x !== undefined).length;
    const versions = Object.entries(svc.versions ?? {});
    if (kinds(svc) > 1) add(['services', name], `service ${name}: use only one of run, image, build`);
    if (versions.length === 0 && kinds(svc) === 0) add(['services', name], `service ${name} needs "run", "image", "build" or "versions"`);
    // command overrides an image's CMD: it needs an image or a build, its own or (for a version that names
    // no workload kind) the service's.
    const container = (w: { image?: string | undefined; build?: unknown }) => w.image !== undefined || w.build !== undefined;
    const commandHint = 'command overrides the image\'s command: it needs "image" or "build" (a process puts its whole command line in "run")';
    if (svc.command !== undefined && !container(svc)) add(['services', name, 'command'], commandHint);
    for (const [v, ver] of versions) {
      if (kinds(ver) > 1) add(['services', name, 'versions', v], `version ${v}: use only one of run, image, build`);
      if (kinds(ver) === 0 && kinds(svc) === 0) add(['services', name, 'versions', v], `version ${v} needs "run", "image" or "build" (or the service's own)`);
      if (ver.command !== undefined && !(kinds(ver) === 0 ? container(svc) : container(ver))) add(['services', name, 'versions', v, 'command'], commandHint);
    }
    // A restart of a container would run the same image again: watching one would promise a reload it cannot give.
    const workloads = versions.length === 0 ? [svc] : versions.map(([, ver]) => (kinds(ver) === 0 ? svc : ver));
    if (svc.watch !== undefined && workloads.some(container)) {
      add(['services', name, 'watch'], `watch restarts process services (run:); ${name} runs in a container (image or build), and a restart would not rebuild it: rebuild it yourself (devmesh restart ${name} after the build), or run it as a process to watch it`);
    }
    (svc.upstreams ?? []).forEach((u, i) => {
      if (!names.has(u) && !externals.has(u)) add(['services', name, 'upstreams', i], `unknown service "${u}"`);
    });
    (svc.dependsOn ?? []).forEach((d, i) => {
      if (d === name) add(['services', name, 'dependsOn', i], 'a service cannot wait for itself');
      else if (!names.has(d)) add(['services', name, 'dependsOn', i], `unknown service "${d}"${externals.has(d) ? ' (an external destination is not started by devmesh: nothing to wait for)' : ''}`);
    });
  }
  const cycle = dependsOnCycle(mesh.services);
  if (cycle) add(['services', cycle[0]!, 'dependsOn'], `dependsOn cycle ${cycle.join(' → ')}: none of these could ever start`);
  mesh.ingress.forEach((ing, i) => {
    if (!names.has(ing.service)) add(['ingress', i, 'service'], `unknown service "${ing.service}"`);
  });
  const checkDestination = (path: (string | number)[], host: string, subset: string | undefined) => {
    if (externals.has(host)) {
      if (subset !== undefined) add([...path, 'subset'], `external destination ${host} has no versions`);
      return;
    }
    const svc = mesh.services[host];
    if (!svc) return add([...path, 'host'], `unknown service "${host}"`);
    if (subset !== undefined && !(svc.versions && subset in svc.versions)) {
      add([...path, 'subset'], `service ${host} has no version "${subset}" (versions: ${Object.keys(svc.versions ?? {}).join(', ') || 'none'})`);
    }
  };
  for (const [target, rules] of Object.entries(mesh.routes ?? {})) {
    if (!names.has(target) && !externals.has(target)) {
      add(['routes', target], `routes for unknown service "${target}"`);
      continue;
    }
    rules.forEach((rule, r) => {
      (rule.route ?? []).forEach((dest, d) => checkDestination(['routes', target, r, 'route', d, 'destination'], dest.destination.host ?? target, dest.destination.subset));
      if (rule.mirror) checkDestination(['routes', target, r, 'mirror'], rule.mirror.host ?? target, rule.mirror.subset);
      if (rule.route && rule.route.length > 1) {
        const sum = rule.route.reduce((acc, d) => acc + (d.weight ?? 0), 0);
        if (sum !== 100) add(['routes', target, r, 'route'], `weights must add up to 100 (they add up to ${sum})`);
      }
      (rule.match ?? []).forEach((m, i) => {
        if (m.sourceLabels?.app !== undefined && !names.has(m.sourceLabels.app) && m.sourceLabels.app !== 'ingress') {
          add(['routes', target, r, 'match', i, 'sourceLabels', 'app'], `unknown service "${m.sourceLabels.app}"`);
        }
      });
    });
  }
  for (const [target, policy] of Object.entries(mesh.policies ?? {})) {
    if (!names.has(target) && !externals.has(target)) add(['policies', target], `policy for unknown service "${target}"`);
    for (const subset of Object.keys(policy.subsets ?? {})) {
      const svc = mesh.services[target];
      if (svc && !(svc.versions && subset in svc.versions)) add(['policies', target, 'subsets', subset], `service ${target} has no version "${subset}"`);
    }
  }
  (mesh.authorization ?? []).forEach((p, i) => {
    if (p.service !== undefined && !names.has(p.service)) add(['authorization', i, 'service'], `unknown service "${p.service}"`);
    (p.rules ?? []).forEach((rule, r) =>
      (rule.from ?? []).forEach((f, j) =>
        [...(f.source.services ?? []), ...(f.source.notServices ?? [])].forEach((s) => {
          if (!names.has(s) && s !== 'ingress') add(['authorization', i, 'rules', r, 'from', j, 'source'], `unknown service "${s}"`);
        }),
      ),
    );
  });
  for (const name of Object.keys(mesh.serviceMtls ?? {})) {
    if (!names.has(name)) add(['serviceMtls', name], `unknown service "${name}"`);
  }
  return issues;
}

/** The first cycle of dependsOn waits (a → b → a), or null. */
function dependsOnCycle(services: Record<string, { dependsOn?: string[] | undefined }>): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): string[] | null => {
    if (state.get(name) === 'done' || !(name in services)) return null;
    if (state.get(name) === 'visiting') return [...path.slice(path.indexOf(name)), name];
    state.set(name, 'visiting');
    path.push(name);
    for (const d of services[name]?.dependsOn ?? []) {
      if (d === name) continue; // reported on its own
      const found = visit(d);
      if (found) return found;
    }
    path.pop();
    state.set(name, 'done');
    return null;
  };
  for (const name of Object.keys(services)) {
    const found = visit(name);
    if (found) return found;
  }
  return null;
}
