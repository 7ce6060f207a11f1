// Bundles the React UI for the control plane to serve at `/`: renderer/main.tsx → dist/renderer/app.js,
// plus index.html and styles.css beside it. Production build by default; `--dev` keeps it readable
// with an inline source map (the server only serves app.js, so a separate .map file would 404).
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dev = process.argv.includes('--dev');
const outdir = join(root, 'dist', 'renderer');

await mkdir(outdir, { recursive: true });
const started = Date.now();
const result = await build({
  entryPoints: [join(root, 'renderer', 'main.tsx')],
  outfile: join(outdir, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Electron 45 ships Chromium 140; any current browser is at least as new.
  target: ['chrome120', 'firefox120', 'safari17'],
  jsx: 'automatic',
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  legalComments: dev ? 'inline' : 'none',
  define: { 'process.env.NODE_ENV': JSON.stringify(dev ? 'development' : 'production') },
  logLevel: 'warning',
  metafile: true,
});
await Promise.all(['index.html', 'styles.css'].map((f) => copyFile(join(root, 'renderer', f), join(outdir, f))));
// uPlot's stylesheet, and the mesh file's JSON Schema for the editor's completion (last build's copy: the
// schema is regenerated after this step and committed, so it is current for every commit).
await copyFile(join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css'), join(outdir, 'uPlot.min.css'));
await copyFile(join(root, 'schema', 'devmesh.schema.json'), join(outdir, 'devmesh.schema.json'));

const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`build-ui: dist/renderer/app.js ${(bytes / 1024).toFixed(0)} KiB${dev ? ' (dev)' : ''} in ${Date.now() - started} ms`);
