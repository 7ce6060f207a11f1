// Watch mode's patterns: validated (located errors), matched (globs through picomatch, plain paths as
// files or whole folders, ignore), and a pattern that matches nothing is a located warning, not an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { meshWarnings, parseMesh } from './load-mesh.js';
import { problems } from '../../test/helpers/config-problems.js';
import { unmatchedPatterns, WatchMatcher } from './watch-paths.js';


test('a bad glob, a path outside the project and a "!" pattern are located errors', () => {
  const yaml = [
    'name: shop',
    'services:',
    '  web:',
    '    run: node web.js',
    '    watch: ["src/**/*.js", "src/[a-", "../shared/*.js"]',
    '  api:',
    '    run: node api.js',
    '    watch:',
    '      paths: ["/etc/passwd"]',
    '      ignore: ["!x"]',
    '',
  ].join('\n');
  assert.deepEqual(problems(yaml), [
    'devmesh.yaml:5:28: services.web.watch[1]: "src/[a-" is not a valid glob: Missing closing: "]" - use "\\\\]" to match literal characters',
    'devmesh.yaml:5:39: services.web.watch[2]: "../shared/*.js" leaves the mesh file\'s folder: watch paths stay inside the project the mesh file is in',
    'devmesh.yaml:9:15: services.api.watch.paths[0]: "/etc/passwd" is not relative: watch paths are relative to the mesh file\'s folder',
    'devmesh.yaml:10:16: services.api.watch.ignore[0]: "!x": a "!" pattern is not supported; list what to leave out under ignore (watch: { paths: [...], ignore: [...] })',
  ]);
});

test('watch on a container service is refused, saying why', () => {
  assert.deepEqual(problems('name: shop\nservices:\n  db:\n    image: postgres:16\n    watch: [schema.sql]\n'), [
    'devmesh.yaml:5:12: services.db.watch: watch restarts process services (run:); db runs in a container (image or build), and a restart would not rebuild it: rebuild it yourself (devmesh restart db after the build), or run it as a process to watch it',
  ]);
});

test('matching: globs, plain files and folders, dot files, ignore, and .git / node_modules skipped', () => {
  const m = new WatchMatcher({ paths: ['src', 'config/*.{json,yaml}', './lib/**/*.ts', '.env'], ignore: ['src/**/*.test.js', 'src/generated'] });
  assert.deepEqual(m.bases, ['src', 'config', 'lib', '.env']);
  for (const yes of ['src/app.js', 'src/a/b/c.js', 'src/.hidden', 'config/app.json', 'lib/x.ts', 'lib/a/b.ts', '.env']) assert.ok(m.matches(yes), yes);
  for (const no of ['srcx/app.js', 'config/app.js', 'config/a/app.json', 'lib/x.js', 'src/a.test.js', 'src/generated/x.js', '.env.local', 'web.js']) assert.ok(!m.matches(no), no);
  assert.ok(m.skipsDir('src/node_modules') && m.skipsDir('.git') && m.skipsDir('src/generated'));
  assert.ok(!m.skipsDir('src/components'));
  // A pattern that names node_modules looks into it.
  assert.ok(!new WatchMatcher({ paths: ['node_modules/my-lib/**'], ignore: [] }).skipsDir('node_modules'));
});

test('a pattern that matches no file is a located warning; the mesh is valid', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-watch-'));
  try {
    mkdirSync(join(dir, 'src', 'node_modules'), { recursive: true });
    writeFileSync(join(dir, 'src', 'app.js'), '');
    writeFileSync(join(dir, 'src', 'node_modules', 'dep.ts'), '');
    const text = 'name: shop\nservices:\n  web:\n    run: node src/app.js\n    watch: ["src/**/*.js", "src/**/*.ts", "assets"]\n';
    const file = join(dir, 'devmesh.yaml');
    writeFileSync(file, text);
    const mesh = parseMesh(text, file);
    const warnings = meshWarnings(file, mesh);
    assert.deepEqual(
      warnings.map((w) => `${w.line}:${w.column}: ${w.message}`),
      [
        '5:28: services.web.watch[1]: "src/**/*.ts" matches no file yet; it is watched anyway, and a matching file created later restarts web',
        '5:43: services.web.watch[2]: "assets" matches no file yet; it is watched anyway, and a matching file created later restarts web',
      ],
    );
    assert.deepEqual(unmatchedPatterns(dir, { paths: ['src/**/*.js'], ignore: ['src/app.js'] }), ['src/**/*.js']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
