import type { Server } from 'node:net';

/** Binds 127.0.0.1:`port` (0 = any free port) and resolves the bound port; EADDRINUSE reads "port N in use". */
export function listenLoopback(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(new Error(err.code === 'EADDRINUSE' ? `port ${port} in use` : err.code === 'EACCES' ? `port ${port} not permitted` : err.message));
    };
    const onListening = (): void => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host: '127.0.0.1', exclusive: true });
  });
}
