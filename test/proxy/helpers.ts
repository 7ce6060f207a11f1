// Shared scaffolding for the sidecar tests: real sidecar processes (started exactly as the control plane
// starts them, dialing a control socket), a real mesh CA in a temporary DEVMESH_HOME, and tiny HTTP apps on
// port 0. The control channel is the only place the tests play the other side.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { Agent, request } from 'undici';
import { LocalCa } from '../../src/ca/local-ca.js';
import {
  CONTROL_ENV,
  ControlConnection,
  decodeSpanBatch,
  spiffeId,
  type Cluster,
  type ControlMessage,
  type Endpoint,
  type MtlsMode,
  type OutboundListener,
  type RouteRule,
  type SidecarConfig,
  type SidecarMessage,
  type SpanRecord,
  type TlsMaterial,
  type ChannelHello,
} from '../../proxy/protocol/index.js';
import { expandHeaderLines } from '../../proxy/protocol/span-headers.js';

export const SIDECAR_MAIN = fileURLToPath(new URL('../../proxy/main.js', import.meta.url));
export const MESH = 'test.local';

type Cleanup = { after(fn: () => unknown): void };
let sidecarsStarted = 0;

/** A DEVMESH_HOME the runner's leak check recognises (devmesh-test-*), removed afterwards. */
export function tempHome(t: Cleanup): string {
  const home = mkdtempSync(join(tmpdir(), 'devmesh-test-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  return home;
}

export class TestMesh {
  readonly ca: LocalCa;
  private readonly certs = new Map<string, TlsMaterial>();

  constructor(readonly home: string, caDir = join(home, 'ca')) {
    this.ca = LocalCa.loadOrCreate(caDir);
  }

  /** Leaf for `service` (cached; `fresh` issues a new one, e.g. for rotation). */
  tls(service: string, fresh = false): TlsMaterial {
    const cached = this.certs.get(service);
    if (cached && !fresh) return cached;
    const leaf = this.ca.issue({ commonName: service, uris: [spiffeId(MESH, service)] });
    const material = { caPem: this.ca.rootPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
    this.certs.set(service, material);
    return material;
  }
}

export class SidecarProcess {
  private readonly decoded: SpanRecord[] = [];
  /** Batches as they came; decoded when `spans` is read, so a benchmark's load does not compete with decoding. */
  private batches: Uint8Array[] = [];
  readonly messages: SidecarMessage[] = [];
  /** Every hello the sidecar sent: one per connection of the control channel. */
  readonly hellos: ChannelHello[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private version = 0;
  private waiters: Array<() => void> = [];
  private connection: ControlConnection | null = null;
  /** Messages sent before the sidecar dialed in, delivered once it has. */
  private queued: ControlMessage[] = [];

  private constructor(
    readonly child: ChildProcess,
    private readonly control: Server,
  ) {
    control.on('connection', (socket) => {
      let greeted = false;
      const connection = new ControlConnection(socket, (raw) => {
        if (!greeted) {
          greeted = true;
          this.hellos.push(raw as ChannelHello);
          this.connection = connection;
          for (const m of this.queued.splice(0)) connection.send(m);
        } else this.messages.push(raw as SidecarMessage);
        const msg = raw as SidecarMessage;
        if (msg.type === 'spans') this.batches.push(msg.batch);
        this.wake();
      });
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      // A wait on the log (waitFor over stderr) looks again now, not only at the next control message.
      this.wake();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Every span received so far. */
  get spans(): SpanRecord[] {
    // As the trace store reads them back: the header lines among the attributes.
    for (const batch of this.batches) {
      for (const span of decodeSpanBatch(batch)) {
        if (span.headers) expandHeaderLines(span.attributes, span.headers);
        this.decoded.push(span);
      }
    }
    this.batches = [];
    return this.decoded;
  }

  /**
   * Starts dist/proxy/main.js with DEVMESH_HOME set and a control socket of its own to dial (this test plays
   * the control plane); killed when the test ends.
   */
  static start(t: Cleanup, home: string, env: Record<string, string> = {}): SidecarProcess {
    const id = `test-sidecar-${++sidecarsStarted}`;
    const socketPath = join(home, `${id}.sock`);
    const control = createServer();
    control.listen(socketPath);
    const child = spawn(process.execPath, [SIDECAR_MAIN, id], {
      env: { ...process.env, ...env, DEVMESH_HOME: home, [CONTROL_ENV.socket]: socketPath, [CONTROL_ENV.token]: 'test-token' },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    const sidecar = new SidecarProcess(child, control);
    t.after(() => sidecar.kill());
    return sidecar;
  }

  send(msg: ControlMessage): void {
    if (this.connection?.open) this.connection.send(msg);
    else this.queued.push(msg);
  }

  /** The control plane goes for good: the channel drops and nobody answers the sidecar's dialing. */
  stopAnswering(): void {
    this.control.close();
    this.dropControlChannel();
  }

  /** Writes bytes as they are into the control channel (for malformed frames). */
  sendRaw(bytes: Buffer): void {
    this.connection?.socket.write(bytes);
  }

  /** Drops the control channel, as a control plane that dies does; the sidecar dials again. */
  dropControlChannel(): void {
    this.connection?.end('dropped by the test');
    this.connection = null;
  }

  /** Pushes a config and waits for its ACK or NACK. */
  async push(config: SidecarConfig, timeoutMs = 10_000): Promise<Extract<SidecarMessage, { type: 'ack' | 'nack' }>> {
    const version = ++this.version;
    this.send({ type: 'config', version, config });
    const reply = await this.waitFor(
      () => this.messages.find((m): m is Extract<SidecarMessage, { type: 'ack' | 'nack' }> => (m.type === 'ack' || m.type === 'nack') && m.version === version),
      timeoutMs,
      `reply to config v${version}`,
    );
    return reply;
  }

  /** Pushes a config that must be ACKed; returns the listener ports. */
  async apply(config: SidecarConfig): Promise<Extract<SidecarMessage, { type: 'ack' }>['ports']> {
    const reply = await this.push(config);
    if (reply.type !== 'ack') throw new Error(`config NACKed: ${reply.reason}\n${this.stderr}`);
    return reply.ports;
  }

  /** Waits until `count` spans satisfy `pred`, and returns them. */
  async waitForSpans(pred: (s: SpanRecord) => boolean, count = 1, timeoutMs = 5_000): Promise<SpanRecord[]> {
    return this.waitFor(
      () => {
        const found = this.spans.filter(pred);
        return found.length >= count ? found : undefined;
      },
      timeoutMs,
      `${count} matching span(s) (have ${this.spans.length} spans)`,
    );
  }

  waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const value = probe();
        if (value === undefined) return false;
        clearTimeout(timer);
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== loop);
        reject(new Error(`timed out waiting for ${what}\nsidecar stderr:\n${this.stderr}`));
      }, timeoutMs);
      const loop = (): void => {
        if (!check()) this.waiters.push(loop);
      };
      loop();
    });
  }

  kill(): Promise<unknown> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.control.close();
    return this.exited;
  }
}

export interface TestApp {
  port: number;
  server: http.Server;
  /** Every request the app received, in order. */
  seen: IncomingMessage[];
}

/** A tiny HTTP app on 127.0.0.1:0, closed when the test ends. */
export async function startApp(t: Cleanup, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestApp> {
  const seen: IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, server, seen };
}

/** An app answering 200 with a JSON body naming itself and echoing what the sidecar told it. */
export function echoApp(name: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        app: name,
        method: req.method,
        url: req.url,
        peer: req.headers['x-devmesh-peer'] ?? null,
        traceparent: req.headers.traceparent ?? null,
        bodyLength: Buffer.concat(chunks).length,
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  };
}

/** A port that nothing listens on (bound, read, released). */
export async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function route(partial: Partial<RouteRule> & Pick<RouteRule, 'destinations'>): RouteRule {
  return { match: [], retries: { attempts: 0, retryOn: [] }, ...partial };
}

export function workload(service: string, version = 'v1', index = 0) {
  return { service, version, instanceId: `${service}-${version}-${index}` };
}

/**
 * The pair most sidecar tests drive: productpage's sidecar → mTLS → reviews' sidecar → the app at `appPort`.
 * `client` adds to the client sidecar's config (e.g. tracing). `base` is the client's outbound URL for reviews.
 */
export async function productpageToReviews(
  t: Cleanup,
  mesh: TestMesh,
  appPort: number,
  client: Partial<SidecarConfig> = {},
): Promise<{ client: SidecarProcess; server: SidecarProcess; base: string }> {
  const server = SidecarProcess.start(t, mesh.home);
  const serverPorts = await server.apply(serverConfig({ tls: mesh.tls('reviews'), service: 'reviews', appPort }));
  const sidecar = SidecarProcess.start(t, mesh.home);
  const ports = await sidecar.apply({
    ...clientConfig({
      tls: mesh.tls('productpage'),
      service: 'productpage',
      outbound: [{ service: 'reviews', port: 0, routes: [route({ destinations: [{ service: 'reviews', weight: 100 }] })] }],
      clusters: [cluster('reviews', [endpoint('reviews', 'v1', serverPorts.inbound!)])],
    }),
    ...client,
  });
  return { client: sidecar, server, base: `http://127.0.0.1:${ports.outbound.reviews}` };
}

export function serverConfig(opts: {
  tls: TlsMaterial;
  service: string;
  version?: string;
  appPort: number;
  mtls?: MtlsMode;
  port?: number;
}): SidecarConfig {
  return {
    mesh: MESH,
    workload: workload(opts.service, opts.version ?? 'v1'),
    tls: opts.tls,
    inbound: { port: opts.port ?? 0, appPort: opts.appPort, mtls: opts.mtls ?? 'STRICT' },
    outbound: [],
    clusters: [],
  };
}

export function clientConfig(opts: {
  tls: TlsMaterial;
  service: string;
  outbound: OutboundListener[];
  clusters: Cluster[];
  /** Without an app port the config is an ingress gateway's (no inbound). */
  appPort?: number;
}): SidecarConfig {
  return {
    mesh: MESH,
    workload: workload(opts.service),
    tls: opts.tls,
    ...(opts.appPort !== undefined ? { inbound: { port: 0, appPort: opts.appPort, mtls: 'STRICT' as const } } : {}),
    outbound: opts.outbound,
    clusters: opts.clusters,
  };
}

export function cluster(service: string, endpoints: Endpoint[], tls = true): Cluster {
  return { service, spiffeId: spiffeId(MESH, service), tls, endpoints };
}

export function endpoint(service: string, version: string, port: number, index = 0): Endpoint {
  return { instanceId: `${service}-${version}-${index}`, version, host: '127.0.0.1', port };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A keep-alive HTTP client for the test, closed when the test ends. */
export function httpClient(t: Cleanup): (url: string, init?: { method?: string; headers?: Record<string, string>; body?: string | Buffer }) => Promise<Reply> {
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  t.after(() => agent.close());
  return async (url, init = {}) => {
    const res = await request(url, { dispatcher: agent, method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };
}

/** One request over a fresh TLS connection (no agent), with an optional client certificate. */
export function tlsRequest(
  port: number,
  opts: { ca: string; cert?: string; key?: string; path?: string },
): Promise<Reply & { peerCert: import('node:tls').PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        agent: false,
        // Mesh identity is the URI SAN, not a host name; the tests check it explicitly.
        checkServerIdentity: () => undefined,
      },
      (res) => {
        const peerCert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peerCert }));
      },
    );
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** One plaintext request on a fresh connection (no agent). */
export function plainRequest(port: number, path = '/', headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export type { TestContext };
