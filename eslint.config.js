// ESLint for the whole repository: typescript-eslint's recommended rules, plus the house rules that keep the
// architecture one-way (ARCHITECTURE.md: renderer → contract ← control plane → proxy protocol ← proxy) and
// raw Electron IPC inside its two wrappers. test/unit/architecture.test.ts checks the same boundaries over the
// whole tree; the lint says it in the editor, at the import, with the rule's reason.
import { readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

const REPO = dirname(fileURLToPath(import.meta.url));
const SOURCES = '*.{ts,tsx,cts,mts,js,mjs,cjs}';

/**
 * Import boundaries, by folder (paths from the repository root, imports written as `.js`).
 * `allowed`: a relative import that resolves anywhere else is an error; `forbidden`: one that resolves there is.
 * An entry ending in `/` is a folder, otherwise one file. `except` folders have a rule of their own.
 */
const BOUNDARIES = [
  { from: 'src/contract', allowed: ['src/contract/'], packages: 'none', why: 'the contract is plain types that import nothing else' },
  { from: 'proxy', allowed: ['proxy/'], why: 'the proxy may import only proxy/ (and npm packages), never the control plane' },
  { from: 'renderer', allowed: ['renderer/', 'src/contract/'], packages: 'no-node', why: 'the UI may import only renderer/ and src/contract/, never Node code' },
  { from: 'src', except: ['src/contract'], allowed: ['src/', 'proxy/protocol/index.js'], why: 'the control plane reaches the proxy only through proxy/protocol/index.ts' },
  { from: 'proxy/protocol', allowed: ['proxy/protocol/'], why: 'the wire protocol is a leaf: both sides import it, it imports neither' },
  { from: 'proxy/inbound', forbidden: ['proxy/outbound/'], why: 'the inbound and outbound wings are parallel stacks; what both need lives in proxy/ beside them' },
  { from: 'proxy/outbound', forbidden: ['proxy/inbound/'], why: 'the inbound and outbound wings are parallel stacks; what both need lives in proxy/ beside them' },
  {
    from: 'src/control-plane',
    forbidden: ['src/api/', 'src/import/', 'src/host/', 'src/cli/', 'src/electron/'],
    why: 'the control plane is composed by src/host and served by src/api; it never imports its callers (api, import, host, cli, electron)',
  },
  { from: 'src/api', forbidden: ['src/cli/', 'src/host/', 'src/electron/'], why: 'the API serves the control plane; the entry points (cli, host, electron) use it, not the other way round' },
  { from: 'src', except: ['src/cli', 'src/electron', 'src/host', 'src/contract'], forbidden: ['src/host/'], why: 'only src/cli and src/electron compose the mesh through src/host' },
  { from: 'src', except: ['src/cli', 'src/contract'], forbidden: ['src/cli/'], why: 'src/cli is the devmesh command, an entry point: nothing else imports it' },
];

/**
 * Files that still break a boundary, each with the boundaries it is let off and why. Keep this empty:
 * it is here so a refactor in flight can land the lint first, and the lint says when the entry can go.
 */
const PENDING = [];

const RAW_IPC = {
  name: 'electron',
  importNames: ['ipcMain', 'ipcRenderer'],
  message:
    'raw IPC lives only in its wrappers: in the main process use src/electron/ipc-main.ts (handleInvokes, send); the window gets the preload bridge typed by src/contract/ipc.ts (window.devmesh).',
};
/** The wrappers themselves: the main-process side and the preload. */
const IPC_WRAPPERS = ['src/electron/ipc-*.ts', 'src/electron/preload.cts'];

const escapeRegex = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const inside = (path, folder) => `${path}/`.startsWith(folder);
/** The regex start of a relative import that climbs `up` folders: `./`, `../`, `../../`… and no further. */
const climb = (up) => (up === 0 ? '^\\./' : `^(\\.\\./){${up}}`) + '(?!\\.\\./)';

/**
 * no-restricted-imports only sees the import as written, so each rule becomes one regex per climb depth
 * from `dir`: `(../){k}rest` resolves to ancestor_k(dir)/rest, and that is what the rule judges.
 */
function patternsFor(dir, rule) {
  const segments = dir.split('/');
  const regexes = [];
  for (let up = 0; up <= segments.length; up++) {
    const base = segments.slice(0, segments.length - up).join('/');
    const under = (entry) => (base === '' ? entry : entry.startsWith(`${base}/`) ? entry.slice(base.length + 1) : null);
    const tail = (entry) => escapeRegex(entry) + (entry.endsWith('/') ? '' : '$');
    if (rule.allowed) {
      if (base !== '' && rule.allowed.some((entry) => entry.endsWith('/') && inside(base, entry))) continue;
      const reachable = rule.allowed.map(under).filter((rest) => rest !== null);
      regexes.push(climb(up) + (reachable.length ? `(?!(${reachable.map(tail).join('|')}))` : ''));
    } else {
      for (const rest of rule.forbidden.map(under).filter((r) => r !== null)) regexes.push(climb(up) + tail(rest));
    }
  }
  if (rule.allowed) regexes.push(`^(\\.\\./){${segments.length + 1}}`); // out of the repository altogether
  if (rule.packages === 'none') regexes.push('^[^.]');
  if (rule.packages === 'no-node') regexes.push(`^(node:|(${builtinModules.map(escapeRegex).join('|')})(/|$))`);
  return regexes.map((regex) => ({ regex, message: `${rule.why} (${rule.from}/ boundary, ARCHITECTURE.md).` }));
}

function restrictedImports(dir, { rawIpc, letOff = [], testFile = false }) {
  const rules = BOUNDARIES.filter(
    (rule) => inside(dir, `${rule.from}/`) && !(rule.except ?? []).some((folder) => inside(dir, `${folder}/`)) && !letOff.includes(rule.from),
  ).map((rule) => (testFile && rule.allowed ? { ...rule, allowed: [...rule.allowed, 'test/helpers/'] } : rule));
  return ['error', { paths: rawIpc ? [] : [RAW_IPC], patterns: rules.flatMap((rule) => patternsFor(dir, rule)) }];
}

/** Every folder under the bounded roots, read at each run, so a new folder is covered from its first file. */
function folders(dir) {
  return [dir, ...readdirSync(join(REPO, dir), { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => folders(posix.join(dir, e.name)))];
}
const BOUNDED = ['src', 'proxy', 'renderer'].flatMap(folders);

export default defineConfig(
  { ignores: ['dist/', 'release/', 'fixtures/', 'schema/', '.devmesh/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The codebase's convention for a binding that must exist but is unused: a leading underscore
      // (positional parameters, fields dropped from a copy with a rest pattern).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  { files: ['scripts/**', 'bin/**', 'eslint.config.js'], languageOptions: { globals: globals.node } },
  {
    files: ['renderer/**'],
    plugins: { 'react-hooks': reactHooks },
    // The classic hook rules. The plugin's React Compiler rules (purity, refs, set-state-in-effect…) are left
    // out: the UI is not built with the compiler, and they flag render-time Date.now() and ref reads it relies on.
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  // Outside the bounded folders (test/, scripts/…) only the IPC rule applies; then one block per folder,
  // since a later no-restricted-imports setting replaces an earlier one instead of adding to it.
  { rules: { 'no-restricted-imports': restrictedImports('', { rawIpc: false }) } },
  ...BOUNDED.map((dir) => ({ files: [`${dir}/${SOURCES}`], rules: { 'no-restricted-imports': restrictedImports(dir, { rawIpc: false }) } })),
  // A unit test beside its module keeps its folder's boundaries, and may also use the shared test helpers
  // (as test/unit/architecture.test.ts allows).
  ...BOUNDED.map((dir) => ({ files: [`${dir}/*.test.ts`], rules: { 'no-restricted-imports': restrictedImports(dir, { rawIpc: false, testFile: true }) } })),
  { files: IPC_WRAPPERS, rules: { 'no-restricted-imports': restrictedImports('src/electron', { rawIpc: true }) } },
  ...PENDING.map(({ file, from }) => ({ files: [file], rules: { 'no-restricted-imports': restrictedImports(posix.dirname(file), { rawIpc: false, letOff: [from] }) } })),
);
