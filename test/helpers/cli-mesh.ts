// What the CLI tests share: a two-service mesh (front → back, each logging what it served) and a way to
// run the real devmesh binary as a child process.
import { spawnSync } from 'node:child_process';
import { CLI, REPO } from './mesh-process.js';

export const CLI_APPS: Record<string, string> = {
  'apps/package.json': '{ "type": "module" }',
  'apps/front.js': `
import { createServer } from 'node:http';
createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  console.log('front served ' + req.url);
  const r = await fetch(process.env.BACK_URL + req.url, { headers: req.headers.traceparent ? { traceparent: req.headers.traceparent } : {} });
  res.end(await r.text());
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
  'apps/back.js': `
import { createServer } from 'node:http';
createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  console.error('back served ' + req.url);
  res.end(JSON.stringify({ pid: process.pid }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
};

export const CLI_YAML = `name: clitest
ingress:
  - port: 0
    service: front
services:
  front:
    run: node front.js
    cwd: apps
    upstreams: [back]
    health: /healthz
  back:
    run: node back.js
    cwd: apps
    health: /healthz
`;

/** Runs bin/devmesh.js with DEVMESH_HOME=home in cwd (default the repository). */
export function runCli(args: string[], home: string, cwd = REPO): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, DEVMESH_HOME: home }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const json = <T>(r: { stdout: string }): T => JSON.parse(r.stdout) as T;
