// A service's `run` command line, split into words the way a POSIX shell would, so that devmesh starts
// the program itself, with no /bin/sh in between (which Windows does not have, and which would make the
// pid devmesh reports the shell's). What is interpreted, as sh does:
//   - blanks separate words; 'single quotes' keep everything; "double quotes" keep everything but
//     $expansions and the backslash before $ ` " \ and newline; a backslash outside quotes escapes the
//     next character, and a backslash-newline joins lines;
//   - $NAME and ${NAME} expand from the environment the process gets (PORT, the service's env, devmesh's
//     own); outside quotes, the value is split on blanks, and an unset name expands to nothing;
//   - leading NAME=value words set that variable for the command (`FOO=1 node app.js`);
//   - a leading `exec` is dropped; `#` at the start of a word comments out the rest; `~` or `~/` at
//     the start of a word is the home folder.
// Whatever else a shell would do (pipes, lists with ; && ||, &, redirections, $(…) and `…`, subshells,
// ${…} operators, $1 $? $$ and the like) is refused with the column where it starts and a hint to write
// `sh -c '…'`, rather than passed on as a literal word the program would not expect. Pathname patterns
// (* ? [) are not expanded: they reach the program as written.
import { homedir } from 'node:os';

export interface CommandLine {
  /** Variables set by leading NAME=value words. */
  env: Record<string, string>;
  /** The program and its arguments; never empty. */
  argv: string[];
}

export class CommandLineError extends Error {
  constructor(
    readonly reason: string,
    /** 1-based column in the command line where the problem starts. */
    readonly column: number,
  ) {
    super(`column ${column}: ${reason}`);
  }
}

const SH_HINT = "devmesh starts the program without a shell: to run this through one, write sh -c '…' explicitly";
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=/;
const OPERATORS: [string, string][] = [
  ['&&', 'an && list'],
  ['||', 'an || list'],
  ['>>', 'a redirection (>>)'],
  ['|', 'a pipe (|)'],
  ['&', 'a background job (&)'],
  [';', 'a command list (;)'],
  ['<', 'a redirection (<)'],
  ['>', 'a redirection (>)'],
  ['(', 'a subshell ("(")'],
  [')', 'a subshell (")")'],
  ['`', 'command substitution (`…`)'],
];
const BLANK = /[ \t]/;

/** A word being read: its text, and whether its first `=` came before any quote or expansion (an assignment). */
interface Word {
  text: string;
  /** Set once anything was read, so an empty quoted word ("") still counts as a word. */
  started: boolean;
  /** How much of the start of the word was plain unquoted text. */
  plainPrefix: number;
  plain: boolean;
}

const newWord = (): Word => ({ text: '', started: false, plainPrefix: 0, plain: true });

/**
 * Splits `line` as sh would; `env` answers $NAME (undefined: unset). Throws CommandLineError for shell
 * syntax that is not interpreted, an unterminated quote, or a line with no command.
 */
export function parseCommandLine(line: string, env: (name: string) => string | undefined = () => undefined): CommandLine {
  const words: Word[] = [];
  let word = newWord();
  const fail = (reason: string, at: number): never => {
    throw new CommandLineError(reason, at + 1);
  };
  const endWord = () => {
    if (word.started) words.push(word);
    word = newWord();
  };
  const append = (text: string, plain: boolean) => {
    word.started = true;
    word.text += text;
    if (plain && word.plain) word.plainPrefix = word.text.length;
    else word.plain = false;
  };
  /** Reads $NAME / ${NAME} at i (line[i] === '$'); returns the value (or null for a literal $) and where to go on. */
  const expansion = (i: number): { value: string | null; next: number } => {
    const rest = line.slice(i + 1);
    if (rest.startsWith('(')) fail(`command substitution ($(…)) is shell syntax; ${SH_HINT}`, i);
    if (rest.startsWith('{')) {
      const close = rest.indexOf('}');
      const name = close > 0 ? rest.slice(1, close) : '';
      if (close < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(`only \${NAME} is expanded, not "\${${rest.slice(1, close < 0 ? undefined : close)}}"; ${SH_HINT}`, i);
      return { value: env(name) ?? '', next: i + 2 + close };
    }
    const name = NAME.exec(rest)?.[0];
    if (name) return { value: env(name) ?? '', next: i + 1 + name.length };
    if (rest === '' || BLANK.test(rest[0]!) || rest[0] === '"') return { value: null, next: i + 1 };
    return fail(`the special parameter $${rest[0]} is shell syntax; ${SH_HINT}`, i);
  };

  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (BLANK.test(c)) {
      endWord();
      i++;
      continue;
    }
    if (c === '\\') {
      if (line[i + 1] === '\n') i += 2; // a continued line
      else if (i + 1 < line.length) {
        append(line[i + 1]!, false);
        i += 2;
      } else i++; // a trailing backslash: nothing to escape
      continue;
    }
    if (c === '\n' || c === '\r') {
      if (c === '\r' && line[i + 1] === '\n') i++;
      if (line.slice(i + 1).trim() === '') {
        i++;
        continue;
      }
      fail(`a second line is a second command; ${SH_HINT}`, i);
    }
    if (c === '#' && !word.started) break; // a comment
    if (c === '~' && !word.started && (i + 1 === line.length || line[i + 1] === '/' || BLANK.test(line[i + 1]!))) {
      append(homedir(), false);
      i++;
      continue;
    }
    const op = OPERATORS.find(([o]) => line.startsWith(o, i));
    if (op) fail(`${op[1]} is shell syntax; ${SH_HINT}`, i);
    if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) fail('this single quote is never closed', i);
      append(line.slice(i + 1, close), false);
      i = close + 1;
      continue;
    }
    if (c === '"') {
      const open = i;
      word.started = true;
      word.plain = false;
      i++;
      for (;;) {
        if (i >= line.length) fail('this double quote is never closed', open);
        const d = line[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1]!)) {
          if (line[i + 1] !== '\n') append(line[i + 1]!, false);
          i += 2;
        } else if (d === '`') fail(`command substitution (\`…\`) is shell syntax; ${SH_HINT}`, i);
        else if (d === '$') {
          const x = expansion(i);
          append(x.value ?? '$', false);
          i = x.next;
        } else {
          append(d, false);
          i++;
        }
      }
      i++;
      continue;
    }
    if (c === '$') {
      const x = expansion(i);
      if (x.value === null) append('$', true);
      else {
        // Outside quotes the value is split into words on blanks, as sh does (and vanishes when empty).
        const parts = x.value.split(/[ \t\n]+/);
        parts.forEach((part, n) => {
          if (n > 0) endWord();
          if (part !== '') append(part, false);
          else if (n === 0 && word.started) word.plain = false;
        });
      }
      i = x.next;
      continue;
    }
    append(c, true);
    i++;
  }
  endWord();

  const env_: Record<string, string> = {};
  let first = 0;
  for (; first < words.length; first++) {
    const w = words[first]!;
    const m = ASSIGNMENT.exec(w.text);
    if (!m || m[0].length > w.plainPrefix) break;
    env_[m[1]!] = w.text.slice(m[0].length);
  }
  let argv = words.slice(first).map((w) => w.text);
  if (argv[0] === 'exec' && words[first]!.plain) argv = argv.slice(1);
  if (argv.length === 0) fail('there is no command to run', line.length);
  return { env: env_, argv };
}

/** The environment lookup parseCommandLine wants, from a record. */
export function lookupIn(env: Record<string, string | undefined>): (name: string) => string | undefined {
  return (name) => (Object.hasOwn(env, name) ? env[name] : undefined);
}

// `run` given as a list: the program and its arguments as written, each item one argument (no splitting,
// no quotes, no ~ or globs, no NAME=value). Only $NAME and ${NAME} are replaced inside an item, from the
// environment the app gets, so `["node", "app.js", "--port", "$PORT"]` works as its string form would;
// $$ is a literal $, and a $ before anything else stays as it is. (Kubernetes' command/args likewise take
// no shell and expand variables of the container's environment, written $(NAME) there.)
const ARGV_REFERENCE = /\$(?:\$|\{([^}]*)\}?|([A-Za-z_][A-Za-z0-9_]*))/g;

/** What is wrong with one item of a `run` list, or null: only ${NAME} is allowed between braces. */
export function argvProblem(arg: string): string | null {
  for (const m of arg.matchAll(ARGV_REFERENCE)) {
    if (m[0].startsWith('${') && (!m[0].endsWith('}') || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(m[1] ?? ''))) {
      return `column ${m.index + 1}: only \${NAME} is expanded, not "${m[0]}" (write $$ for a literal $)`;
    }
  }
  return null;
}

/** The items of a `run` list with $NAME and ${NAME} replaced from `env` (unset: empty, as in the string form). */
export function expandArgv(argv: readonly string[], env: (name: string) => string | undefined): string[] {
  return argv.map((arg) => arg.replace(ARGV_REFERENCE, (whole, braced: string | undefined, bare: string | undefined) => (whole === '$$' ? '$' : (env((braced ?? bare)!) ?? ''))));
}
