// Request bodies are buffered so a retry can send them again, up to a limit; beyond it they stream
// (and the request is not retried), so one large upload cannot make the sidecar hold its size in memory.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export const MAX_BUFFERED_BODY = 1024 * 1024;

/** A Buffer (replayable), a Readable (streaming, single use). */
export type RequestBody = Buffer | Readable;

export function readRequestBody(req: IncomingMessage): Promise<RequestBody> {
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BUFFERED_BODY) return Promise.resolve(req);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_BUFFERED_BODY) {
        cleanup();
        req.pause();
        resolve(Readable.from(replay(chunks, req), { objectMode: false }));
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

async function* replay(head: Buffer[], rest: IncomingMessage): AsyncGenerator<Buffer> {
  yield* head;
  for await (const chunk of rest) yield chunk as Buffer;
}
