// A real service started from a command line with quotes, an env assignment and $PORT, without /bin/sh:
// the pid devmesh reports is the app's own (node, not a shell), the app sees the words and environment a
// shell would have given it; and a line with shell syntax is refused when the mesh file is read, located.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshConfigError, parseMesh } from '../config/load-mesh.js';
import { instancesOf } from '../config/mesh-model.js';
import { ProcessSupervisor } from './process-supervisor.js';

const APP = `
import { createServer } from 'node:http';
createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, argv: process.argv.slice(2), greeting: process.env.GREETING ?? null }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

interface Answer {
  pid: number;
  argv: string[];
  greeting: string | null;
  /** The port the app was told in PORT. */
  port: number;
}

/** Starts the test app in a fresh folder with `command` (a line or a list; `dir` given to build it), asks it once, stops it. */
async function runApp(command: string | string[] | ((dir: string) => { command: string | string[]; env: Record<string, string> })): Promise<Answer> {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-noshell-'));
  writeFileSync(join(dir, 'app file.mjs'), APP);
  const supervisor = new ProcessSupervisor(null, dir);
  try {
    const port = await freePort();
    const spec = typeof command === 'function' ? command(dir) : { command, env: {} };
    const w = supervisor.start({ id: 'noshell-0', command: spec.command, cwd: dir, env: spec.env, port, health: '/' }, { onState: () => {}, onLog: () => {} });
    await w.ready;
    const answer = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as Omit<Answer, 'port'>;
    // The pid devmesh supervises is the app's, and that process is node itself, not a shell.
    assert.equal(w.pid, answer.pid);
    assert.equal(readlinkSync(`/proc/${answer.pid}/exe`), readlinkSync(`/proc/${process.pid}/exe`));
    await w.stop();
    return { ...answer, port };
  } finally {
    await supervisor.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a service runs from its split command line, with no shell between devmesh and the app', { timeout: 60_000 }, async () => {
  const answer = await runApp(`GREETING="hi there" node 'app file.mjs' --port=$PORT "two words" \\$PORT`);
  assert.deepEqual(answer.argv, [`--port=${answer.port}`, 'two words', '$PORT']);
  assert.equal(answer.greeting, 'hi there');
});

test('a program that is not there fails with "command not found", not a shell\'s exit 127', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-noshell-'));
  const supervisor = new ProcessSupervisor(null, dir);
  try {
    const w = supervisor.start({ id: 'missing-0', command: 'no-such-program-devmesh --x', cwd: dir, env: {}, port: await freePort(), health: undefined }, { onState: () => {}, onLog: () => {} });
    await assert.rejects(w.ready, /command not found: no-such-program-devmesh/);
  } finally {
    await supervisor.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shell syntax in run is a located error of the mesh file, with the sh -c hint', () => {
  const text = 'name: shop\nservices:\n  web:\n    run: npm run build && node dist/app.js\n';
  assert.throws(
    () => parseMesh(text, '/m/devmesh.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof MeshConfigError);
      assert.match(err.message, /devmesh\.yaml:4:10: services\.web\.run: column 15: an && list is shell syntax; devmesh starts the program without a shell: to run this through one, write sh -c '…' explicitly/);
      return true;
    },
  );
  // Written out as sh -c, the same line is valid.
  parseMesh(`name: shop\nservices:\n  web:\n    run: sh -c 'npm run build && node dist/app.js'\n`, '/m/devmesh.yaml');
});

test('run as a list: the items are the argv as written, only $NAME replaced, one item one argument', { timeout: 60_000 }, async () => {
  const text = [
    'name: shop',
    'services:',
    '  web:',
    `    run: ["node", "app file.mjs", "--port", "$PORT", "two  words", "'quoted'", "$$PORT", "\${GREETING}!", "*.js", "GREETING=no"]`,
    '    env: { GREETING: "hi there" }',
    '',
  ].join('\n');
  const answer = await runApp((dir) => {
    const spec = instancesOf(parseMesh(text, join(dir, 'devmesh.yaml')), dir)[0]!;
    assert.deepEqual(spec.command, ['node', 'app file.mjs', '--port', '$PORT', 'two  words', "'quoted'", '$$PORT', '${GREETING}!', '*.js', 'GREETING=no']);
    return { command: spec.command, env: spec.env };
  });
  // No splitting, no quote removal, no globbing, no NAME=value: only $PORT and ${GREETING} replaced, $$ a literal $.
  assert.deepEqual(answer.argv, ['--port', String(answer.port), 'two  words', "'quoted'", '$PORT', 'hi there!', '*.js', 'GREETING=no']);
  assert.equal(answer.greeting, 'hi there');
});

test('run as a list: a malformed ${…} or an empty program is a located error of that item', () => {
  const text = 'name: shop\nservices:\n  web:\n    run:\n      - node\n      - "${PORT"\n  api:\n    run: ["", "x"]\n  db:\n    run: []\n';
  assert.throws(
    () => parseMesh(text, '/m/devmesh.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof MeshConfigError);
      const lines = err.message.split('\n');
      assert.ok(lines.includes('/m/devmesh.yaml:6:9: services.web.run[1]: column 1: only ${NAME} is expanded, not "${PORT" (write $$ for a literal $)'), err.message);
      assert.ok(lines.includes('/m/devmesh.yaml:8:11: services.api.run[0]: the program (the first word) is empty'), err.message);
      assert.ok(lines.includes('/m/devmesh.yaml:10:10: services.db.run: needs at least the program'), err.message);
      return true;
    },
  );
});
