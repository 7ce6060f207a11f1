// Bundles the compiled proxy (dist/proxy/main.js and what it imports, zod included) into one file,
// dist/bundle/proxy/main.js, which the control plane starts for every sidecar. Node's ES module loader
// resolves, reads and links each of the proxy's files one by one; from one file a sidecar boots with a
// quarter to a third less CPU (docs/traffic.md, "Start-up"), which a 30-service `up` pays 31 times on a
// laptop's few cores. prom-client (three of its files) and re2js (at a config's first regex) are loaded
// through createRequire, which a bundler does not follow: the banner gives the bundle a `require` for them.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = join(root, 'dist', 'bundle', 'proxy', 'main.js');
const started = Date.now();
const result = await build({
  entryPoints: [join(root, 'dist', 'proxy', 'main.js')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Readable stack traces in a sidecar's log: names and lines kept, only joined into one file.
  minify: false,
  sourcemap: false,
  banner: { js: "import { createRequire as __devmeshCreateRequire } from 'node:module'; const require = __devmeshCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
});
// What it was made from: the control plane starts the bundle only while these files are unchanged
// (a `tsc` alone since leaves it stale; see proxyEntry in src/control-plane/sidecar-handle.ts).
const inputs = Object.fromEntries(
  Object.keys(result.metafile.inputs)
    .filter((path) => path.startsWith('dist/proxy/'))
    .sort()
    .map((path) => [path.slice('dist/proxy/'.length), createHash('sha256').update(readFileSync(join(root, path))).digest('hex')]),
);
writeFileSync(join(root, 'dist', 'bundle', 'proxy', 'inputs.json'), `${JSON.stringify(inputs, null, 1)}\n`);
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`bundle-proxy: dist/bundle/proxy/main.js ${(bytes / 1024).toFixed(0)} KiB from ${Object.keys(result.metafile.inputs).length} files in ${Date.now() - started} ms`);
