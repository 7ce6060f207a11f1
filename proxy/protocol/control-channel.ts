// The control channel: how a sidecar and the control plane carry the messages of ./index.ts. It is a local
// stream socket (a Unix domain socket, or a named pipe on Windows) in the run directory, not the fork's IPC
// channel, so that it can outlive either end as an xDS stream does: a sidecar whose control plane dies keeps
// serving with its last good config and dials again; a restarted control plane takes its sidecars back.
//
// The sidecar dials; its first frame is a hello carrying the run's token, its id and what it already runs
// (the version it applied and the ports it bound), so a control plane that has just started knows whether
// it re-adopts a sidecar that has been serving all along.
//
// Framing: [u32 big-endian length of what follows][u8 kind][payload]. Kind JSON carries a message as UTF-8
// JSON; kind SPANS carries a span batch's bytes as they are (./span-wire.ts), not re-encoded as JSON.
import type { Socket } from 'node:net';
import type { ControlMessage, ListenerPorts, SidecarMessage } from './index.js';

/** Where the sidecar dials, the token it presents, and how long it serves without a control plane. */
export const CONTROL_ENV = {
  socket: 'DEVMESH_CONTROL_SOCKET',
  token: 'DEVMESH_CONTROL_TOKEN',
  orphanGraceMs: 'DEVMESH_ORPHAN_GRACE_MS',
} as const;

export const CONTROL_PROTOCOL = 1;

export interface ChannelHello {
  type: 'hello';
  protocol: typeof CONTROL_PROTOCOL;
  token: string;
  /** The sidecar's id (an instance id, or `ingress-<service>`). */
  sidecar: string;
  pid: number;
  /** The config version it runs (0 before its first one) and the ports that config bound. */
  ackedVersion: number;
  ports: ListenerPorts | null;
}

const KIND_JSON = 1;
const KIND_SPANS = 2;
const HEADER_BYTES = 5;
/** A frame past this is not one we sent: the peer is not a devmesh control channel. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export type ChannelMessage = ControlMessage | SidecarMessage | ChannelHello;

/**
 * The frame of one message, in one buffer of its own: a span batch is copied in, because the exporter
 * reuses its buffer as soon as send returns, while the socket may hold the frame until the reader takes it.
 */
export function encodeFrame(msg: ChannelMessage): Buffer {
  if (msg.type === 'spans') {
    const frame = Buffer.allocUnsafe(HEADER_BYTES + msg.batch.byteLength);
    writeHeader(frame, KIND_SPANS, msg.batch.byteLength);
    frame.set(msg.batch, HEADER_BYTES);
    return frame;
  }
  const json = JSON.stringify(msg);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + Buffer.byteLength(json));
  const written = frame.write(json, HEADER_BYTES, 'utf8');
  writeHeader(frame, KIND_JSON, written);
  return frame;
}

function writeHeader(frame: Buffer, kind: number, payloadBytes: number): void {
  frame.writeUInt32BE(payloadBytes + 1, 0);
  frame[4] = kind;
}

export class ChannelError extends Error {}

/** Reassembles frames from a byte stream; each complete frame becomes a message. */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** Takes the next chunk; returns the messages it completed. Throws ChannelError on a malformed frame. */
  push(chunk: Buffer): unknown[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: unknown[] = [];
    while (this.pendingBytes >= 4) {
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length < 1 || length > MAX_FRAME_BYTES) throw new ChannelError(`frame of ${length} bytes is not a devmesh control frame`);
      if (this.pendingBytes < 4 + length) break;
      const frame = this.take(4 + length);
      const kind = frame[4];
      const payload = frame.subarray(HEADER_BYTES);
      if (kind === KIND_SPANS) out.push({ type: 'spans', batch: payload });
      else if (kind === KIND_JSON) {
        try {
          out.push(JSON.parse(payload.toString('utf8')));
        } catch (err) {
          throw new ChannelError(`a control frame is not JSON: ${(err as Error).message}`);
        }
      } else throw new ChannelError(`unknown control frame kind ${kind}`);
    }
    return out;
  }

  private peek(bytes: number): Buffer {
    if (this.pending[0]!.length >= bytes) return this.pending[0]!;
    this.pending = [Buffer.concat(this.pending)];
    return this.pending[0]!;
  }

  private take(bytes: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const frame = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return frame;
  }
}

/**
 * One end of an established channel: writes frames, reads messages, and says when it ends. Both the
 * sidecar and the control plane use it, so they frame alike.
 */
export class ControlConnection {
  private readonly reader = new FrameReader();
  private ended = false;
  private endedHandlers: ((why: string) => void)[] = [];

  constructor(
    readonly socket: Socket,
    private onMessage: (msg: unknown) => void = () => {},
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let messages: unknown[];
      try {
        messages = this.reader.push(chunk);
      } catch (err) {
        this.end(`malformed control frame: ${(err as Error).message}`);
        return;
      }
      for (const m of messages) {
        if (this.ended) return;
        this.onMessage(m);
      }
    });
    socket.on('error', (err) => this.end(`control channel error: ${err.message}`));
    socket.on('close', () => this.end('control channel closed'));
  }

  /** Where the messages that follow go (the control plane hands a channel over once its hello is checked). */
  handleMessages(onMessage: (msg: unknown) => void): void {
    this.onMessage = onMessage;
  }

  get open(): boolean {
    return !this.ended;
  }

  /** Sends a message; `written` runs once it is in the socket (or the channel is gone). */
  send(msg: ChannelMessage, written?: () => void): boolean {
    if (this.ended) {
      written?.();
      return false;
    }
    this.socket.write(encodeFrame(msg), () => written?.());
    return true;
  }

  onEnd(handler: (why: string) => void): void {
    if (this.ended) handler('control channel closed');
    else this.endedHandlers.push(handler);
  }

  end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    const handlers = this.endedHandlers;
    this.endedHandlers = [];
    for (const h of handlers) h(why);
  }
}
