// The commands that look at a mesh: traces, logs, tap, and restart of a service. traces and logs read a
// stopped mesh's stores (the SQLite trace store and the instances' log files under its state folder) when
// no mesh is running; tap is live traffic, and restart acts, so both need the running mesh.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API, type LogLine, type LogResponse, type OperationResponse, type OperationStatus, type StatusResponse, type TapEvent, type TapResponse, type TraceListResponse, type TraceSummary } from '../contract/api.js';
import { uiLink } from '../contract/ui-link.js';
import { instancesOf } from '../config/mesh-model.js';
import { followLines } from '../supervisor/output-file.js';
import { TraceStore } from '../telemetry/trace-store.js';
import { apiCall, findRun, NoMeshError, runningMesh, stoppedMesh, type StoppedMesh } from './mesh-client.js';
import { UsageError } from './usage-error.js';

export interface ObserveOptions {
  json: boolean;
  file: string | undefined;
  service: string | undefined;
  limit: string | undefined;
  follow: boolean;
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const POLL_MS = 500;

function limitOf(text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--limit: "${text}" is not a whole number from 1 to ${max}`);
  return n;
}

/**
 * The first page of a sequenced API list (logs, tap): printed whole (one JSON object with --json), then
 * with --follow every later page's items, polled from the last sequence number seen, until Ctrl-C.
 */
async function pages<P extends { lastSeq: number }, T>(query: (afterSeq?: number) => Promise<P>, items: (page: P) => T[], emit: (items: T[]) => void, o: ObserveOptions, asJson: (page: P) => unknown): Promise<number> {
  let page = await query();
  if (o.json && !o.follow) {
    out(JSON.stringify(asJson(page), null, 2));
    return 0;
  }
  emit(items(page));
  while (o.follow) {
    await sleep(POLL_MS);
    page = await query(page.lastSeq);
    emit(items(page));
  }
  return 0;
}

// ---- traces ----

function printTraces(list: TraceSummary[]): void {
  for (const t of list) out(`${new Date(t.startMs).toISOString()}  ${t.traceId}  ${t.status}  ${t.durationMs.toFixed(1)}ms  ${t.method} ${t.path}  [${t.services.join(' → ')}]`);
}

export async function traces(o: ObserveOptions): Promise<number> {
  const limit = limitOf(o.limit, 50, 1000);
  const run = runningMesh(o.file);
  let list: TraceSummary[];
  let source: string;
  if (run) {
    const q = new URLSearchParams({ limit: String(limit), ...(o.service ? { service: o.service } : {}) });
    list = (await apiCall<TraceListResponse>(run, `${API.traces}?${q}`)).traces;
    source = `the running mesh ${run.mesh}`;
  } else {
    const stopped = stoppedMesh(o.file);
    if (!existsSync(stopped.tracesDb)) throw new NoMeshError(`no mesh is running, and ${stopped.name} has no trace store at ${stopped.tracesDb}`);
    const store = new TraceStore(stopped.tracesDb);
    try {
      list = store.listTraces({ limit, ...(o.service ? { service: o.service } : {}) });
    } finally {
      store.close();
    }
    source = `the trace store of the stopped mesh ${stopped.name} (${stopped.tracesDb})`;
  }
  if (o.json) out(JSON.stringify({ source: run ? 'running' : 'stopped', traces: list }, null, 2));
  else {
    if (!run) note(`(no mesh is running: read ${source})`);
    printTraces(list);
    // A link that opens the newest trace in the UI (the token rides in the fragment, never sent to a server);
    // on stderr, so the list on stdout stays one trace a line.
    if (run && list[0]) note(`open in the UI: ${uiLink(run.apiUrl, run.token, 'traces', { trace: list[0].traceId })}`);
  }
  return 0;
}

// ---- logs ----

const logLine = (l: Pick<LogLine, 'instanceId' | 'stream' | 'text'>) => `${l.instanceId} ${l.stream === 'stderr' ? '!' : '|'} ${l.text}`;

/** Which service an instance id belongs to: from the mesh file's instances, else its longest matching service-name prefix. */
function serviceOfInstance(stopped: StoppedMesh): (id: string) => string {
  const known = new Map(stopped.mesh ? instancesOf(stopped.mesh, stopped.dir).map((i) => [i.id, i.service] as const) : []);
  return (id) => known.get(id) ?? id.replace(/(-v[^-]+)?-\d+$/, '');
}

/**
 * The lines a stopped mesh's instances wrote, oldest first: from each instance's `<id>.log` (timestamped by
 * the control plane, every run), or, for an instance without one, its last run's `<id>.stdout|.stderr`.
 */
function storedLogLines(stopped: StoppedMesh, service: string | undefined): Omit<LogLine, 'seq' | 'traceId' | 'traceSource'>[] {
  let names: string[];
  try {
    names = readdirSync(stopped.logsDir);
  } catch {
    throw new NoMeshError(`no mesh is running, and ${stopped.name} has no logs at ${stopped.logsDir}`);
  }
  const serviceOf = serviceOfInstance(stopped);
  const lines: Omit<LogLine, 'seq' | 'traceId' | 'traceSource'>[] = [];
  const ids = new Set(names.map((n) => /^(.+)\.(log|stdout|stderr)$/.exec(n)?.[1]).filter((id): id is string => id !== undefined));
  for (const id of ids) {
    const svc = serviceOf(id);
    if (service && svc !== service) continue;
    if (names.includes(`${id}.log`)) {
      for (const row of readFileSync(join(stopped.logsDir, `${id}.log`), 'utf8').split('\n')) {
        const m = /^(\S+) (stdout|stderr) (.*)$/.exec(row);
        if (m) lines.push({ service: svc, instanceId: id, stream: m[2] as 'stdout' | 'stderr', timeMs: Date.parse(m[1]!), text: m[3]! });
      }
      continue;
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      if (!names.includes(`${id}.${stream}`)) continue;
      for (const text of readFileSync(join(stopped.logsDir, `${id}.${stream}`), 'utf8').split('\n').slice(0, -1)) lines.push({ service: svc, instanceId: id, stream, timeMs: 0, text });
    }
  }
  return lines.sort((a, b) => a.timeMs - b.timeMs);
}

export async function logs(service: string | undefined, o: ObserveOptions & { instance?: string | undefined }): Promise<number> {
  const limit = limitOf(o.limit, 200, 5000);
  const run = runningMesh(o.file);
  const emit = (lines: LogLine[] | Omit<LogLine, 'seq' | 'traceId' | 'traceSource'>[]) => {
    for (const l of lines) out(o.json ? JSON.stringify(l) : logLine(l));
  };
  if (run) {
    const query = (afterSeq?: number) =>
      apiCall<LogResponse>(
        run,
        `${API.logs}?${new URLSearchParams({ limit: String(limit), ...(service ? { service } : {}), ...(o.instance ? { instance: o.instance } : {}), ...(afterSeq !== undefined ? { afterSeq: String(afterSeq) } : {}) })}`,
      );
    const status = await apiCall<StatusResponse>(run, API.status);
    if (service && !status.services.some((s) => s.name === service)) throw new UsageError(`no service "${service}" in ${run.mesh} (services: ${status.services.map((s) => s.name).join(', ')})`);
    return pages(query, (page) => page.lines, emit, o, (page) => ({ source: 'running', ...page }));
  }
  const stopped = stoppedMesh(o.file);
  if (service && stopped.mesh && !stopped.mesh.services[service]) throw new UsageError(`no service "${service}" in ${stopped.name} (services: ${Object.keys(stopped.mesh.services).join(', ')})`);
  const lines = storedLogLines(stopped, service)
    .filter((l) => !o.instance || l.instanceId === o.instance)
    .slice(-limit);
  if (o.json && !o.follow) {
    out(JSON.stringify({ source: 'stopped', lines }, null, 2));
    return 0;
  }
  if (!o.json) note(`(no mesh is running: the logs ${stopped.name}'s instances left in ${stopped.logsDir})`);
  emit(lines);
  if (!o.follow) return 0;
  // Apps whose control plane died keep writing their output files: follow those from their end.
  const serviceOf = serviceOfInstance(stopped);
  for (const name of readdirSync(stopped.logsDir)) {
    const m = /^(.+)\.(stdout|stderr)$/.exec(name);
    if (!m || (service && serviceOf(m[1]!) !== service) || (o.instance && m[1] !== o.instance)) continue;
    const [id, stream] = [m[1]!, m[2] as 'stdout' | 'stderr'];
    followLines(join(stopped.logsDir, name), true, (text) => emit([{ service: serviceOf(id), instanceId: id, stream, timeMs: Date.now(), text }]));
  }
  return new Promise<number>(() => setInterval(() => {}, 60_000)); // until Ctrl-C
}

// ---- tap ----

function tapLine(e: TapEvent): string {
  const arrow = e.direction === 'inbound' ? `${e.peer ?? '?'} → ${e.instanceId}` : `${e.instanceId} → ${e.peer ?? '?'}`;
  const extra = [e.route ? `route=${e.route}` : '', e.attempts > 1 ? `attempts=${e.attempts}` : '', e.error ? `error="${e.error}"` : ''].filter(Boolean).join(' ');
  // A gRPC call answers HTTP 200 whatever happened: its status is the outcome (grpc=14 for UNAVAILABLE).
  const status = e.grpcStatus != null ? `${e.status} grpc=${e.grpcStatus}` : String(e.status);
  return `${new Date(e.timeMs).toISOString()} ${e.direction.padEnd(8)} ${arrow}  ${e.method} ${e.path}  ${status}  ${e.durationMs.toFixed(1)}ms  trace=${e.traceId}${extra ? `  ${extra}` : ''}`;
}

export async function tap(service: string | undefined, o: ObserveOptions): Promise<number> {
  const limit = limitOf(o.limit, 100, 1000);
  const run = findRun(o.file);
  const query = (afterSeq?: number) =>
    apiCall<TapResponse>(run, `${API.tap}?${new URLSearchParams({ limit: String(limit), ...(service ? { service } : {}), ...(afterSeq !== undefined ? { afterSeq: String(afterSeq) } : {}) })}`);
  const emit = (events: TapEvent[]) => {
    for (const e of [...events].sort((a, b) => a.timeMs - b.timeMs || a.seq - b.seq)) out(o.json ? JSON.stringify(e) : tapLine(e));
  };
  return pages(query, (page) => page.events, emit, o, (page) => page);
}

// ---- restart ----

/** Restarts a service's instances through the running mesh and waits for the operation to finish. */
export async function restart(service: string | undefined, o: { json: boolean; file: string | undefined; timeoutMs?: number }): Promise<number> {
  if (!service) throw new UsageError('name the service to restart: devmesh restart SERVICE');
  const run = findRun(o.file);
  const status = await apiCall<StatusResponse>(run, API.status);
  if (!status.services.some((s) => s.name === service)) throw new UsageError(`no service "${service}" in ${run.mesh} (services: ${status.services.map((s) => s.name).join(', ')})`);
  const started = await apiCall<OperationResponse>(run, API.serviceAction(service, 'restart'), { method: 'POST' });
  if (!o.json) out(`restarting ${service} (${status.services.find((s) => s.name === service)!.instances.length} instances, one at a time)`);
  let op: OperationStatus = started.operation;
  const deadline = Date.now() + (o.timeoutMs ?? 180_000);
  while (op.state === 'running' && Date.now() < deadline) {
    await sleep(POLL_MS);
    const s = await apiCall<StatusResponse>(run, API.status);
    op = s.operations?.find((x) => x.id === op.id) ?? op;
  }
  if (o.json) out(JSON.stringify({ operation: op }, null, 2));
  else if (op.state === 'running') out(`still restarting after ${Math.round((o.timeoutMs ?? 180_000) / 1000)}s: ${op.detail} (devmesh status shows how it goes)`);
  else out(`${op.state === 'succeeded' ? 'restarted' : 'restart failed:'} ${service}: ${op.detail}`);
  return op.state === 'succeeded' ? 0 : 1;
}
