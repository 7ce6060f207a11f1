// What every devmesh command does with its output streams and its failures: a reader that goes away
// (`devmesh status | head -1`) ends the command quietly instead of with an EPIPE stack trace, and a failure
// is one line on stderr, or with --json one JSON object on stdout, with the exit status of the convention
// (1 failed, 2 usage).
import { MeshConfigError } from '../config/load-mesh.js';
import { NoMeshError } from './mesh-client.js';
import { UsageError } from './usage-error.js';

/** What to do when stdout's reader has gone; `up` replaces it with stopping its mesh first. */
let brokenPipe: () => void = () => process.exit(0);

export function onBrokenPipe(fn: () => void): void {
  brokenPipe = fn;
}

/** Installs the EPIPE handling on stdout and stderr; any other stream error is still thrown. */
export function exitOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      brokenPipe();
    });
  }
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Prints a failure as the convention wants it and returns the exit status. */
export function reportFailure(err: unknown, json: boolean): number {
  const message = err instanceof Error ? err.message : String(err);
  const status = err instanceof UsageError ? EXIT.usage : EXIT.failed;
  const code = err instanceof UsageError ? 'USAGE' : err instanceof NoMeshError ? err.code : err instanceof MeshConfigError ? err.code : 'FAILED';
  if (json) {
    const body = {
      ok: false,
      code,
      error: message,
      ...(err instanceof NoMeshError ? { running: false } : {}),
      ...(err instanceof MeshConfigError ? { problems: err.problems } : {}),
    };
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else process.stderr.write(err instanceof MeshConfigError ? `${message}\n` : `devmesh: ${message}\n`);
  return status;
}
