// Turns a docker-compose file into a devmesh.yaml: one mesh service per compose service (image or build),
// its port, environment (both forms, plus env_file), volumes, depends_on as upstreams (start order), and an
// HTTP healthcheck as `health`. Whatever has no devmesh equivalent goes into a report, line by line, so
// nothing is dropped silently.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { Document, parse } from 'yaml';
import { z } from 'zod';

const StrOrList = z.union([z.string(), z.array(z.string())]);
const EnvForm = z.union([z.array(z.string()), z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))]);

const ComposeService = z
  .object({
    image: z.string().optional(),
    build: z
      .union([
        z.string(),
        z.object({ context: z.string().optional(), dockerfile: z.string().optional(), args: EnvForm.optional(), target: z.string().optional() }).loose(),
      ])
      .optional(),
    ports: z.array(z.union([z.string(), z.number(), z.object({ target: z.number(), published: z.union([z.number(), z.string()]).optional(), protocol: z.string().optional(), host_ip: z.string().optional() }).loose()])).optional(),
    expose: z.array(z.union([z.string(), z.number()])).optional(),
    environment: EnvForm.optional(),
    env_file: z.union([z.string(), z.array(z.union([z.string(), z.object({ path: z.string(), required: z.boolean().optional() })]))]).optional(),
    volumes: z.array(z.union([z.string(), z.object({ type: z.string().optional(), source: z.string().optional(), target: z.string(), read_only: z.boolean().optional() }).loose()])).optional(),
    depends_on: z.union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string().optional() }).loose())]).optional(),
    healthcheck: z.object({ test: StrOrList.optional(), disable: z.boolean().optional() }).loose().optional(),
    command: StrOrList.optional(),
    deploy: z.object({ replicas: z.number().int().optional() }).loose().optional(),
  })
  .loose();

const ComposeFile = z
  .object({
    name: z.string().optional(),
    services: z.record(z.string(), ComposeService.nullable()),
  })
  .loose();

const CARRIED = new Set(['image', 'build', 'command', 'ports', 'expose', 'environment', 'env_file', 'volumes', 'depends_on', 'healthcheck', 'deploy']);
/** Keys whose absence of an equivalent needs no word: devmesh does this its own way. */
const SILENT = new Set(['container_name', 'restart']);
/** Images that speak something other than HTTP: their sidecar passes TCP through. */
const TCP_IMAGES = /(^|\/)(postgres|postgis|mysql|mariadb|redis|valkey|mongo|memcached|rabbitmq|nats|kafka|zookeeper|cassandra|mssql)(:|$|-)/;

export interface ComposeImport {
  /** The devmesh.yaml text. */
  yaml: string;
  /** What could not be carried over, one line each, prefixed by the service it concerns. */
  report: string[];
  services: string[];
}

function dnsLabel(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'service';
}

/** KEY=VALUE lines of an env file: comments, blank lines, `export `, and quoted values as compose reads them. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim().replace(/^export\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, '');
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

/** "curl -f http://localhost:8080/healthz || exit 1" → "/healthz"; null when the check is not an HTTP GET. */
export function httpHealthPath(test: string | string[] | undefined): string | null {
  if (test === undefined) return null;
  const words = Array.isArray(test) ? test : ['CMD-SHELL', test];
  if (words[0] === 'NONE') return null;
  const command = (words[0] === 'CMD' || words[0] === 'CMD-SHELL' ? words.slice(1) : words).join(' ');
  if (!/\b(curl|wget)\b/.test(command)) return null;
  const url = /https?:\/\/(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::\d+)?(\/[^\s'"|&;]*)?/.exec(command);
  return url ? url[1] || '/' : null;
}

interface PortSpec {
  target: number;
  published: number | null;
  protocol: string;
}

function parsePort(p: string | number | { target: number; published?: number | string | undefined; protocol?: string | undefined }): PortSpec | null {
  if (typeof p === 'number') return { target: p, published: null, protocol: 'tcp' };
  if (typeof p === 'object') return { target: p.target, published: p.published === undefined ? null : Number(String(p.published).split('-')[0]), protocol: p.protocol ?? 'tcp' };
  const [spec, protocol = 'tcp'] = p.split('/');
  const parts = spec!.split(':');
  const target = Number(parts[parts.length - 1]!.split('-')[0]);
  const published = parts.length >= 2 ? Number(parts[parts.length - 2]!.split('-')[0]) : null;
  if (!Number.isInteger(target)) return null;
  // An explicit 0 ("127.0.0.1:0:80") asks for any free port: an ingress on port 0 does the same.
  return { target, published: published !== null && Number.isInteger(published) && published >= 0 ? published : null, protocol };
}

export function composeToMesh(text: string, opts: { composeFile: string; outFile: string; name?: string | undefined }): ComposeImport {
  const composeDir = dirname(resolve(opts.composeFile));
  const outDir = dirname(resolve(opts.outFile));
  const file = ComposeFile.parse(parse(text));
  const report: string[] = [];
  const note = (service: string, message: string) => report.push(`${service}: ${message}`);
  // Paths in the compose file are relative to it; in devmesh.yaml, relative to the mesh file.
  const rebase = (p: string) => {
    const abs = isAbsolute(p) ? p : resolve(composeDir, p);
    const rel = relative(outDir, abs) || '.';
    return isAbsolute(rel) ? abs : rel.startsWith('.') ? rel : `./${rel}`;
  };

  const names = new Map<string, string>();
  for (const name of Object.keys(file.services)) {
    const label = dnsLabel(name);
    names.set(name, label);
    if (label !== name) note(name, `renamed to "${label}" (devmesh service names are DNS labels)`);
  }

  const ingress: { port: number; service: string }[] = [];
  const services: Record<string, Record<string, unknown>> = {};
  for (const [composeName, raw] of Object.entries(file.services)) {
    const name = names.get(composeName)!;
    const svc = raw ?? {};
    const out: Record<string, unknown> = {};

    if (svc.build !== undefined) {
      const b = typeof svc.build === 'string' ? { context: svc.build } : svc.build;
      const build: Record<string, unknown> = { context: rebase(b.context ?? '.') };
      if (b.dockerfile) build.dockerfile = b.dockerfile;
      if (b.args) {
        const args = Array.isArray(b.args) ? Object.fromEntries(b.args.map((a) => [a.split('=')[0], a.split('=').slice(1).join('=')])) : b.args;
        build.args = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== null).map(([k, v]) => [k, String(v)]));
      }
      if ('target' in b && b.target) note(composeName, `build target "${b.target}" not carried over (the whole Dockerfile is built)`);
      out.build = build;
      if (svc.image) note(composeName, `image "${svc.image}" is only the tag compose gives the build; devmesh tags its builds itself`);
    } else if (svc.image) {
      out.image = svc.image;
    } else {
      note(composeName, 'has neither image nor build: left out');
      continue;
    }
    // command replaces the image's CMD in both: the string form is split into words by devmesh as by
    // compose (no shell), the list form is kept as a list.
    if (svc.command !== undefined && (Array.isArray(svc.command) ? svc.command.length > 0 : svc.command.trim() !== '')) {
      out.command = svc.command;
      const words = Array.isArray(svc.command) ? svc.command : [svc.command];
      if (words.some((w) => /\$\{?[A-Za-z_]/.test(w))) note(composeName, `command uses \${…} interpolation, which devmesh does not do: the text is kept as is`);
    }
    if (svc.image && TCP_IMAGES.test(svc.image)) {
      out.protocol = 'tcp';
      note(composeName, `${svc.image} does not speak HTTP: marked protocol tcp (mTLS, no HTTP routes or retries)`);
    }

    const ports = (svc.ports ?? []).map(parsePort);
    const first = ports.find((p): p is PortSpec => p !== null && p.protocol === 'tcp');
    if (first) {
      out.port = first.target;
      if (first.published !== null) ingress.push({ port: first.published, service: name });
    } else if (svc.expose?.length) {
      out.port = Number(String(svc.expose[0]).split('/')[0]);
    } else {
      note(composeName, 'no port in ports or expose: the app is told PORT; add `port:` if the image listens on a fixed port');
    }
    for (const p of ports.filter((x) => x !== first)) {
      note(composeName, p ? `port ${p.published ?? ''}${p.published ? ':' : ''}${p.target}/${p.protocol} not carried over (one port per service)` : 'an unreadable ports entry was skipped');
    }

    const env: Record<string, string> = {};
    const envFiles = svc.env_file === undefined ? [] : Array.isArray(svc.env_file) ? svc.env_file : [svc.env_file];
    for (const f of envFiles) {
      const path = typeof f === 'string' ? f : f.path;
      const full = resolve(composeDir, path);
      if (!existsSync(full)) {
        if (typeof f === 'string' || f.required !== false) note(composeName, `env_file ${path} not found: its variables are missing`);
        continue;
      }
      Object.assign(env, parseEnvFile(readFileSync(full, 'utf8')));
    }
    const fromHost: string[] = [];
    if (Array.isArray(svc.environment)) {
      for (const item of svc.environment) {
        const eq = item.indexOf('=');
        if (eq < 0) fromHost.push(item);
        else env[item.slice(0, eq)] = item.slice(eq + 1);
      }
    } else if (svc.environment) {
      for (const [k, v] of Object.entries(svc.environment)) {
        if (v === null) fromHost.push(k);
        else env[k] = String(v);
      }
    }
    if (fromHost.length) note(composeName, `${fromHost.join(', ')} take their value from the shell in compose: set them under env`);
    const interpolated = Object.entries(env).filter(([, v]) => /\$\{?[A-Za-z_]/.test(v)).map(([k]) => k);
    if (interpolated.length) note(composeName, `${interpolated.join(', ')} use \${…} interpolation, which devmesh does not do: the text is kept as is`);
    const deps = svc.depends_on === undefined ? [] : Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on);
    for (const dep of deps) {
      const host = new RegExp(`(^|[/@:])${dep.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(:\\d+|/|$)`);
      const uses = Object.entries(env).filter(([, v]) => host.test(v)).map(([k]) => k);
      if (uses.length) note(composeName, `${uses.join(', ')} name the compose host "${dep}": in devmesh the app reaches it through ${dnsLabel(dep).toUpperCase().replaceAll('-', '_')}_URL (its sidecar)`);
    }
    if (Object.keys(env).length) out.env = env;

    const volumes: string[] = [];
    for (const v of svc.volumes ?? []) {
      if (typeof v === 'string') {
        const [host, ...rest] = v.split(':');
        if (rest.length === 0) {
          note(composeName, `anonymous volume ${v} not carried over`);
          continue;
        }
        volumes.push(/^[./~]/.test(host!) ? [rebase(host!), ...rest].join(':') : v);
      } else if ((v.type ?? 'volume') === 'bind' && v.source) {
        volumes.push(`${rebase(v.source)}:${v.target}${v.read_only ? ':ro' : ''}`);
      } else if ((v.type ?? 'volume') === 'volume' && v.source) {
        volumes.push(`${v.source}:${v.target}${v.read_only ? ':ro' : ''}`);
      } else {
        note(composeName, `${v.type ?? 'volume'} mount at ${v.target} not carried over`);
      }
    }
    if (volumes.length) out.volumes = volumes;

    if (deps.length) out.upstreams = deps.map((d) => names.get(d) ?? dnsLabel(d));
    if (svc.depends_on && !Array.isArray(svc.depends_on)) {
      // Compose waits for health only when asked to; so does devmesh (dependsOn), else upstreams only order the start.
      const healthy = Object.entries(svc.depends_on).filter(([, cond]) => cond.condition === 'service_healthy').map(([dep]) => names.get(dep) ?? dnsLabel(dep));
      if (healthy.length) out.dependsOn = healthy;
      for (const [dep, cond] of Object.entries(svc.depends_on)) {
        if (cond.condition === 'service_completed_successfully') note(composeName, `depends_on ${dep}: service_completed_successfully has no equivalent (devmesh runs long-lived services); kept as an upstream`);
      }
    }

    if (svc.healthcheck && !svc.healthcheck.disable) {
      const path = httpHealthPath(svc.healthcheck.test);
      if (path) out.health = path;
      else if (svc.healthcheck.test) {
        const t = Array.isArray(svc.healthcheck.test) ? svc.healthcheck.test.join(' ') : svc.healthcheck.test;
        note(composeName, `healthcheck "${t}" is not an HTTP check: not carried over (devmesh uses the image's own HEALTHCHECK, else the port)`);
      }
    }
    if (svc.deploy?.replicas) out.replicas = svc.deploy.replicas;
    const ignored = Object.keys(svc).filter((k) => !CARRIED.has(k) && !SILENT.has(k));
    if (ignored.length) note(composeName, `not carried over: ${ignored.join(', ')}`);
    services[name] = out;
  }
  for (const key of Object.keys(file).filter((k) => k !== 'services' && k !== 'name' && k !== 'version')) {
    report.push(`top level: ${key} not carried over${key === 'volumes' ? ' (named volumes are created by the engine on first use)' : ''}`);
  }

  const name = dnsLabel(opts.name ?? file.name ?? basename(composeDir));
  const mesh: Record<string, unknown> = { name, mtls: 'STRICT' };
  if (ingress.length) mesh.ingress = ingress;
  mesh.services = services;
  const doc = new Document(mesh);
  doc.commentBefore = ` Written by \`devmesh init --from ${relative(outDir, resolve(opts.composeFile)) || basename(opts.composeFile)}\`.\n Compose ports became ingress ports; depends_on became upstreams (<NAME>_URL, and start order), and dependsOn where it waits for service_healthy.`;
  return { yaml: doc.toString({ lineWidth: 0 }), report, services: Object.keys(services) };
}
