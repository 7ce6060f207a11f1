// Every devmesh command's usage, description and options, in one table: `devmesh help`, `devmesh CMD
// --help` and the usage errors are all printed from it, and util.parseArgs parses each command's own
// options (strict, so a misspelt option is a usage error, exit 2, with that command's usage).
//
// Why util.parseArgs: it is Node's own (no dependency), typed, strict, handles --x=v, -H v and repeated
// options, which is all these commands need; what the old single option list lacked was a per-command
// table, not a richer parser.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { defaultHome } from '../control-plane/state-dir.js';
import { UsageError } from './usage-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec {
  usage: string;
  about: string;
  options: Options;
}

const FILE: Options = { file: { type: 'string' } };
const LIMIT: Options = { limit: { type: 'string' } };

export const COMMANDS = {
  up: {
    usage: 'devmesh up [FILE] [--ui-port N] [--grace-period 60s] [--no-watch] [--json]',
    about: `Runs the mesh in FILE (default ./devmesh.yaml) until Ctrl-C. If this process dies, apps and sidecars keep
serving for the grace period (default 60s, or $DEVMESH_GRACE_PERIOD) and an \`up\` of FILE within it
re-adopts them (0s: no grace). Services with \`watch:\` restart, one instance at a time, when a watched file
changes; --no-watch turns that off. --json prints one JSON object per line ({"event":"log"|"ready",...}).`,
    options: { 'ui-port': { type: 'string' }, 'grace-period': { type: 'string' }, 'no-watch': { type: 'boolean' } },
  },
  down: {
    usage: 'devmesh down [FILE] [--json]',
    about: "Stops the running `up` of FILE (or the apps and sidecars an `up` that died left) and removes the mesh's containers.",
    options: {},
  },
  status: {
    usage: 'devmesh status [--file F] [--json]',
    about: 'The instances, sidecars and ingresses of the mesh running from this folder (or of --file). Exit 1 when no mesh runs.',
    options: { ...FILE },
  },
  logs: {
    usage: 'devmesh logs [SERVICE] [--follow] [--instance ID] [--limit N] [--file F] [--json]',
    about: `The apps' output (stdout "|", stderr "!"), newest --limit lines (default 200), of every instance or of SERVICE's.
--follow keeps printing new lines until Ctrl-C. With no mesh running, reads what the stopped mesh's
instances left in its state folder. --json: {"source","lines":[...]}, or one JSON line per log line with --follow.`,
    options: { follow: { type: 'boolean', short: 'f' }, instance: { type: 'string' }, ...LIMIT, ...FILE },
  },
  traces: {
    usage: 'devmesh traces [--service S] [--limit N] [--file F] [--json]',
    about: "Recent traces (default 50). With no mesh running, reads the stopped mesh's trace store (SQLite, in its state folder).",
    options: { service: { type: 'string' }, ...LIMIT, ...FILE },
  },
  tap: {
    usage: 'devmesh tap [SERVICE] [--follow] [--limit N] [--file F] [--json]',
    about: `Requests as the sidecars see them, inbound and outbound, in time order: the last --limit (default 100), then with
--follow every new one until Ctrl-C. Needs the running mesh. --json: {"events","lastSeq"}, or one JSON line per event with --follow.`,
    options: { follow: { type: 'boolean', short: 'f' }, ...LIMIT, ...FILE },
  },
  restart: {
    usage: 'devmesh restart SERVICE [--file F] [--json]',
    about: "Restarts SERVICE's instances, one at a time, and waits until done. Exit 1 if the restart failed.",
    options: { ...FILE },
  },
  doctor: {
    usage: 'devmesh doctor [FILE] [--json]',
    about: `Checks this machine for devmesh: Node version, the SQLite module, the state folder and disk for the trace store,
the CA and whether the system trusts it, FILE (default ./devmesh.yaml) and its fixed ports, OTLP's ports, the Docker engine,
Electron and Chromium. One pass (√), warn (‼) or fail (×) line each, with the fix. Exit 1 if a check failed.`,
    options: {},
  },
  validate: {
    usage: 'devmesh validate [FILE] [--json]',
    about: 'Checks a mesh file; errors as file:line:column: message. Exit 1 when invalid.',
    options: {},
  },
  init: {
    usage: 'devmesh init --from COMPOSE [--out F] [--force] [--json]',
    about: 'Writes a devmesh.yaml from a docker-compose file, with a report of what was not carried over.',
    options: { from: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } },
  },
  explain: {
    usage: "devmesh explain METHOD PATH --to SERVICE [--from SERVICE[:VERSION]] [-H 'name: value']... [--file F] [--json]",
    about: `Which route rule that request would match and why; sends nothing. With the mesh of FILE running: against its
applied config, with the caller's live endpoint health (ejections, requests in flight, breaker).`,
    options: { to: { type: 'string' }, from: { type: 'string' }, header: { type: 'string', short: 'H', multiple: true }, ...FILE },
  },
  ca: {
    usage: 'devmesh ca export [--out F] [--json]',
    about: 'Prints the mesh root certificate (PEM), to trust it (devmesh doctor says how).',
    options: { out: { type: 'string' } },
  },
  schema: {
    usage: 'devmesh schema',
    about: 'Prints the JSON Schema of devmesh.yaml.',
    options: {},
  },
  import: {
    usage: 'devmesh import [--from istio|gateway-api|linkerd|consul] [--map prod=local]... [--mesh FILE] [--dry-run] [--json] PATH...',
    about: 'Translates production mesh policy into devmesh.policy.yaml (included by the mesh file). Exit 1 if a document was invalid.',
    options: {},
  },
  export: {
    usage: 'devmesh export --to istio|gateway-api|linkerd|consul [--format hcl|crd] [--out DIR] [--mesh FILE] [--json]',
    about: 'Prints the local policy as production config (Consul: HCL config entries, or CRDs with --format crd); --out DIR writes the files instead. Notes say what the target cannot express (--json: {"yaml","files","notes"}).',
    options: {},
  },
  diff: {
    usage: 'devmesh diff [--from FORMAT] [--map prod=local]... [--mesh FILE] [--json] PATH...',
    about: 'Effective differences between the local mesh and production config. Exit 0 same, 1 different.',
    options: {},
  },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

const EXIT_CODES = `exit status: 0 ok, 1 failed (including: no mesh running, an invalid mesh file, a failed check), 2 usage error`;

export function globalUsage(): string {
  const lines = Object.values(COMMANDS as Record<string, CommandSpec>).map((c) => `  ${c.usage}`);
  return `devmesh — a local service mesh with mTLS sidecars, live routing and traces

usage:
${lines.join('\n')}
  devmesh help [COMMAND] | devmesh COMMAND --help | devmesh --version

${EXIT_CODES}
environment: DEVMESH_HOME (state; default ${defaultHome()}), DEVMESH_GRACE_PERIOD, DOCKER_HOST`;
}

export function commandHelp(name: CommandName): string {
  const c: CommandSpec = COMMANDS[name];
  return `usage: ${c.usage}\n\n${c.about}\n\n${EXIT_CODES}`;
}

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Parsed {
  positionals: string[];
  values: Values;
  json: boolean;
  help: boolean;
}

/** Parses a command's arguments (after its name); an unknown or malformed option is a UsageError. */
export function parseCommand(name: CommandName, args: string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { ...(COMMANDS[name].options as Options), json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    return { positionals, values, json: values.json === true, help: values.help === true };
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(`${name}: ${(err as Error).message}\nusage: ${COMMANDS[name].usage}`);
    throw err;
  }
}

/** A string option's value (the table declares which are strings). */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function strs(p: Parsed, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}
