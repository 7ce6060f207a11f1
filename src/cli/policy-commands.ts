// The `import`, `export` and `diff` commands. They parse their own options (so the main CLI only
// dispatches; their usage and --help text are in ./commands.ts) and return the exit status: import 0 all
// valid / 1 a document was invalid / 2 usage; export 0; diff 0 same / 1 different; 2 on a usage error for all three.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMeshFile, MeshConfigError } from '../config/load-mesh.js';
import { diffPolicies, formatDiff } from '../diff/effective-policy.js';
import { CONSUL_FORMS, EXPORT_FORMATS, exportPolicy, type ConsulForm, type ExportFormat } from '../export/export-policy.js';
import { HostMapper } from '../import/hosts.js';
import { importPolicy } from '../import/import-policy.js';
import { applyWrite, planWrite } from '../import/policy-writer.js';
import { formatReport, hasInvalid, SOURCE_FORMATS, type SourceFormat } from '../import/report.js';
import { readInputs } from '../import/sources.js';
import { COMMANDS } from './commands.js';
import { UsageError } from './usage-error.js';

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

function meshPath(mesh: string | undefined): string {
  const file = resolve(mesh ?? 'devmesh.yaml');
  if (!existsSync(file)) throw new UsageError(`no mesh file at ${file} (run in a mesh's folder or pass --mesh FILE)`);
  return file;
}

function paths(positionals: string[]): string[] {
  if (positionals.length === 0) throw new UsageError('name at least one file or folder to import');
  for (const p of positionals) if (!existsSync(p)) throw new UsageError(`${p}: no such file or folder`);
  return positionals.map((p) => resolve(p)).filter((p) => statSync(p));
}

function from(value: string | undefined): SourceFormat | undefined {
  if (value === undefined) return undefined;
  if (!SOURCE_FORMATS.includes(value as SourceFormat)) throw new UsageError(`--from ${value}: expected one of ${SOURCE_FORMATS.join(', ')}`);
  return value as SourceFormat;
}

function runImport(argv: string[], io: Io): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { from: { type: 'string' }, map: { type: 'string', multiple: true }, mesh: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const format = from(values.from);
  let map: Record<string, string>;
  try {
    map = HostMapper.parseMaps(values.map ?? []);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const meshFile = meshPath(values.mesh);
  const inputs = readInputs(paths(positionals));
  const mesh = loadMeshFile(meshFile);
  const result = importPolicy(inputs, { ...(format ? { from: format } : {}), map, mesh });
  let written: string | null = null;
  let writeError: string | null = null;
  try {
    const plan = planWrite(meshFile, result.policy, inputs.map((i) => i.name));
    if (!values['dry-run']) {
      applyWrite(meshFile, plan);
      written = plan.policyPath;
    }
  } catch (err) {
    if (!(err instanceof MeshConfigError)) throw err;
    writeError = err.message;
  }
  if (values.json) {
    io.out(`${JSON.stringify({ policy: result.policy, report: result.report, ingress: result.ingress, written, dryRun: !!values['dry-run'], error: writeError }, null, 2)}\n`);
  } else {
    io.out(`${formatReport(result.report)}\n`);
    if (writeError) io.err(`the imported policy does not fit the mesh, nothing written:\n${writeError}\n`);
    else if (written) io.out(`wrote ${written} (included by ${meshFile})\n`);
    else io.out('dry run: nothing written\n');
  }
  return hasInvalid(result.report) || writeError ? 1 : 0;
}

function runExport(argv: string[], io: Io): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { to: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, mesh: { type: 'string' }, json: { type: 'boolean' } } });
  if (positionals.length) throw new UsageError(`export takes no paths (got ${positionals.join(' ')})`);
  const to = values.to as ExportFormat | undefined;
  if (!to || !EXPORT_FORMATS.includes(to)) throw new UsageError(`--to ${EXPORT_FORMATS.join('|')} is required`);
  const form = values.format as ConsulForm | undefined;
  if (form !== undefined && (to !== 'consul' || !CONSUL_FORMS.includes(form))) throw new UsageError(`--format ${CONSUL_FORMS.join('|')} is for --to consul`);
  const mesh = loadMeshFile(meshPath(values.mesh));
  const result = exportPolicy(mesh, to, form ? { consul: form } : {});
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    const files = result.files ?? [{ name: `${to}${form ? `-${form}` : ''}.yaml`, text: result.yaml }];
    for (const f of files) writeFileSync(join(values.out, f.name), f.text);
    if (values.json) io.out(`${JSON.stringify({ out: resolve(values.out), files: files.map((f) => f.name), notes: result.notes }, null, 2)}\n`);
    else io.out(`wrote ${files.length} file${files.length === 1 ? '' : 's'} to ${resolve(values.out)}\n`);
  } else if (values.json) {
    io.out(`${JSON.stringify({ yaml: result.yaml, ...(result.files ? { files: result.files } : {}), notes: result.notes }, null, 2)}\n`);
    return 0;
  } else io.out(result.yaml);
  if (!values.json) for (const n of result.notes) io.err(`note: ${n}\n`);
  return 0;
}

function runDiff(argv: string[], io: Io): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { mesh: { type: 'string' }, from: { type: 'string' }, map: { type: 'string', multiple: true }, json: { type: 'boolean' } } });
  const format = from(values.from);
  const mesh = loadMeshFile(meshPath(values.mesh));
  let map: Record<string, string>;
  try {
    map = HostMapper.parseMaps(values.map ?? []);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const result = importPolicy(readInputs(paths(positionals)), { ...(format ? { from: format } : {}), map, mesh });
  const diffs = diffPolicies(mesh, result.policy);
  if (values.json) io.out(`${JSON.stringify({ differences: diffs, report: result.report }, null, 2)}\n`);
  else {
    io.out(`${formatDiff(diffs)}\n`);
    if (result.report.counts.invalid || result.report.counts.approximated || result.report.counts.ignored) {
      io.out(`(production config: ${result.report.counts.approximated} approximated, ${result.report.counts.ignored} ignored, ${result.report.counts.invalid} invalid fields; \`devmesh import --dry-run\` shows them)\n`);
    }
  }
  return diffs.length === 0 ? 0 : 1;
}

/** Runs `import`, `export` or `diff`; returns the exit status. */
export function runPolicyCommand(argv: string[], io: Io = stdio): number {
  const [command, ...rest] = argv;
  try {
    if (command === 'import') return runImport(rest, io);
    if (command === 'export') return runExport(rest, io);
    if (command === 'diff') return runDiff(rest, io);
    throw new UsageError(`unknown command ${command}`);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const usage = command === 'import' || command === 'export' || command === 'diff' ? COMMANDS[command].usage : 'devmesh import|export|diff …';
      io.err(`devmesh ${command}: ${(err as Error).message}\nusage: ${usage}\n`);
      return 2;
    }
    if (err instanceof MeshConfigError) {
      io.err(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
