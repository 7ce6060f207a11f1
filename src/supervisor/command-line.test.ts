// The `run` splitter: what sh would make of a line, checked against sh itself where sh has an answer
// (dash prints each word it passes on), and the located refusals for what devmesh does not interpret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { CommandLineError, lookupIn, parseCommandLine } from './command-line.js';

const ENV = { PORT: '8080', GREETING: 'hello world', EMPTY: '', DIR: '/srv/app' };
const split = (line: string) => parseCommandLine(line, lookupIn(ENV));

/** The words /bin/sh passes to a program for `line`, with ENV set: the reference split. */
function shWords(line: string): string[] {
  const r = spawnSync('/bin/sh', ['-c', `set -f; printf '%s\\0' ${line}`], { env: { ...ENV, PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

const AS_SH = [
  'node app.js --port $PORT',
  'node app.js "--name=$GREETING" $GREETING',
  "node 'a b' \"c d\" e\\ f",
  'node "quote: \\" dollar: \\$ backslash: \\\\ other: \\n"',
  "node 'single $PORT \\n' x",
  'node ${PORT}x $EMPTY y "$EMPTY" z',
  'node a\\\nb c',
  'node --x="$DIR/static" pre$PORT\'s\'',
  'node $ alone "and $"',
  "node '' \"\" end",
  'node *.js ?x [ab]',
  'node a # a comment $PORT',
  'node a=1 b',
];

test('splits command lines into the words sh would pass on', () => {
  for (const line of AS_SH) assert.deepEqual(split(line).argv, shWords(line), line);
});

test('leading NAME=value words are the command\'s environment, later ones are arguments', () => {
  assert.deepEqual(split('FOO=1 BAR="two words" node app.js X=3'), { env: { FOO: '1', BAR: 'two words' }, argv: ['node', 'app.js', 'X=3'] });
  assert.deepEqual(split('URL=http://127.0.0.1:$PORT/x node a'), { env: { URL: 'http://127.0.0.1:8080/x' }, argv: ['node', 'a'] });
  // A quoted name is not an assignment (sh runs a command named "FOO=1").
  assert.deepEqual(split('"FOO"=1 node').argv, ['FOO=1', 'node']);
});

test('exec, ~ and comments as sh reads them', () => {
  assert.deepEqual(split('exec node app.js').argv, ['node', 'app.js']);
  assert.deepEqual(split('node ~/app.js ~ a~b "~"').argv, ['node', `${homedir()}/app.js`, homedir(), 'a~b', '~']);
  assert.deepEqual(split('node app.js\n').argv, ['node', 'app.js']);
});

test('shell syntax it does not interpret is refused with its column and the sh -c hint', () => {
  const cases: [string, number, RegExp][] = [
    ['node a.js | tee out.log', 11, /a pipe \(\|\)/],
    ['npm run build && node dist/app.js', 15, /an && list/],
    ['node a.js || true', 11, /an \|\| list/],
    ['node a.js > out.log', 11, /redirection/],
    ['node a.js 2>&1', 12, /redirection/],
    ['node a.js < in', 11, /redirection/],
    ['cd app; node a.js', 7, /command list/],
    ['node a.js &', 11, /background/],
    ['node $(cat args)', 6, /command substitution/],
    ['node `cat args`', 6, /command substitution/],
    ['node "`cat args`"', 7, /command substitution/],
    ['node ${PORT:-80}', 6, /only \$\{NAME\} is expanded/],
    ['node $1', 6, /special parameter \$1/],
    ['(node a.js)', 1, /subshell/],
    ['node a.js\nnode b.js', 10, /second line/],
    ["node 'a.js", 6, /single quote is never closed/],
    ['node "a.js', 6, /double quote is never closed/],
    ['FOO=1', 6, /no command/],
    ['   ', 4, /no command/],
  ];
  for (const [line, column, reason] of cases) {
    assert.throws(
      () => split(line),
      (err: unknown) => {
        assert.ok(err instanceof CommandLineError, line);
        assert.equal(err.column, column, `${line}: ${err.message}`);
        assert.match(err.message, reason, line);
        if (!/never closed|no command/.test(err.message)) assert.match(err.message, /sh -c '…'/, line);
        return true;
      },
    );
  }
  // Quoted, the same characters are plain text.
  assert.deepEqual(split(`node "a | b" 'c && d' \\; "x > y"`).argv, ['node', 'a | b', 'c && d', ';', 'x > y']);
  // An explicit sh -c is a plain command line whose script is one quoted word.
  assert.deepEqual(split("sh -c 'npm run build && node dist/app.js'").argv, ['sh', '-c', 'npm run build && node dist/app.js']);
});
