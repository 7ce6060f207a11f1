// The devmesh command line. `up` runs a mesh in the foreground; `status`, `traces`, `logs`, `tap` and
// `restart` talk to the mesh running from the same folder through its API (found through the run file the
// mesh wrote); `traces` and `logs` read a stopped mesh's stores. Every command parses its own options with
// Node's util.parseArgs (strict: an unknown option is a usage error naming the command's usage), takes
// --help and --json, and exits 0 (ok), 1 (failed) or 2 (usage): see ./commands.ts.
import { join, resolve } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { API, headersFromLines, type ExplainHealth, type ExplainRequest, type ExplainResponse, type SidecarStatus, type StatusResponse } from '../contract/api.js';
// What only some commands need is imported by those commands (await import), so `devmesh status` or
// `--version` does not load the control plane, the Docker client and the trace store first.
import type { Host } from '../host/host.js';
import { formatProblem, loadMeshFile, meshWarnings } from '../config/load-mesh.js';
import { caDirOf, defaultHome, listRuns, orphanedRun } from '../control-plane/state-dir.js';
import { UsageError } from './usage-error.js';
import { apiCall, apiPost, findRun } from './mesh-client.js';
import { COMMANDS, commandHelp, flag, globalUsage, isCommand, parseCommand, str, strs, type CommandName, type Parsed } from './commands.js';
import { packageInfo } from './package-info.js';
import { exitOnBrokenPipe, onBrokenPipe, reportFailure } from './output.js';

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

async function up(p: Parsed): Promise<number> {
  const meshFile = meshFileArg(p.positionals);
  const uiPortText = str(p, 'ui-port');
  const uiPort = uiPortText === undefined ? 0 : Number(uiPortText);
  if (!Number.isInteger(uiPort) || uiPort < 0 || uiPort > 65535) throw new UsageError(`--ui-port: "${uiPortText}" is not a port`);
  const gracePeriodMs = gracePeriodArg(str(p, 'grace-period'));
  const started = Date.now();
  let quiet = false;
  const log = (line: string) => {
    if (!quiet) process.stdout.write(p.json ? `${JSON.stringify({ event: 'log', message: line })}\n` : `${line}\n`);
  };
  let stopping: Promise<void> | null = null;
  let host: Host | null = null;
  let starting: Promise<Host> | null = null;
  const shutdown = (signal: string) => {
    if (stopping) {
      log(`${signal} again: exiting now`);
      process.exit(130);
    }
    log(`${signal}: stopping the mesh`);
    // A reader that went away mid-start: the start is waited for, so what it already started is stopped too.
    const started = host ? Promise.resolve(host) : signal === 'EPIPE' && starting ? starting : null;
    stopping = (started ? started.then((h) => h.stop(), () => undefined) : Promise.resolve()).then(() => {
      log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));
  // Whoever read our output went away (`devmesh up | head`): stop the mesh as for a signal, silently.
  onBrokenPipe(() => {
    quiet = true;
    if (!stopping) shutdown('EPIPE'); // every later write fails too: one stop
  });
  log(`devmesh: starting ${meshFile}`);
  const { startHost } = await import('../host/host.js');
  starting = startHost({ meshFile, uiPort, log, watch: !flag(p, 'no-watch'), ...(gracePeriodMs !== undefined ? { gracePeriodMs } : {}) });
  host = await starting;
  if (stopping) return new Promise<number>(() => {}); // stopping already (the reader went away during the start)
  const status = host.controlPlane.status();
  const count = status.services.reduce((n, s) => n + s.instances.length, 0);
  const running = status.services.reduce((n, s) => n + s.instances.filter((i) => i.state === 'running').length, 0);
  const seconds = (Date.now() - started) / 1000;
  if (p.json) {
    const ingress = Object.fromEntries(status.ingress.map((i) => [i.service, i.url]));
    if (!quiet) process.stdout.write(`${JSON.stringify({ event: 'ready', mesh: status.mesh, uiUrl: host.uiUrl, ingress, running, instances: count, seconds })}\n`);
    return new Promise<number>(() => {});
  }
  log(`UI: ${host.uiUrl}`);
  for (const ing of status.ingress) log(`ingress ${ing.service}: ${ing.url}`);
  log(`ready: ${running}/${count} instances running in ${seconds.toFixed(1)}s (Ctrl-C stops the mesh)`);
  return new Promise<number>(() => {}); // runs until a signal
}

/**
 * A mesh whose `up` died and whose apps and sidecars wait out the grace period: its reaper tears it down
 * now (and removes the run's files). False when there is no such mesh.
 */
async function downOrphaned(file: string, meshName: string, home: string, say: (line: string) => void): Promise<boolean> {
  const orphan = orphanedRun(join(home, 'run'), file);
  const reaperPid = orphan?.run.adoption?.reaperPid;
  const { signalOrphanedReaper } = await import('../supervisor/reaper.js');
  if (!orphan || !reaperPid || !signalOrphanedReaper(reaperPid, 'tear-down')) return false;
  const deadline = Date.now() + 15_000;
  while (existsSync(orphan.file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  say(`stopped the apps and sidecars of ${meshName} that were waiting for their control plane (it had died)`);
  return true;
}

/** Stops the `up` running this mesh file (through its run file's pid), then removes the mesh's containers. */
async function down(p: Parsed): Promise<number> {
  const file = meshFileArg(p.positionals);
  const mesh = loadMeshFile(file);
  const home = defaultHome();
  const said: string[] = [];
  const say = (line: string) => (p.json ? said.push(line) : process.stdout.write(`${line}\n`));
  const run = listRuns(home).find((r) => r.meshFile === file);
  let stopped: 'up' | 'orphaned' | null = null;
  if (run) {
    process.kill(run.pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (listRuns(home).some((r) => r.pid === run.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    say(`stopped devmesh up (pid ${run.pid}) of ${mesh.name}`);
    stopped = 'up';
  } else if (await downOrphaned(file, mesh.name, home, say)) stopped = 'orphaned';
  else say(`no devmesh up of ${file} is running`);
  const usesContainers = Object.values(mesh.services).some(
    (s) => s.image !== undefined || s.build !== undefined || Object.values(s.versions ?? {}).some((v) => v.image !== undefined || v.build !== undefined),
  );
  const { DockerEngine, homeHash } = await import('../containers/docker-engine.js');
  const engine = new DockerEngine();
  let removed = 0;
  let left = 0;
  let engineError: string | null = null;
  try {
    await engine.info();
    const found = await engine.listMeshContainers(mesh.name, homeHash(home));
    left = found.length;
    removed = await engine.removeContainers(found.map((c) => c.Id));
    say(`removed ${removed} container${removed === 1 ? '' : 's'} of ${mesh.name}`);
  } catch (err) {
    engineError = (err as Error).message;
    if (usesContainers) say(`${engineError}: no containers removed`);
  }
  const ok = engineError ? !usesContainers : removed === left;
  if (p.json) process.stdout.write(`${JSON.stringify({ ok, mesh: mesh.name, stopped, removedContainers: removed, engineError, messages: said }, null, 2)}\n`);
  return ok ? 0 : 1;
}

/** devmesh init --from docker-compose.yml: writes the mesh file and prints what could not be carried over. */
async function init(p: Parsed): Promise<number> {
  const fromArg = str(p, 'from');
  if (!fromArg) throw new UsageError(`--from is required\nusage: ${COMMANDS.init.usage}`);
  const from = resolve(fromArg);
  const out = resolve(str(p, 'out') ?? 'devmesh.yaml');
  if (!existsSync(from)) throw new UsageError(`${from}: no such file`);
  if (existsSync(out) && !flag(p, 'force')) throw new UsageError(`${out} exists (use --force to overwrite)`);
  const { composeToMesh } = await import('../compose/compose-import.js');
  const result = composeToMesh(readFileSync(from, 'utf8'), { composeFile: from, outFile: out });
  writeFileSync(out, result.yaml);
  if (p.json) {
    let problems: string | null = null;
    try {
      loadMeshFile(out);
    } catch (err) {
      problems = (err as Error).message;
    }
    process.stdout.write(`${JSON.stringify({ written: out, services: result.services, notCarriedOver: result.report, problems }, null, 2)}\n`);
    return 0;
  }
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

function validate(p: Parsed): number {
  const file = meshFileArg(p.positionals);
  const mesh = loadMeshFile(file);
  const count = Object.keys(mesh.services).length;
  const warnings = meshWarnings(file, mesh);
  if (p.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, file, mesh: mesh.name, services: Object.keys(mesh.services), warnings }, null, 2)}\n`);
    return 0;
  }
  for (const w of warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
  process.stdout.write(`${file}: valid (mesh ${mesh.name}, ${count} service${count === 1 ? '' : 's'})\n`);
  return 0;
}

async function status(p: Parsed): Promise<number> {
  const s = await apiCall<StatusResponse>(findRun(str(p, 'file')), API.status);
  if (p.json) {
    process.stdout.write(`${JSON.stringify({ running: true, ...s }, null, 2)}\n`);
    return 0;
  }
  const why = s.config.history?.[0]?.version === s.config.version ? `  (${s.config.history[0].reason})` : '';
  process.stdout.write(`mesh ${s.mesh}  config v${s.config.version}${why}${s.config.error ? `  (file invalid: ${s.config.error})` : ''}\n`);
  for (const ing of s.ingress) process.stdout.write(`ingress ${ing.service}: ${ing.url}${sidecarRestarts(ing.sidecar)}\n`);
  // What an app started outside devmesh needs to send its telemetry (those started by devmesh have it),
  // over OTLP/HTTP and over OTLP/gRPC (an SDK picks gRPC with OTEL_EXPORTER_OTLP_PROTOCOL=grpc).
  const headers = Object.entries(s.otlpHeaders ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  if (s.otlpEndpoint) process.stdout.write(`otlp ${s.otlpEndpoint}  (for apps outside the mesh: OTEL_EXPORTER_OTLP_ENDPOINT=${s.otlpEndpoint} OTEL_EXPORTER_OTLP_HEADERS=${headers})\n`);
  if (s.otlpGrpcEndpoint) process.stdout.write(`otlp-grpc ${s.otlpGrpcEndpoint}  (for apps outside the mesh: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=${s.otlpGrpcEndpoint} OTEL_EXPORTER_OTLP_HEADERS=${headers})\n`);
  for (const svc of s.services) {
    process.stdout.write(`${svc.name}  mtls ${svc.mtls}${svc.watch ? `  watch ${svc.watch.paths.join(', ')}${svc.watch.ignore.length > 0 ? ` (not ${svc.watch.ignore.join(', ')})` : ''}` : ''}\n`);
    for (const i of svc.instances) {
      process.stdout.write(`  ${i.id.padEnd(22)} ${i.state.padEnd(9)} pid ${String(i.pid ?? '-').padEnd(8)} app :${i.appPort}  inbound :${i.inboundPort ?? '-'}  restarts ${i.restarts}${sidecarRestarts(i.sidecar)}\n`);
    }
  }
  return 0;
}

async function caExport(p: Parsed): Promise<number> {
  if (p.positionals[0] !== 'export' || p.positionals.length > 1) throw new UsageError(`usage: ${COMMANDS.ca.usage}`);
  const { LocalCa } = await import('../ca/local-ca.js');
  const ca = LocalCa.loadOrCreate(caDirOf(defaultHome()));
  const out = str(p, 'out');
  if (out) writeFileSync(out, ca.rootPem);
  if (p.json) process.stdout.write(`${JSON.stringify({ pem: ca.rootPem, written: out ? resolve(out) : null }, null, 2)}\n`);
  else if (!out) process.stdout.write(ca.rootPem);
  return 0;
}

/**
 * With the mesh of the file running, asks it (its applied config, and live endpoint health from the caller's
 * sidecars); otherwise explains from the file and says the health is unavailable.
 */
async function explain(p: Parsed): Promise<number> {
  const [method, path] = p.positionals;
  const to = str(p, 'to');
  const fromService = str(p, 'from');
  if (!method || !path || !to) throw new UsageError(`usage: ${COMMANDS.explain.usage}`);
  let headers: Record<string, string>;
  try {
    headers = headersFromLines(strs(p, 'header'));
  } catch (err) {
    throw new UsageError(`-H ${(err as Error).message}`);
  }
  const file = resolve(str(p, 'file') ?? 'devmesh.yaml');
  const query: ExplainRequest = { to, ...(fromService ? { from: fromService } : {}), method, path, headers };
  const run = listRuns(defaultHome()).find((r) => r.meshFile === file);
  if (run) {
    const answer = await apiPost<ExplainResponse>(run, API.explain, query);
    if (p.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    else process.stdout.write(`explained by the running mesh ${run.mesh}, config v${answer.configVersion} (its applied configuration)\n${answer.lines.join('\n')}\n`);
    return 0;
  }
  const { explainRequest, healthLines } = await import('../control-plane/explain.js');
  const result = explainRequest(loadMeshFile(file), query);
  const health: ExplainHealth = { available: false, reason: `no mesh is running from ${file}; devmesh up starts one` };
  const lines = [...result.lines, ...healthLines(health)];
  if (p.json) process.stdout.write(`${JSON.stringify({ ruleIndex: result.ruleIndex, rule: result.rule, health, lines }, null, 2)}\n`);
  else process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function version(json: boolean): number {
  const { version: v } = packageInfo();
  process.stdout.write(json ? `${JSON.stringify({ version: v, node: process.version })}\n` : `devmesh ${v}\n`);
  return 0;
}

async function run(name: CommandName, p: Parsed): Promise<number> {
  const file = str(p, 'file');
  const { logs, restart, tap, traces } = await import('./observe-commands.js');
  const observe = { json: p.json, file, service: str(p, 'service'), limit: str(p, 'limit'), follow: flag(p, 'follow') };
  const [first, ...extra] = p.positionals;
  const noMore = (allowed: number) => {
    if (p.positionals.length > allowed) throw new UsageError(`${name}: unexpected argument "${p.positionals[allowed]}"\nusage: ${COMMANDS[name].usage}`);
  };
  switch (name) {
    case 'up':
      noMore(1);
      return up(p);
    case 'down':
      noMore(1);
      return down(p);
    case 'validate':
      noMore(1);
      return validate(p);
    case 'init':
      noMore(0);
      return init(p);
    case 'status':
      noMore(0);
      return status(p);
    case 'traces':
      noMore(0);
      return traces(observe);
    case 'logs':
      noMore(1);
      return logs(first, { ...observe, instance: str(p, 'instance') });
    case 'tap':
      noMore(1);
      return tap(first, observe);
    case 'restart':
      noMore(1);
      return restart(first, { json: p.json, file });
    case 'doctor':
      noMore(1);
      return (await import('./doctor.js')).doctor(meshFileArg(p.positionals), p.json);
    case 'ca':
      return caExport(p);
    case 'schema':
      noMore(0);
      process.stdout.write(`${JSON.stringify((await import('../config/json-schema.js')).meshJsonSchema(), null, 2)}\n`);
      return 0;
    case 'explain':
      if (extra.length > 1) noMore(2);
      return explain(p);
    case 'import':
    case 'export':
    case 'diff':
      throw new Error(`${name} is run by runPolicyCommand`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v' || command === 'version') return version(rest.includes('--json'));
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = rest[0];
    if (command === 'help' && topic !== undefined) {
      if (!isCommand(topic)) throw new UsageError(`help: unknown command "${topic}"\n\n${globalUsage()}`);
      process.stdout.write(`${commandHelp(topic)}\n`);
      return 0;
    }
    process.stdout.write(`${globalUsage()}\n`);
    return command === undefined ? 2 : 0;
  }
  if (!isCommand(command)) throw new UsageError(`unknown command "${command}"\n\n${globalUsage()}`);
  // import, export and diff parse their own options (policy-commands.ts); their help comes from the table.
  if (command === 'import' || command === 'export' || command === 'diff') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${commandHelp(command)}\n`);
      return 0;
    }
    return (await import('./policy-commands.js')).runPolicyCommand(argv);
  }
  const parsed = parseCommand(command, rest);
  if (parsed.help) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  return run(command, parsed);
}

exitOnBrokenPipe();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportFailure(err, process.argv.includes('--json'));
    // Let the message reach a pipe before a half-started mesh's handles are dropped.
    setTimeout(() => process.exit(), 200).unref();
  },
);

/** "  sidecar restarts 3 (sidecar killed by SIGKILL)", or nothing while the sidecar never died. */
function sidecarRestarts(sidecar: SidecarStatus): string {
  return sidecar.restarts === 0 ? '' : `  sidecar restarts ${sidecar.restarts} (${sidecar.lastExit ?? 'unknown'})`;
}
