// What the desktop app remembers between runs: the window's size and place, and the meshes opened last.
// A small JSON file in Electron's userData folder, validated on read (a hand-edited or truncated file falls
// back to defaults instead of failing the start).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

const Settings = z.object({
  window: z
    .object({ width: z.number().int().min(400), height: z.number().int().min(300), x: z.number().int().optional(), y: z.number().int().optional(), maximized: z.boolean().default(false) })
    .default({ width: 1360, height: 900, maximized: false }),
  recentMeshes: z.array(z.string()).max(10).default([]),
});
export type ShellSettings = z.infer<typeof Settings>;

export function readSettings(file: string): ShellSettings {
  try {
    return Settings.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return Settings.parse({});
  }
}

export function writeSettings(file: string, settings: ShellSettings): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(settings, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function rememberMesh(settings: ShellSettings, file: string): ShellSettings {
  return { ...settings, recentMeshes: [file, ...settings.recentMeshes.filter((f) => f !== file)].slice(0, 10) };
}
