// devmesh's own package.json (the version `--version` prints, the Node range doctor checks). It sits three
// folders above this file once compiled (dist/src/cli/), in a checkout and in an installed package alike.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const PackageJson = z.object({ version: z.string(), engines: z.object({ node: z.string() }).partial().optional() });

export function packageInfo(): { version: string; nodeRange: string } {
  const pkg = PackageJson.parse(JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')));
  return { version: pkg.version, nodeRange: pkg.engines?.node ?? '>=20' };
}

/** Whether `version` (x.y.z) satisfies a ">=x.y.z" range, the only form devmesh's engines field uses. */
export function satisfiesMinimum(version: string, range: string): boolean {
  const min = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(range.trim());
  const have = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!min || !have) return true;
  for (let i = 1; i <= 3; i++) {
    const d = Number(have[i]) - Number(min[i]);
    if (d !== 0) return d > 0;
  }
  return true;
}
