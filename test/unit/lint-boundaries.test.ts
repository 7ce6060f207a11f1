// The lint's boundary rules (eslint.config.js) fire where the architecture says they should, with the rule's
// reason in the message, and stay quiet on the allowed paths. Each source is linted in memory at a path
// inside the boundary it tests, so no violation is ever committed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';
import { REPO } from '../helpers/mesh-process.js';

const eslint = new ESLint({ cwd: REPO });

/** The no-restricted-imports messages for `code` placed at `filePath`. */
async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\n`, { filePath });
  assert.ok(result, `no lint result for ${filePath}`);
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports' && m.severity === 2).map((m) => m.message);
}

const VIOLATIONS: { file: string; code: string; says: string }[] = [
  { file: 'proxy/listener/violation.ts', code: "export { loadMeshConfig } from '../../src/config/load.js';", says: 'the proxy may import only proxy/' },
  { file: 'proxy/inbound/violation.ts', code: "export * from '../outbound/violation.js';", says: 'the inbound and outbound wings are parallel stacks' },
  { file: 'proxy/outbound/violation.ts', code: "export * from '../inbound/violation.js';", says: 'the inbound and outbound wings are parallel stacks' },
  { file: 'proxy/protocol/violation.ts', code: "export * from '../errors.js';", says: 'the wire protocol is a leaf' },
  { file: 'renderer/pages/Violation.tsx', code: "export { readFileSync } from 'node:fs';", says: 'never Node code' },
  { file: 'renderer/pages/Violation.tsx', code: "export * from '../../src/config/load.js';", says: 'the UI may import only renderer/ and src/contract/' },
  { file: 'src/contract/violation.ts', code: "export { z } from 'zod';", says: 'the contract is plain types that import nothing else' },
  { file: 'src/config/violation.ts', code: "export * from '../../proxy/protocol/snapshot.js';", says: 'only through proxy/protocol/index.ts' },
  { file: 'src/control-plane/violation.ts', code: "export * from '../api/api-server.js';", says: 'the control plane is composed by src/host' },
  { file: 'src/telemetry/violation.ts', code: "export * from '../host/host.js';", says: 'only src/cli and src/electron compose the mesh through src/host' },
  { file: 'src/electron/main.ts', code: "export { ipcMain } from 'electron';", says: 'use src/electron/ipc-main.ts' },
  { file: 'test/unit/violation.ts', code: "import { ipcRenderer } from 'electron';\nexport const send = ipcRenderer.send;", says: 'the preload bridge typed by src/contract/ipc.ts' },
];

const ALLOWED: { file: string; code: string }[] = [
  { file: 'src/config/allowed.ts', code: "export * from '../../proxy/protocol/index.js';" },
  { file: 'renderer/pages/Allowed.tsx', code: "export type { ApiStatus } from '../../src/contract/api.js';" },
  { file: 'proxy/inbound/allowed.ts', code: "export * from '../errors.js';" },
  { file: 'src/cli/allowed.ts', code: "export * from '../host/host.js';" },
  { file: 'src/electron/ipc-main.ts', code: "export { ipcMain } from 'electron';" },
  { file: 'src/electron/preload.cts', code: "export { ipcRenderer } from 'electron';" },
];

test('an import across a boundary is a lint error that says the rule', async () => {
  for (const { file, code, says } of VIOLATIONS) {
    const errors = await boundaryErrors(file, code);
    assert.equal(errors.length, 1, `${file}: ${code} → ${JSON.stringify(errors)}`);
    assert.ok(errors[0]!.includes(says), `${file}: "${errors[0]}" should say "${says}"`);
  }
});

test('the allowed paths across those boundaries lint clean', async () => {
  for (const { file, code } of ALLOWED) assert.deepEqual(await boundaryErrors(file, code), [], `${file}: ${code}`);
});
