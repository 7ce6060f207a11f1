// `devmesh doctor`: checks what devmesh needs of this machine, one pass/warn/fail line each with the fix,
// as `linkerd check` does. Exit 1 when a check fails (a warning is worth knowing, not a failure).
import { existsSync, mkdirSync, readFileSync, statfsSync, accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { X509Certificate } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { loadMeshFile } from '../config/load-mesh.js';
import type { MeshFile } from '../config/mesh-schema.js';
import { DockerEngine } from '../containers/docker-engine.js';
import { caDirOf, defaultHome, listRuns } from '../control-plane/state-dir.js';
import { packageInfo, satisfiesMinimum } from './package-info.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  message: string;
  /** What to do about a warn or fail. */
  fix?: string;
}

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
/** Where Linux distributions and macOS keep the system's trusted roots as one PEM bundle. */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem', '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem'];
const CHROMIUMS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome', '/Applications/Chromium.app/Contents/MacOS/Chromium'];

function nodeCheck(): Check {
  const { nodeRange } = packageInfo();
  const ok = satisfiesMinimum(process.versions.node, nodeRange);
  return ok
    ? { name: 'node', status: 'pass', message: `Node.js ${process.version} (devmesh needs ${nodeRange})` }
    : { name: 'node', status: 'fail', message: `Node.js ${process.version} is older than devmesh needs (${nodeRange})`, fix: `install Node.js ${nodeRange.replace('>=', '')} or newer (https://nodejs.org, or nvm install 20)` };
}

function sqliteCheck(): Check {
  try {
    new Database(':memory:').close();
    return { name: 'sqlite', status: 'pass', message: 'better-sqlite3 native module loads (the trace store)' };
  } catch (err) {
    return {
      name: 'sqlite',
      status: 'fail',
      message: `better-sqlite3 does not load: ${(err as Error).message.split('\n')[0]}`,
      fix: 'its install script did not run (npm 11 asks first): npm i -g devmesh --allow-scripts=better-sqlite3, or npm rebuild better-sqlite3 in devmesh\'s folder',
    };
  }
}

function stateDirCheck(home: string): Check[] {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    accessSync(home, constants.W_OK);
  } catch (err) {
    return [{ name: 'state folder', status: 'fail', message: `${home} is not writable: ${(err as Error).message}`, fix: 'set DEVMESH_HOME to a folder you can write' }];
  }
  const checks: Check[] = [{ name: 'state folder', status: 'pass', message: `${home} is writable` }];
  const fs = statfsSync(home);
  const free = fs.bavail * fs.bsize;
  const text = free >= GIB ? `${(free / GIB).toFixed(1)} GiB` : `${Math.round(free / MIB)} MiB`;
  if (free < 100 * MIB) checks.push({ name: 'disk', status: 'fail', message: `${text} free for the trace store under ${home}`, fix: 'free some disk, or set DEVMESH_HOME to a folder on a disk with room (the trace store keeps up to its span limit)' });
  else if (free < GIB) checks.push({ name: 'disk', status: 'warn', message: `only ${text} free for the trace store under ${home}`, fix: 'free some disk, or set DEVMESH_HOME elsewhere' });
  else checks.push({ name: 'disk', status: 'pass', message: `${text} free for the trace store` });
  return checks;
}

/** The DER body of the first certificate in a PEM text, for comparing certificates whatever their line breaks. */
function derBodies(pemText: string): string[] {
  return [...pemText.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => m[1]!.replace(/\s+/g, ''));
}

function caChecks(home: string): Check[] {
  const certFile = join(caDirOf(home), 'root-cert.pem');
  if (!existsSync(certFile)) return [{ name: 'CA', status: 'warn', message: `no mesh CA yet (${certFile})`, fix: 'devmesh up creates it on first run; then trust it (see the next check)' }];
  const pem = readFileSync(certFile, 'utf8');
  const checks: Check[] = [];
  try {
    const cert = new X509Certificate(pem);
    const daysLeft = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    checks.push(
      daysLeft <= 0
        ? { name: 'CA', status: 'fail', message: `the mesh CA expired on ${cert.validTo}`, fix: `remove ${caDirOf(home)}; devmesh up makes a new one (trust it again)` }
        : daysLeft < 30
          ? { name: 'CA', status: 'warn', message: `the mesh CA expires in ${Math.floor(daysLeft)} days (${cert.validTo})`, fix: `remove ${caDirOf(home)} after it expires; devmesh up makes a new one` }
          : { name: 'CA', status: 'pass', message: `mesh CA ${certFile} valid until ${cert.validTo}` },
    );
  } catch (err) {
    return [{ name: 'CA', status: 'fail', message: `${certFile} is not a certificate: ${(err as Error).message}`, fix: `remove ${caDirOf(home)}; devmesh up makes a new one` }];
  }
  const root = derBodies(pem)[0];
  const trustedIn = [...SYSTEM_BUNDLES, ...(process.env.NODE_EXTRA_CA_CERTS ? [process.env.NODE_EXTRA_CA_CERTS] : [])].filter((f) => {
    try {
      return derBodies(readFileSync(f, 'utf8')).includes(root!);
    } catch {
      return false;
    }
  });
  checks.push(
    trustedIn.length
      ? { name: 'CA trust', status: 'pass', message: `the mesh CA is trusted (${trustedIn.join(', ')})` }
      : {
          name: 'CA trust',
          status: 'warn',
          message: 'the mesh CA is not in the system trust store: tools outside the mesh see its certificates as unknown',
          fix:
            process.platform === 'darwin'
              ? 'devmesh ca export --out devmesh-ca.pem && sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain devmesh-ca.pem'
              : 'devmesh ca export --out devmesh-ca.crt && sudo cp devmesh-ca.crt /usr/local/share/ca-certificates/ && sudo update-ca-certificates (or NODE_EXTRA_CA_CERTS=devmesh-ca.crt for Node only)',
        },
  );
  return checks;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const s = createServer();
    s.once('error', () => resolvePort(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolvePort(true)));
  });
}

async function meshChecks(file: string): Promise<{ checks: Check[]; mesh: MeshFile | null }> {
  if (!existsSync(file)) return { checks: [{ name: 'mesh file', status: 'warn', message: `no mesh file at ${file}`, fix: 'run doctor in a mesh\'s folder, or name its file: devmesh doctor path/to/devmesh.yaml (devmesh init --from docker-compose.yml writes one)' }], mesh: null };
  let mesh: MeshFile;
  try {
    mesh = loadMeshFile(file);
  } catch (err) {
    return { checks: [{ name: 'mesh file', status: 'fail', message: `${file} is invalid:\n${(err as Error).message}`, fix: 'fix the lines named above (devmesh validate shows them again)' }], mesh: null };
  }
  const checks: Check[] = [{ name: 'mesh file', status: 'pass', message: `${file} is valid (mesh ${mesh.name}, ${Object.keys(mesh.services).length} services)` }];
  const running = listRuns(defaultHome()).find((r) => r.meshFile === file);
  const wanted = [
    ...mesh.ingress.filter((i) => i.port !== 0).map((i) => ({ port: i.port, what: `ingress of ${i.service}` })),
    ...Object.entries(mesh.services)
      .filter(([, s]) => s.port !== undefined && s.image === undefined && s.build === undefined)
      .map(([name, s]) => ({ port: s.port!, what: `service ${name}` })),
  ];
  if (running) checks.push({ name: 'ports', status: 'pass', message: `the mesh is running (pid ${running.pid}): its ports are its own` });
  else if (wanted.length === 0) checks.push({ name: 'ports', status: 'pass', message: 'the mesh asks for no fixed port (free ones are picked)' });
  else {
    const busy = [];
    for (const w of wanted) if (!(await portFree(w.port))) busy.push(w);
    checks.push(
      busy.length === 0
        ? { name: 'ports', status: 'pass', message: `free: ${wanted.map((w) => `${w.port} (${w.what})`).join(', ')}` }
        : { name: 'ports', status: 'fail', message: `in use on 127.0.0.1: ${busy.map((w) => `${w.port} (${w.what})`).join(', ')}`, fix: `stop what listens there (lsof -iTCP:${busy[0]!.port} -sTCP:LISTEN), or change the port in ${file} (0 picks a free one for an ingress)` },
    );
  }
  return { checks, mesh };
}

/** OTLP's standard ports, which devmesh takes when free (another free port otherwise). */
async function otlpCheck(): Promise<Check> {
  const running = listRuns(defaultHome());
  if (running.length) return { name: 'otlp ports', status: 'pass', message: `a mesh is running (${running.map((r) => r.mesh).join(', ')}): it holds its OTLP ports (devmesh status prints them)` };
  const busy = [];
  for (const port of [4317, 4318]) if (!(await portFree(port))) busy.push(port);
  return busy.length === 0
    ? { name: 'otlp ports', status: 'pass', message: '4317 (OTLP/gRPC) and 4318 (OTLP/HTTP) are free for the mesh\'s receivers' }
    : {
        name: 'otlp ports',
        status: 'warn',
        message: `${busy.join(' and ')} in use on 127.0.0.1: the mesh's OTLP receiver${busy.length > 1 ? 's take' : ' takes'} another port; apps it starts are told which, an SDK outside the mesh left at its default is not`,
        fix: `stop what listens there (lsof -iTCP:${busy[0]} -sTCP:LISTEN), or point outside apps at the endpoint devmesh status prints`,
      };
}

async function dockerCheck(mesh: MeshFile | null): Promise<Check> {
  const needs = mesh !== null && Object.values(mesh.services).some((s) => s.image !== undefined || s.build !== undefined || Object.values(s.versions ?? {}).some((v) => v.image !== undefined || v.build !== undefined));
  try {
    const info = await new DockerEngine().info();
    return { name: 'docker', status: 'pass', message: `Docker engine ${info.serverVersion} (${info.operatingSystem})` };
  } catch (err) {
    return {
      name: 'docker',
      status: needs ? 'fail' : 'warn',
      message: `${(err as Error).message.replace(/; start Docker or set DOCKER_HOST$/, '')}${needs ? ': this mesh has container services' : ': only container services need it'}`,
      fix: 'start Docker (Docker Desktop, or sudo systemctl start docker), or point DOCKER_HOST at an engine',
    };
  }
}

function browserChecks(): Check[] {
  const checks: Check[] = [];
  // Where the electron package says its binary is (path.txt), without loading the package: loading it
  // downloads a missing binary.
  let electron: string | null = null;
  try {
    const dir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
    const binary = join(dir, 'dist', readFileSync(join(dir, 'path.txt'), 'utf8').trim());
    if (existsSync(binary)) electron = binary;
  } catch {
    /* not installed */
  }
  checks.push(
    electron
      ? { name: 'electron', status: 'pass', message: `Electron found (${electron}): the desktop app can run` }
      : { name: 'electron', status: 'warn', message: 'Electron not found: the desktop app cannot run (devmesh up serves the same UI to any browser)', fix: 'npm i -g electron, or use the UI URL devmesh up prints' },
  );
  const chromium = [process.env.CHROME_PATH, ...CHROMIUMS].find((p): p is string => !!p && existsSync(resolve(p)));
  checks.push(
    chromium
      ? { name: 'chromium', status: 'pass', message: `Chromium found (${chromium})` }
      : { name: 'chromium', status: 'warn', message: 'no Chromium or Chrome found (the UI tests and screenshots drive one; set CHROME_PATH to point at yours)', fix: 'sudo apt-get install chromium, or install Google Chrome' },
  );
  return checks;
}

export async function runChecks(file: string): Promise<Check[]> {
  const home = defaultHome();
  const { checks: meshFileChecks, mesh } = await meshChecks(resolve(file));
  return [nodeCheck(), sqliteCheck(), ...stateDirCheck(home), ...caChecks(home), ...meshFileChecks, await otlpCheck(), await dockerCheck(mesh), ...browserChecks()];
}

const MARK: Record<CheckStatus, string> = { pass: '√', warn: '‼', fail: '×' };

export async function doctor(file: string, json: boolean): Promise<number> {
  const checks = await runChecks(file);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  if (json) process.stdout.write(`${JSON.stringify({ ok: failed === 0, checks }, null, 2)}\n`);
  else {
    for (const c of checks) {
      process.stdout.write(`${MARK[c.status]} ${c.name}: ${c.message.replace(/\n/g, '\n    ')}\n`);
      if (c.fix && c.status !== 'pass') process.stdout.write(`    fix: ${c.fix}\n`);
    }
    process.stdout.write(`\n${failed ? `× ${failed} failed` : '√ no check failed'}${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}\n`);
  }
  return failed ? 1 : 0;
}
