// The control plane's end of the control channel (proxy/protocol/control-channel.ts): a local socket in the
// run directory that every sidecar dials. It checks the hello (the run's token, the protocol, a sidecar
// the mesh knows) and hands the connection to that sidecar's handle. The socket outlives nothing: a
// restarted control plane listens on the same path with the same token, and the sidecars that kept
// serving dial in again.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { CONTROL_PROTOCOL, ControlConnection, type ChannelHello } from '../../proxy/protocol/index.js';

const HELLO_TIMEOUT_MS = 5_000;

const PortsSchema = z.object({ inbound: z.number().int().nullable(), outbound: z.record(z.string(), z.number().int()) });
const HelloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.literal(CONTROL_PROTOCOL),
  token: z.string(),
  sidecar: z.string().min(1).max(200),
  pid: z.number().int().positive(),
  ackedVersion: z.number().int().nonnegative(),
  ports: PortsSchema.nullable(),
});

/** What a sidecar's handle does with its channel once the hello checks out. */
export type AttachSidecar = (connection: ControlConnection, hello: ChannelHello) => void;

export class ControlServer {
  private readonly server: Server;
  private readonly sidecars = new Map<string, AttachSidecar>();
  /**
   * Until the control plane has created a handle for every sidecar it means to keep (it is still starting,
   * re-adopting), a sidecar it does not know yet waits here instead of being told to shut down.
   */
  private held: Map<string, { connection: ControlConnection; hello: ChannelHello }> | null = new Map();

  constructor(
    readonly socketPath: string,
    private readonly token: string,
    private readonly log: (line: string) => void,
  ) {
    this.server = createServer((socket) => this.accept(new ControlConnection(socket)));
  }

  /** Sidecars dialing in as `id` are handed to `attach`. */
  register(id: string, attach: AttachSidecar): void {
    this.sidecars.set(id, attach);
    const waiting = this.held?.get(id);
    if (waiting) {
      this.held!.delete(id);
      if (waiting.connection.open) attach(waiting.connection, waiting.hello);
    }
  }

  /** Startup is over: a sidecar no handle claimed is not part of this mesh any more. */
  settle(): void {
    const held = this.held;
    this.held = null;
    for (const { connection, hello } of held?.values() ?? []) this.refuseUnknown(connection, hello);
  }

  private refuseUnknown(connection: ControlConnection, hello: ChannelHello): void {
    // A sidecar of an instance this mesh no longer has (removed from the mesh file while it was down).
    this.log(`control channel: sidecar "${hello.sidecar}" (pid ${hello.pid}) is not part of this mesh; telling it to shut down`);
    connection.send({ type: 'shutdown' });
  }

  unregister(id: string): void {
    this.sidecars.delete(id);
  }

  /** Listens (a socket file left by a control plane that died is replaced), readable by this user only. */
  async listen(): Promise<void> {
    if (process.platform !== 'win32') rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    if (process.platform !== 'win32') chmodSync(this.socketPath, 0o600);
  }

  /** The first message must be a hello; the attached handle takes the channel's later messages. */
  private accept(connection: ControlConnection): void {
    const timer = setTimeout(() => connection.end('no hello'), HELLO_TIMEOUT_MS);
    connection.onEnd(() => clearTimeout(timer));
    connection.handleMessages((m) => {
      connection.handleMessages(() => {});
      clearTimeout(timer);
      const parsed = HelloSchema.safeParse(m);
      if (!parsed.success) {
        this.log(`control channel: refused a connection whose first message is not a hello: ${parsed.error.issues[0]?.message ?? ''}`);
        connection.end('bad hello');
        return;
      }
      const hello = parsed.data as ChannelHello;
      if (!sameToken(hello.token, this.token)) {
        // The token itself is never logged.
        this.log(`control channel: refused sidecar "${hello.sidecar}" (pid ${hello.pid}): wrong token`);
        connection.end('wrong token');
        return;
      }
      const attach = this.sidecars.get(hello.sidecar);
      if (!attach) {
        if (this.held) this.held.set(hello.sidecar, { connection, hello });
        else this.refuseUnknown(connection, hello);
        return;
      }
      attach(connection, hello);
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (process.platform !== 'win32') rmSync(this.socketPath, { force: true });
  }
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
