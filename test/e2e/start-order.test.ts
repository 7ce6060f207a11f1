// How `devmesh up` starts a mesh: every app at once (upstreams only order the spawns), with a caller that
// starts before its upstream answers held by its sidecar, not refused; `dependsOn` waits for health.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMesh } from '../helpers/mesh-process.js';

// `slow` listens 1.5 s after it starts. `caller` (upstreams: [slow]) calls it as soon as it starts and
// notes the answer; `migrator` (dependsOn: [slow]) notes when it started. Each line: event, ms since epoch.
const APPS = {
  'slow.mjs': `import http from 'node:http';
import { appendFileSync } from 'node:fs';
appendFileSync('events.log', 'slow-spawned ' + Date.now() + '\\n');
setTimeout(() => http.createServer((req, res) => res.end('slow is up')).listen(Number(process.env.PORT), '127.0.0.1', () => appendFileSync('events.log', 'slow-listening ' + Date.now() + '\\n')), 1500);
`,
  'caller.mjs': `import http from 'node:http';
import { appendFileSync } from 'node:fs';
appendFileSync('events.log', 'caller-spawned ' + Date.now() + '\\n');
fetch(process.env.SLOW_URL + '/boot').then(async (r) => appendFileSync('events.log', 'caller-got ' + r.status + ' ' + (await r.text()).replace(/\\s+/g, '_') + '\\n'), (e) => appendFileSync('events.log', 'caller-failed ' + e.message + '\\n'));
http.createServer((req, res) => res.end('caller')).listen(Number(process.env.PORT), '127.0.0.1');
`,
  'migrator.mjs': `import http from 'node:http';
import { appendFileSync } from 'node:fs';
appendFileSync('events.log', 'migrator-spawned ' + Date.now() + '\\n');
http.createServer((req, res) => res.end('migrator')).listen(Number(process.env.PORT), '127.0.0.1');
`,
};

const YAML = `name: start-order
services:
  caller: { run: node caller.mjs, upstreams: [slow] }
  migrator: { run: node migrator.mjs, dependsOn: [slow] }
  slow: { run: node slow.mjs }
`;

test('apps start together; a call made before its upstream listens is held and served; dependsOn waits for health', async (t) => {
  const mesh = await startMesh({ yaml: YAML, files: APPS });
  t.after(() => mesh.stop());
  const events = new Map<string, string>();
  for (const line of readFileSync(join(mesh.dir, 'events.log'), 'utf8').trim().split('\n')) {
    const [event, ...rest] = line.split(' ');
    events.set(event!, rest.join(' '));
  }
  const at = (e: string) => Number(events.get(e));
  assert.ok(at('caller-spawned') < at('slow-listening'), 'the caller did not wait for its upstream to be healthy');
  assert.equal(events.get('caller-got'), '200 slow_is_up', `the boot-time call was held until slow answered (${[...events].join(', ')})`);
  assert.ok(at('migrator-spawned') >= at('slow-listening'), 'dependsOn waited for slow to be healthy');
});
