// What devmesh needs from a Docker engine, over its HTTP API (dockerode): finding the engine (DOCKER_HOST
// or the platform's default socket), telling a native Linux engine from Docker Desktop (which decides the
// networking, see container-supervisor.ts), getting an image (reuse, pull with progress, or build from a
// Dockerfile with its log streamed), and finding the containers a mesh labelled.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import Docker from 'dockerode';
import { PullProgress } from './pull-progress.js';

/** Labels every devmesh container carries; `devmesh up` and `devmesh down` find containers by them. */
export const LABEL = {
  mesh: 'dev.devmesh.mesh',
  /** Hash of DEVMESH_HOME: two homes (two users, two test runs) never clean each other's containers. */
  home: 'dev.devmesh.home',
  service: 'dev.devmesh.service',
  instance: 'dev.devmesh.instance',
  run: 'dev.devmesh.run',
} as const;

/** The value of LABEL.home for a DEVMESH_HOME. */
export function homeHash(home: string): string {
  return createHash('sha256').update(home).digest('hex').slice(0, 12);
}

/** Where the engine listens; the reaper receives the same endpoint, so it can remove containers alone. */
export type EngineEndpoint = { socketPath: string } | { protocol: 'http' | 'https'; host: string; port: number };

export function engineEndpoint(env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  const host = env.DOCKER_HOST;
  if (!host) {
    if (process.platform === 'win32') return { socketPath: '//./pipe/docker_engine' };
    // Docker Desktop on macOS only links /var/run/docker.sock when the user allowed it.
    const desktop = join(homedir(), '.docker', 'run', 'docker.sock');
    return { socketPath: existsSync('/var/run/docker.sock') || !existsSync(desktop) ? '/var/run/docker.sock' : desktop };
  }
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('npipe://')) return { socketPath: host.slice('npipe://'.length) };
  const url = new URL(host.replace(/^tcp:/, env.DOCKER_TLS_VERIFY ? 'https:' : 'http:'));
  return { protocol: url.protocol === 'https:' ? 'https' : 'http', host: url.hostname, port: Number(url.port || 2375) };
}

export function describeEndpoint(ep: EngineEndpoint): string {
  return 'socketPath' in ep ? `unix://${ep.socketPath}` : `${ep.protocol}://${ep.host}:${ep.port}`;
}

/** Errors with a stable code, so the CLI and tests can tell "no engine" from "no image". */
export class EngineError extends Error {
  constructor(
    readonly code: 'NO_ENGINE' | 'IMAGE_NOT_FOUND' | 'PULL_FAILED' | 'BUILD_FAILED' | 'CONTAINER_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export interface EngineInfo {
  /** e.g. "Debian GNU/Linux 12 (bookworm)" or "Docker Desktop". */
  operatingSystem: string;
  serverVersion: string;
  /** The engine runs on this machine's own Linux kernel: host networking reaches 127.0.0.1 here. */
  sharesHostKernel: boolean;
}

function messageOf(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string; reason?: string; statusCode?: number };
  return (e.json?.message ?? e.message ?? String(err)).trim();
}

export class DockerEngine {
  readonly docker: Docker;
  private readonly images = new Map<string, Promise<void>>();

  constructor(readonly endpoint: EngineEndpoint = engineEndpoint()) {
    this.docker = new Docker({ ...endpoint, timeout: 0 } as Docker.DockerOptions);
  }

  /** Pings the engine; throws EngineError NO_ENGINE with what the user can do about it. */
  async info(): Promise<EngineInfo> {
    try {
      const info = (await withTimeout(this.docker.info(), 5000, 'no answer in 5 s')) as { OperatingSystem?: string; ServerVersion?: string; OSType?: string };
      const os = info.OperatingSystem ?? '';
      return {
        operatingSystem: os,
        serverVersion: info.ServerVersion ?? '?',
        sharesHostKernel: process.platform === 'linux' && info.OSType === 'linux' && !/docker desktop/i.test(os),
      };
    } catch (err) {
      throw new EngineError(
        'NO_ENGINE',
        `no Docker engine at ${describeEndpoint(this.endpoint)} (${messageOf(err)}); start Docker or set DOCKER_HOST`,
      );
    }
  }

  /**
   * Makes `image` available: a local image is reused; otherwise it is pulled, with progress reported as
   * text ("pulling x: 42% of 27.1 MB"). Replicas asking for the same image share one pull.
   */
  ensureImage(image: string, onProgress: (text: string) => void): Promise<void> {
    let p = this.images.get(image);
    if (!p) {
      p = this.pullIfMissing(image, onProgress);
      this.images.set(image, p);
      p.catch(() => this.images.delete(image)); // a later restart may try again
    }
    return p;
  }

  private async pullIfMissing(image: string, onProgress: (text: string) => void): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return; // cached
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw new EngineError('PULL_FAILED', `image ${image}: ${messageOf(err)}`);
    }
    onProgress(`pulling ${image}`);
    const progress = new PullProgress();
    let last = 0;
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolvePull, reject) => {
        this.docker.modem.followProgress(
          stream,
          (err) => (err ? reject(err) : resolvePull()),
          (event: unknown) => {
            const e = event as { error?: string };
            if (e.error) return; // followProgress rejects with it too
            progress.add(event);
            if (Date.now() - last > 500) {
              last = Date.now();
              onProgress(`pulling ${image}: ${progress.text()}`);
            }
          },
        );
      });
    } catch (err) {
      const msg = messageOf(err);
      if (/not found|manifest unknown|does not exist|repository .* not found|pull access denied/i.test(msg)) {
        throw new EngineError('IMAGE_NOT_FOUND', `image ${image} is not on this machine and the registry has no such image: ${msg}`);
      }
      throw new EngineError('PULL_FAILED', `image ${image} is not on this machine and pulling it failed: ${msg}`);
    }
    onProgress(`pulled ${image}${progress.totalBytes() ? ` (${PullProgress.mb(progress.totalBytes())})` : ''}`);
  }

  /** Builds `tag` from a context folder; every line of the build log goes to `onLog`. */
  build(
    tag: string,
    build: { context: string; dockerfile?: string | undefined; args?: Record<string, string> | undefined },
    onLog: (line: string) => void,
  ): Promise<void> {
    let p = this.images.get(`build:${tag}`);
    if (!p) {
      p = this.runBuild(tag, build, onLog);
      this.images.set(`build:${tag}`, p);
      p.catch(() => this.images.delete(`build:${tag}`));
    }
    return p;
  }

  private async runBuild(
    tag: string,
    build: { context: string; dockerfile?: string | undefined; args?: Record<string, string> | undefined },
    onLog: (line: string) => void,
  ): Promise<void> {
    const context = resolve(build.context);
    if (!existsSync(context)) throw new EngineError('BUILD_FAILED', `build ${tag}: context folder ${context} does not exist`);
    const dockerfile = build.dockerfile ?? 'Dockerfile';
    if (!existsSync(join(context, dockerfile))) throw new EngineError('BUILD_FAILED', `build ${tag}: no ${dockerfile} in ${context}`);
    let failure: string | null = null;
    try {
      const stream = await this.docker.buildImage(
        { context, src: filesOf(context) },
        { t: tag, dockerfile, buildargs: build.args ?? {}, rm: true } as Docker.ImageBuildOptions,
      );
      await new Promise<void>((resolveBuild, reject) => {
        this.docker.modem.followProgress(
          stream,
          (err) => (err ? reject(err) : resolveBuild()),
          (event: { stream?: string; status?: string; error?: string }) => {
            if (event.error) failure = event.error.trim();
            for (const line of (event.stream ?? event.status ?? '').split('\n')) if (line.trim()) onLog(line.trimEnd());
          },
        );
      });
    } catch (err) {
      failure = failure ?? messageOf(err);
    }
    if (failure) throw new EngineError('BUILD_FAILED', `build ${tag} from ${join(context, dockerfile)} failed: ${failure}`);
  }

  /** Containers of a mesh under one DEVMESH_HOME (all of its runs). */
  async listMeshContainers(mesh: string, homeHash: string): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({ all: true, filters: { label: [`${LABEL.mesh}=${mesh}`, `${LABEL.home}=${homeHash}`] } });
  }

  /** Force-removes the given containers; returns how many went. */
  async removeContainers(ids: string[]): Promise<number> {
    const results = await Promise.allSettled(ids.map((id) => this.docker.getContainer(id).remove({ force: true, v: true })));
    return results.filter((r) => r.status === 'fulfilled' || /no such container/i.test(messageOf(r.reason))).length;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]).finally(() => clearTimeout(timer));
}

/** Every file under the context (the .dockerignore filter is applied by dockerode). */
function filesOf(context: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (name === '.git') continue;
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(context, full));
    }
  };
  walk(context);
  return out;
}
