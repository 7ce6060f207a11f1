// The schema of devmesh.yaml. Field names follow Istio's VirtualService (routes), so a mesh user
// recognises them. It is the single source of truth: the CLI's `validate`, the running mesh's file
// watcher and the published JSON Schema (schema/devmesh.schema.json) all come from it.
import { z } from 'zod';

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

export const MtlsModeSchema = z.enum(['STRICT', 'PERMISSIVE', 'DISABLE']).describe('mTLS mode, as in Istio PeerAuthentication.');

function validRegex(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

const StringMatch = z
  .union([
    z.strictObject({ exact: z.string() }),
    z.strictObject({ prefix: z.string() }),
    z.strictObject({ regex: z.string().refine(validRegex, 'is not a valid regular expression') }),
  ])
  .describe('Istio StringMatch: exactly one of exact, prefix, regex.');

const HttpMatchRequest = z
  .strictObject({
    name: z.string().optional(),
    uri: StringMatch.optional(),
    method: StringMatch.optional(),
    headers: z.record(z.string(), StringMatch).optional(),
  })
  .describe('Conditions that must all hold (AND). Several match blocks OR together.');

const Destination = z.strictObject({
  host: Name.optional().describe('Destination service; defaults to the service the rule is keyed by.'),
  subset: Name.optional().describe('A version key of the destination service.'),
});

const HttpRouteDestination = z.strictObject({
  destination: Destination,
  weight: z.number().int().min(0).max(100).optional(),
});

const RETRY_ON = new Set([
  '5xx', 'gateway-error', 'reset', 'connect-failure', 'refused-stream', 'retriable-4xx', 'retriable-status-codes',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);

const HttpRetry = z.strictObject({
  attempts: z.number().int().min(0).max(20),
  perTryTimeout: Duration.optional(),
  retryOn: z
    .string()
    .refine(
      (s) => s.split(',').every((c) => RETRY_ON.has(c.trim()) || /^\d{3}$/.test(c.trim())),
      `must be a comma-separated list of ${[...RETRY_ON].join(', ')} or HTTP status codes`,
    )
    .optional(),
});

const HttpRoute = z.strictObject({
  name: z.string().optional(),
  match: z.array(HttpMatchRequest).optional(),
  route: z.array(HttpRouteDestination).min(1, 'needs at least one destination'),
  retries: HttpRetry.optional(),
  timeout: Duration.optional(),
});

const Env = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not a valid environment variable name'), z.union([z.string(), z.number(), z.boolean()]).transform(String));

const Workload = {
  run: z.string().min(1).optional().describe('Command line; run through /bin/sh so quoting works as in a shell.'),
  cwd: z.string().optional().describe('Working directory, relative to the mesh file.'),
  env: Env.optional(),
  replicas: z.number().int().min(1).max(16).optional(),
};

const Version = z.strictObject(Workload);

const Service = z.strictObject({
  ...Workload,
  upstreams: z.array(Name).optional().describe('Services this one calls: each gets <NAME>_URL in the environment.'),
  health: z.string().startsWith('/', 'must be an HTTP path starting with /').optional(),
  mtls: MtlsModeSchema.optional().describe('Inbound mTLS mode of this service; defaults to the mesh mode.'),
  versions: z.record(Name, Version).optional().describe('Each version is a workload labelled version=<key>, a subset of the service.'),
});

const Ingress = z.strictObject({
  port: z.number().int().min(0).max(65535).describe('127.0.0.1 port; 0 picks a free one.'),
  service: Name,
});

export const MeshSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: Name.describe('Mesh name: the SPIFFE trust domain.'),
    mtls: MtlsModeSchema.default('STRICT'),
    ingress: z.array(Ingress).default([]),
    services: z.record(Name, Service).refine((s) => Object.keys(s).length > 0, 'must list at least one service'),
    routes: z.record(Name, z.array(HttpRoute)).default({}).describe('VirtualService http rules keyed by destination service; first match wins.'),
  })
  .superRefine((mesh, ctx) => {
    const names = new Set(Object.keys(mesh.services));
    for (const [name, svc] of Object.entries(mesh.services)) {
      const hasVersions = svc.versions !== undefined && Object.keys(svc.versions).length > 0;
      if (!hasVersions && svc.run === undefined) {
        ctx.addIssue({ code: 'custom', path: ['services', name], message: `service ${name} needs "run" or "versions"` });
      }
      for (const [v, ver] of Object.entries(svc.versions ?? {})) {
        if (ver.run === undefined && svc.run === undefined) {
          ctx.addIssue({ code: 'custom', path: ['services', name, 'versions', v], message: `version ${v} needs "run" (or the service's own "run")` });
        }
      }
      (svc.upstreams ?? []).forEach((u, i) => {
        if (!names.has(u)) ctx.addIssue({ code: 'custom', path: ['services', name, 'upstreams', i], message: `unknown service "${u}"` });
      });
    }
    mesh.ingress.forEach((ing, i) => {
      if (!names.has(ing.service)) ctx.addIssue({ code: 'custom', path: ['ingress', i, 'service'], message: `unknown service "${ing.service}"` });
    });
    for (const [target, rules] of Object.entries(mesh.routes)) {
      if (!names.has(target)) {
        ctx.addIssue({ code: 'custom', path: ['routes', target], message: `routes for unknown service "${target}"` });
        continue;
      }
      rules.forEach((rule, r) => {
        rule.route.forEach((dest, d) => {
          const host = dest.destination.host ?? target;
          const svc = mesh.services[host];
          if (!svc) {
            ctx.addIssue({ code: 'custom', path: ['routes', target, r, 'route', d, 'destination', 'host'], message: `unknown service "${host}"` });
            return;
          }
          const subset = dest.destination.subset;
          if (subset !== undefined && !(svc.versions && subset in svc.versions)) {
            ctx.addIssue({
              code: 'custom',
              path: ['routes', target, r, 'route', d, 'destination', 'subset'],
              message: `service ${host} has no version "${subset}" (versions: ${Object.keys(svc.versions ?? {}).join(', ') || 'none'})`,
            });
          }
        });
        if (rule.route.length > 1) {
          const sum = rule.route.reduce((acc, d) => acc + (d.weight ?? 0), 0);
          if (sum !== 100) ctx.addIssue({ code: 'custom', path: ['routes', target, r, 'route'], message: `weights must add up to 100 (they add up to ${sum})` });
        }
      });
    }
  });

export type MeshFile = z.infer<typeof MeshSchema>;
export type ServiceSpec = MeshFile['services'][string];
export type HttpRouteSpec = MeshFile['routes'][string][number];
