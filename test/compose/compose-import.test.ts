// docker-compose adoption: a realistic compose file (build and image, both environment forms, env_file,
// bind and named volumes, depends_on with conditions, HTTP and non-HTTP healthchecks) becomes a valid
// devmesh.yaml, and everything that could not be carried over is named in the report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { composeToMesh, httpHealthPath, parseEnvFile } from '../../src/compose/compose-import.js';
import { loadMeshFile, MeshConfigError, parseMesh } from '../../src/config/load-mesh.js';
import { instancesOf } from '../../src/config/mesh-model.js';
import { splitCommand } from '../../src/supervisor/container-supervisor.js';
import { CLI } from '../helpers/mesh-process.js';

export const BOOKSTORE_COMPOSE = `name: bookstore
services:
  web:
    build:
      context: ./web
      dockerfile: Dockerfile.dev
      args:
        NODE_ENV: development
    ports:
      - "127.0.0.1:8080:3000"
      - "9229:9229"
    environment:
      - API_URL=http://api:4000
      - LOG_LEVEL=debug
      - SECRET_FROM_SHELL
    depends_on:
      api:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost:3000/healthz"]
      interval: 10s
    command: npm run dev
    restart: unless-stopped
  api:
    image: ghcr.io/acme/bookstore-api:1.4
    expose: ["4000"]
    environment:
      DATABASE_URL: postgres://app:secret@db:5432/books
      WORKERS: 4
      DEBUG:
    env_file:
      - ./api.env
      - path: ./api.local.env
        required: false
    volumes:
      - ./data/uploads:/srv/uploads
      - api-cache:/var/cache/api:ro
    depends_on:
      db:
        condition: service_healthy
      cache:
        condition: service_started
      migrate:
        condition: service_completed_successfully
    healthcheck:
      test: curl -fsS http://127.0.0.1:4000/health/ready || exit 1
    deploy:
      replicas: 2
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: secret
    volumes:
      - type: volume
        source: pgdata
        target: /var/lib/postgresql/data
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U app"]
  cache:
    image: redis:7-alpine
    ports: ["6379"]
  migrate:
    image: ghcr.io/acme/bookstore-api:1.4
    command: ["npm", "run", "migrate"]
    depends_on: [db]
    networks: [backend]
  worker_jobs:
    image: ghcr.io/acme/worker:2
    environment:
      QUEUE: \${QUEUE_NAME:-default}
volumes:
  pgdata: {}
  api-cache: {}
networks:
  backend: {}
`;

const API_ENV = `# shared settings
export REGION=eu-west-1
GREETING="hello world"
WORKERS=2   # overridden by environment
`;

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'devmesh-test-compose-'));
  writeFileSync(join(dir, 'docker-compose.yml'), BOOKSTORE_COMPOSE);
  writeFileSync(join(dir, 'api.env'), API_ENV);
  return dir;
}

test('a realistic compose file becomes a valid mesh file', (t) => {
  const dir = folder();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'devmesh.yaml');
  const result = composeToMesh(BOOKSTORE_COMPOSE, { composeFile: join(dir, 'docker-compose.yml'), outFile: out });
  writeFileSync(out, result.yaml);
  const mesh = loadMeshFile(out); // valid: the schema and the cross-checks accept it
  assert.equal(mesh.name, 'bookstore');
  assert.deepEqual(Object.keys(mesh.services), ['web', 'api', 'db', 'cache', 'migrate', 'worker-jobs']);
  assert.deepEqual(mesh.ingress, [{ port: 8080, service: 'web' }]);

  const web = mesh.services.web!;
  assert.deepEqual(web.build, { context: './web', dockerfile: 'Dockerfile.dev', args: { NODE_ENV: 'development' } });
  assert.equal(web.port, 3000);
  assert.equal(web.health, '/healthz');
  assert.deepEqual(web.upstreams, ['api']);
  assert.deepEqual(web.dependsOn, ['api'], 'condition: service_healthy waits for health');
  assert.deepEqual(web.env, { API_URL: 'http://api:4000', LOG_LEVEL: 'debug' });

  const api = mesh.services.api!;
  assert.equal(api.image, 'ghcr.io/acme/bookstore-api:1.4');
  assert.equal(api.port, 4000);
  assert.equal(api.health, '/health/ready');
  assert.equal(api.replicas, 2);
  assert.deepEqual(api.upstreams, ['db', 'cache', 'migrate']);
  assert.deepEqual(api.dependsOn, ['db'], 'only service_healthy waits; service_started only orders the start');
  assert.deepEqual(api.env, { REGION: 'eu-west-1', GREETING: 'hello world', WORKERS: '4', DATABASE_URL: 'postgres://app:secret@db:5432/books' });
  assert.deepEqual(api.volumes, ['./data/uploads:/srv/uploads', 'api-cache:/var/cache/api:ro']);

  const db = mesh.services.db!;
  assert.equal(db.protocol, 'tcp');
  assert.equal(db.health, undefined);
  assert.deepEqual(db.volumes, ['pgdata:/var/lib/postgresql/data']);
  assert.equal(mesh.services.cache!.port, 6379);
  assert.equal(mesh.services.cache!.protocol, 'tcp');
  assert.deepEqual(mesh.services.migrate!.upstreams, ['db']);
  assert.equal(mesh.services.migrate!.dependsOn, undefined, 'a short-syntax depends_on does not wait for health');
  // command is carried over in its own form: a string (split into words, no shell) or a list
  assert.equal(web.command, 'npm run dev');
  assert.deepEqual(mesh.services.migrate!.command, ['npm', 'run', 'migrate']);
  assert.equal(api.command, undefined);
  assert.match(result.yaml, /^ {4}build:[\s\S]*?^ {4}command: npm run dev$/m, 'written next to the image or build');

  const report = result.report.join('\n');
  for (const expected of [
    /web: port 9229:9229\/tcp not carried over/,
    /web: SECRET_FROM_SHELL take their value from the shell/,
    /web: API_URL name the compose host "api": .* API_URL/,
    /api: DEBUG take their value from the shell/,
    /api: DATABASE_URL name the compose host "db": .* DB_URL/,
    /api: depends_on migrate: service_completed_successfully has no equivalent/,
    /db: healthcheck "CMD-SHELL pg_isready -U app" is not an HTTP check/,
    /db: postgres:16 does not speak HTTP/,
    /migrate: not carried over: networks/,
    /worker_jobs: renamed to "worker-jobs"/,
    /worker_jobs: QUEUE use \$\{…\} interpolation/,
    /worker_jobs: no port in ports or expose/,
    /top level: volumes not carried over/,
    /top level: networks not carried over/,
  ]) {
    assert.match(report, expected);
  }
  assert.doesNotMatch(report, /restart|api\.local\.env/, 'restart is what devmesh does anyway; an optional env_file that is missing is fine');
  assert.doesNotMatch(report, /command/, 'command is carried over, not reported');
});

test('paths are rebased when the mesh file is written elsewhere', (t) => {
  const dir = folder();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'mesh'));
  const result = composeToMesh(BOOKSTORE_COMPOSE, { composeFile: join(dir, 'docker-compose.yml'), outFile: join(dir, 'mesh', 'devmesh.yaml') });
  const mesh = parse(result.yaml) as { services: Record<string, { build?: { context: string }; volumes?: string[] }> };
  assert.equal(mesh.services.web!.build!.context, '../web');
  assert.equal(mesh.services.api!.volumes![0], '../data/uploads:/srv/uploads');
});

test('HTTP healthchecks and env files are read as compose reads them', () => {
  assert.equal(httpHealthPath(['CMD', 'curl', '-f', 'http://localhost:8080/api/health']), '/api/health');
  assert.equal(httpHealthPath('wget -q --spider http://0.0.0.0:80 || exit 1'), '/');
  assert.equal(httpHealthPath(['CMD-SHELL', 'pg_isready']), null);
  assert.equal(httpHealthPath(['NONE']), null);
  assert.equal(httpHealthPath(['CMD', 'curl', 'http://example.com/x']), null, 'a check of another host says nothing about this app');
  assert.deepEqual(parseEnvFile(API_ENV), { REGION: 'eu-west-1', GREETING: 'hello world', WORKERS: '2' });
});

test('devmesh init --from writes the file, prints the report, and will not overwrite without --force', (t) => {
  const dir = folder();
  const home = mkdtempSync(join(tmpdir(), 'devmesh-test-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, DEVMESH_HOME: home }, encoding: 'utf8', timeout: 30_000 });
  const first = run(['init', '--from', 'docker-compose.yml']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /wrote .*devmesh\.yaml: 6 services \(web, api, db, cache, migrate, worker-jobs\)/);
  assert.match(first.stdout, /not carried over \(\d+\):\n {2}- /);
  assert.match(first.stdout, /^ {2}- web: port 9229/m);
  assert.doesNotMatch(first.stdout, /needs a hand/);
  assert.match(readFileSync(join(dir, 'devmesh.yaml'), 'utf8'), /^# Written by `devmesh init --from docker-compose.yml`/);
  const validate = run(['validate', 'devmesh.yaml']);
  assert.equal(validate.status, 0, validate.stderr);

  const again = run(['init', '--from', 'docker-compose.yml']);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists \(use --force to overwrite\)/);
  assert.equal(run(['init', '--from', 'docker-compose.yml', '--force', '--out', 'other.yaml']).status, 0);
});

test('command: a string or a list for an image or a build, inherited by versions; refused with run, located', () => {
  const ok = parseMesh(
    `name: cmd
services:
  api:
    image: ghcr.io/acme/api:1
    command: node server.js --port 8080
    versions:
      v1: {}
      v2: { command: ["node", "server.js", "--feature", "x y"] }
      v3: { build: { context: ./api }, command: "node other.js" }
      v4: { run: node local.js }
`,
    '/tmp/cmd/devmesh.yaml',
  );
  const byVersion = Object.fromEntries(instancesOf(ok, '/tmp/cmd').map((i) => [i.version, i.container?.command]));
  assert.deepEqual(byVersion, {
    v1: 'node server.js --port 8080',
    v2: ['node', 'server.js', '--feature', 'x y'],
    v3: 'node other.js',
    v4: undefined,
  });
  assert.deepEqual(splitCommand(`node server.js --name "a b" 'c d'`), ['node', 'server.js', '--name', 'a b', 'c d']);

  const problems = (yaml: string) => {
    try {
      parseMesh(yaml, '/tmp/cmd/devmesh.yaml');
      return '';
    } catch (err) {
      assert.ok(err instanceof MeshConfigError);
      return err.message;
    }
  };
  assert.match(
    problems(`name: cmd\nservices:\n  web:\n    run: node web.js\n    command: node other.js\n`),
    /devmesh\.yaml:5:\d+: services\.web\.command: command overrides the image's command: it needs "image" or "build"/,
  );
  assert.match(
    problems(`name: cmd\nservices:\n  web:\n    run: node web.js\n    versions:\n      v2: { command: [node, x.js] }\n`),
    /devmesh\.yaml:6:\d+: services\.web\.versions\.v2\.command: command overrides/,
  );
  assert.match(problems(`name: cmd\nservices:\n  web:\n    image: x\n    command: []\n`), /devmesh\.yaml:5:\d+: .*(too small|at least|>=1)/i);
});
