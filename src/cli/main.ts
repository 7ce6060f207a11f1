// The devmesh command line. `up` runs a mesh in the foreground; `status` and `traces` talk to the mesh
// running from the same folder through its API (found through the run file the mesh wrote).
import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { API, headersFromLines, type ExplainHealth, type ExplainRequest, type ExplainResponse, type SidecarStatus, type StatusResponse, type TraceListResponse } from '../contract/api.js';
import { LocalCa } from '../ca/local-ca.js';
import { loadMeshFile, MeshConfigError } from '../config/load-mesh.js';
import { meshJsonSchema } from '../config/json-schema.js';
import { startHost, type Host } from '../host/host.js';
import { composeToMesh } from '../compose/compose-import.js';
import { DockerEngine, homeHash } from '../containers/docker-engine.js';
import { caDirOf, defaultHome, listOrphanedRuns, listRuns, orphanedRun, type RunFile } from '../control-plane/state-dir.js';
import { signalOrphanedReaper } from '../supervisor/reaper.js';
import { explainRequest, healthLines } from '../control-plane/explain.js';
import { POLICY_USAGE, runPolicyCommand } from './policy-commands.js';
import { UsageError } from './usage-error.js';

const USAGE = `devmesh — a local service mesh with mTLS sidecars, live routing and traces

usage:
  devmesh up [FILE] [--ui-port N] [--grace-period 60s]
                                      run the mesh in FILE (default ./devmesh.yaml) until Ctrl-C. If this
                                      process dies, apps and sidecars keep serving for the grace period
                                      and an \`up\` of FILE within it re-adopts them (0s: no grace)
  devmesh validate [FILE]             check a mesh file; errors as file:line:column: message
  devmesh down [FILE]                 stop the running \`up\` of FILE and remove the mesh's containers
  devmesh init --from COMPOSE [--out F] [--force]
                                      write a devmesh.yaml from a docker-compose file, with a report
  devmesh status [--json] [--file F]  instances of the mesh running from this folder
  devmesh traces [--json] [--service S] [--limit N]
                                      recent traces of that mesh
  devmesh ca export [--out F]         print the mesh root certificate (PEM), to trust it
  devmesh schema                      print the JSON Schema of devmesh.yaml
  devmesh explain METHOD PATH --to SERVICE [--from SERVICE[:VERSION]] [-H 'name: value']... [--file F] [--json]
                                      which route rule that request would match and why; sends nothing.
                                      With the mesh of FILE running: against its applied config, with the
                                      caller's live endpoint health (ejections, requests in flight, breaker)
${POLICY_USAGE}

state lives in $DEVMESH_HOME (default ${defaultHome()})`;

function meshFileArg(positionals: string[]): string {
  return resolve(positionals[0] ?? 'devmesh.yaml');
}

/** "60s", "1m", "500ms", or plain seconds ("60"). */
function gracePeriodArg(value: string | undefined): number | undefined {
  const text = value ?? process.env.DEVMESH_GRACE_PERIOD;
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--grace-period: "${text}" is not a duration (e.g. 60s, 2m, 500ms)`);
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm']);
}

async function up(positionals: string[], values: { 'ui-port'?: string | undefined; 'grace-period'?: string | undefined }): Promise<number> {
  const meshFile = meshFileArg(positionals);
  const uiPort = values['ui-port'] === undefined ? 0 : Number(values['ui-port']);
  if (!Number.isInteger(uiPort) || uiPort < 0 || uiPort > 65535) throw new UsageError(`--ui-port: "${values['ui-port']}" is not a port`);
  const gracePeriodMs = gracePeriodArg(values['grace-period']);
  const started = Date.now();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  let stopping: Promise<void> | null = null;
  let host: Host | null = null;
  const shutdown = (signal: string) => {
    if (stopping) {
      log(`${signal} again: exiting now`);
      process.exit(130);
    }
    log(`${signal}: stopping the mesh`);
    stopping = (host ? host.stop() : Promise.resolve()).then(() => {
      log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));
  log(`devmesh: starting ${meshFile}`);
  host = await startHost({ meshFile, uiPort, log, ...(gracePeriodMs !== undefined ? { gracePeriodMs } : {}) });
  const status = host.controlPlane.status();
  const count = status.services.reduce((n, s) => n + s.instances.length, 0);
  const running = status.services.reduce((n, s) => n + s.instances.filter((i) => i.state === 'running').length, 0);
  log(`UI: ${host.uiUrl}`);
  for (const ing of status.ingress) log(`ingress ${ing.service}: ${ing.url}`);
  log(`ready: ${running}/${count} instances running in ${((Date.now() - started) / 1000).toFixed(1)}s (Ctrl-C stops the mesh)`);
  return new Promise<number>(() => {}); // runs until a signal
}

/**
 * A mesh whose `up` died and whose apps and sidecars wait out the grace period: its reaper tears it down
 * now (and removes the run's files). False when there is no such mesh.
 */
async function downOrphaned(file: string, meshName: string, home: string): Promise<boolean> {
  const orphan = orphanedRun(join(home, 'run'), file);
  const reaperPid = orphan?.run.adoption?.reaperPid;
  if (!orphan || !reaperPid || !signalOrphanedReaper(reaperPid, 'tear-down')) return false;
  const deadline = Date.now() + 15_000;
  while (existsSync(orphan.file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  process.stdout.write(`stopped the apps and sidecars of ${meshName} that were waiting for their control plane (it had died)\n`);
  return true;
}

/** Stops the `up` running this mesh file (through its run file's pid), then removes the mesh's containers. */
async function down(positionals: string[]): Promise<number> {
  const file = meshFileArg(positionals);
  const mesh = loadMeshFile(file);
  const home = defaultHome();
  const run = listRuns(home).find((r) => r.meshFile === file);
  if (run) {
    process.kill(run.pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (listRuns(home).some((r) => r.pid === run.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    process.stdout.write(`stopped devmesh up (pid ${run.pid}) of ${mesh.name}\n`);
  } else if (!(await downOrphaned(file, mesh.name, home))) {
    process.stdout.write(`no devmesh up of ${file} is running\n`);
  }
  const usesContainers = Object.values(mesh.services).some(
    (s) => s.image !== undefined || s.build !== undefined || Object.values(s.versions ?? {}).some((v) => v.image !== undefined || v.build !== undefined),
  );
  const engine = new DockerEngine();
  try {
    await engine.info();
  } catch (err) {
    if (usesContainers) process.stdout.write(`${(err as Error).message}: no containers removed\n`);
    return usesContainers ? 1 : 0;
  }
  const left = await engine.listMeshContainers(mesh.name, homeHash(home));
  const removed = await engine.removeContainers(left.map((c) => c.Id));
  process.stdout.write(`removed ${removed} container${removed === 1 ? '' : 's'} of ${mesh.name}\n`);
  return removed === left.length ? 0 : 1;
}

/** devmesh init --from docker-compose.yml: writes the mesh file and prints what could not be carried over. */
function init(values: { from?: string | undefined; out?: string | undefined; force?: boolean | undefined }): number {
  if (!values.from) throw new UsageError('usage: devmesh init --from docker-compose.yml [--out devmesh.yaml] [--force]');
  const from = resolve(values.from);
  const out = resolve(values.out ?? 'devmesh.yaml');
  if (!existsSync(from)) throw new UsageError(`${from}: no such file`);
  if (existsSync(out) && !values.force) throw new UsageError(`${out} exists (use --force to overwrite)`);
  const result = composeToMesh(readFileSync(from, 'utf8'), { composeFile: from, outFile: out });
  writeFileSync(out, result.yaml);
  process.stdout.write(`wrote ${out}: ${result.services.length} service${result.services.length === 1 ? '' : 's'} (${result.services.join(', ')})\n`);
  try {
    loadMeshFile(out);
  } catch (err) {
    process.stdout.write(`the written file needs a hand before it runs:\n${(err as Error).message}\n`);
  }
  if (result.report.length) process.stdout.write(`not carried over (${result.report.length}):\n${result.report.map((l) => `  - ${l}`).join('\n')}\n`);
  else process.stdout.write('everything was carried over\n');
  return 0;
}

function validate(positionals: string[]): number {
  const file = meshFileArg(positionals);
  const mesh = loadMeshFile(file);
  const count = Object.keys(mesh.services).length;
  process.stdout.write(`${file}: valid (mesh ${mesh.name}, ${count} service${count === 1 ? '' : 's'})\n`);
  return 0;
}

function findRun(file: string | undefined): RunFile {
  const runs = listRuns(defaultHome());
  const cwd = process.cwd();
  const match = file
    ? runs.find((r) => r.meshFile === resolve(file))
    : runs.find((r) => r.cwd === cwd || dirname(r.meshFile) === cwd) ?? (runs.length === 1 ? runs[0] : undefined);
  if (!match) {
    const orphan = listOrphanedRuns(defaultHome()).find((r) => (file ? r.meshFile === resolve(file) : r.cwd === cwd || dirname(r.meshFile) === cwd));
    if (orphan) {
      throw new UsageError(
        `the control plane of ${orphan.mesh} (${orphan.meshFile}) died; its apps and sidecars keep serving for the grace period: \`devmesh up\` re-adopts them, \`devmesh down\` stops them`,
      );
    }
    throw new UsageError(
      runs.length === 0
        ? 'no mesh is running (start one with: devmesh up)'
        : `no mesh runs from ${cwd}; running: ${runs.map((r) => r.meshFile).join(', ')} (use --file)`,
    );
  }
  return match;
}

async function apiGet<T>(run: RunFile, path: string): Promise<T> {
  return apiCall<T>(run, path, {});
}

async function apiPost<T>(run: RunFile, path: string, body: unknown): Promise<T> {
  return apiCall<T>(run, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function apiCall<T>(run: RunFile, path: string, init: RequestInit & { headers?: Record<string, string> }): Promise<T> {
  let res: Response;
  try {
    res = await fetch(run.apiUrl + path, { ...init, headers: { ...init.headers, authorization: `Bearer ${run.token}` } });
  } catch (err) {
    throw new Error(`the mesh ${run.mesh} (pid ${run.pid}) does not answer at ${run.apiUrl}: ${(err as Error).message}`, { cause: err });
  }
  const body = (await res.json()) as unknown;
  if (!res.ok) {
    const err = z.object({ error: z.string() }).safeParse(body);
    throw new Error(`${path}: ${res.status} ${err.success ? err.data.error : ''}`);
  }
  return body as T;
}

async function status(values: { json?: boolean | undefined; file?: string | undefined }): Promise<number> {
  const s = await apiGet<StatusResponse>(findRun(values.file), API.status);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`mesh ${s.mesh}  config v${s.config.version}${s.config.error ? `  (file invalid: ${s.config.error})` : ''}\n`);
  for (const ing of s.ingress) process.stdout.write(`ingress ${ing.service}: ${ing.url}${sidecarRestarts(ing.sidecar)}\n`);
  if (s.otlpEndpoint) {
    // What an app started outside devmesh needs to send its spans (those started by devmesh have it).
    const headers = Object.entries(s.otlpHeaders ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    process.stdout.write(`otlp ${s.otlpEndpoint}  (for apps outside the mesh: OTEL_EXPORTER_OTLP_ENDPOINT=${s.otlpEndpoint} OTEL_EXPORTER_OTLP_HEADERS=${headers})\n`);
  }
  for (const svc of s.services) {
    process.stdout.write(`${svc.name}  mtls ${svc.mtls}\n`);
    for (const i of svc.instances) {
      process.stdout.write(`  ${i.id.padEnd(22)} ${i.state.padEnd(9)} pid ${String(i.pid ?? '-').padEnd(8)} app :${i.appPort}  inbound :${i.inboundPort ?? '-'}  restarts ${i.restarts}${sidecarRestarts(i.sidecar)}\n`);
    }
  }
  return 0;
}

async function traces(values: { json?: boolean | undefined; service?: string | undefined; limit?: string | undefined; file?: string | undefined }): Promise<number> {
  const q = new URLSearchParams();
  if (values.service) q.set('service', values.service);
  if (values.limit) q.set('limit', values.limit);
  const list = await apiGet<TraceListResponse>(findRun(values.file), `${API.traces}?${q}`);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  for (const t of list.traces) {
    process.stdout.write(`${new Date(t.startMs).toISOString()}  ${t.traceId}  ${t.status}  ${t.durationMs.toFixed(1)}ms  ${t.method} ${t.path}  [${t.services.join(' → ')}]\n`);
  }
  return 0;
}

function caExport(values: { out?: string | undefined }): number {
  const ca = LocalCa.loadOrCreate(caDirOf(defaultHome()));
  if (values.out) writeFileSync(values.out, ca.rootPem);
  else process.stdout.write(ca.rootPem);
  return 0;
}

/**
 * With the mesh of the file running, asks it (its applied config, and live endpoint health from the caller's
 * sidecars); otherwise explains from the file and says the health is unavailable.
 */
async function explain(
  positionals: string[],
  values: { to?: string | undefined; from?: string | undefined; header?: string[] | undefined; file?: string | undefined; json?: boolean | undefined },
): Promise<number> {
  const [method, path] = positionals;
  if (!method || !path || !values.to) throw new UsageError("usage: devmesh explain METHOD PATH --to SERVICE [--from SERVICE[:VERSION]] [-H 'name: value']... [--file F]");
  let headers: Record<string, string>;
  try {
    headers = headersFromLines(values.header ?? []);
  } catch (err) {
    throw new UsageError(`-H ${(err as Error).message}`);
  }
  const file = resolve(values.file ?? 'devmesh.yaml');
  const query: ExplainRequest = { to: values.to, ...(values.from ? { from: values.from } : {}), method, path, headers };
  const run = listRuns(defaultHome()).find((r) => r.meshFile === file);
  if (run) {
    const answer = await apiPost<ExplainResponse>(run, API.explain, query);
    if (values.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    else process.stdout.write(`explained by the running mesh ${run.mesh}, config v${answer.configVersion} (its applied configuration)\n${answer.lines.join('\n')}\n`);
    return 0;
  }
  const result = explainRequest(loadMeshFile(file), query);
  const health: ExplainHealth = { available: false, reason: `no mesh is running from ${file}; devmesh up starts one` };
  const lines = [...result.lines, ...healthLines(health)];
  if (values.json) process.stdout.write(`${JSON.stringify({ ruleIndex: result.ruleIndex, rule: result.rule, health, lines }, null, 2)}\n`);
  else process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  // import, export and diff parse their own options (policy-commands.ts).
  if (argv[0] === 'import' || argv[0] === 'export' || argv[0] === 'diff') return runPolicyCommand(argv);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      service: { type: 'string' },
      limit: { type: 'string' },
      file: { type: 'string' },
      out: { type: 'string' },
      'ui-port': { type: 'string' },
      'grace-period': { type: 'string' },
      from: { type: 'string' },
      force: { type: 'boolean' },
      to: { type: 'string' },
      header: { type: 'string', short: 'H', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'up':
      return up(rest, values);
    case 'validate':
      return validate(rest);
    case 'down':
      return down(rest);
    case 'init':
      return init(values);
    case 'status':
      return status(values);
    case 'traces':
      return traces(values);
    case 'ca':
      if (rest[0] !== 'export') throw new UsageError('usage: devmesh ca export [--out FILE]');
      return caExport(values);
    case 'schema':
      process.stdout.write(`${JSON.stringify(meshJsonSchema(), null, 2)}\n`);
      return 0;
    case 'explain':
      return explain(rest, values);
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof MeshConfigError) process.stderr.write(`${err.message}\n`);
    else if (err instanceof UsageError) process.stderr.write(`devmesh: ${err.message}\n`);
    else process.stderr.write(`devmesh: ${(err as Error).message ?? String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);

/** "  sidecar restarts 3 (sidecar killed by SIGKILL)", or nothing while the sidecar never died. */
function sidecarRestarts(sidecar: SidecarStatus): string {
  return sidecar.restarts === 0 ? '' : `  sidecar restarts ${sidecar.restarts} (${sidecar.lastExit ?? 'unknown'})`;
}
