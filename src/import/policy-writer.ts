// Writes an imported policy beside the mesh file and includes it from the mesh file. The mesh file is
// edited through the `yaml` Document API, so the user's comments, order and formatting stay as they
// were; only an `include:` entry is added (once). A running mesh watches both files and pushes the
// result through its normal config reload.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, stringify } from 'yaml';
import { parseMesh } from '../config/load-mesh.js';
import type { PolicyFile } from '../config/mesh-schema.js';

export const POLICY_FILE = 'devmesh.policy.yaml';

export interface WritePlan {
  policyPath: string;
  policyText: string;
  meshText: string;
  /** The mesh file gains an include entry. */
  meshChanged: boolean;
}

export function policyText(policy: PolicyFile, sources: string[]): string {
  const header = [
    '# Written by `devmesh import` from:',
    ...sources.slice(0, 20).map((s) => `#   ${s}`),
    ...(sources.length > 20 ? [`#   ... and ${sources.length - 20} more`] : []),
    '# Importing again replaces this file. devmesh.yaml includes it; its entries override the mesh file\'s per service.',
  ].join('\n');
  const body = Object.keys(policy).length ? stringify(policy, { lineWidth: 0 }) : '{}\n';
  return `${header}\n${body}`;
}

/**
 * The mesh text with `include` listing `entry` (unchanged when it already does). The Document API finds
 * where; the edit itself is a splice of the original text, so every other byte (comments, flow style,
 * spacing) stays as the user wrote it.
 */
export function withInclude(meshText: string, entry: string): { text: string; changed: boolean } {
  const doc = parseDocument(meshText);
  const contents = doc.contents;
  if (!isMap(contents)) throw new Error('the mesh file is not a map');
  const lineStart = (pos: number) => meshText.lastIndexOf('\n', pos - 1) + 1;
  const lineEnd = (pos: number) => {
    const i = meshText.indexOf('\n', pos);
    return i < 0 ? meshText.length : i;
  };
  const existing = contents.get('include', true);
  let text: string;
  if (isSeq(existing)) {
    if (existing.items.some((i) => isScalar(i) && i.value === entry)) return { text: meshText, changed: false };
    const range = existing.range!;
    if (existing.flow) {
      const close = meshText.lastIndexOf(']', range[1]);
      text = `${meshText.slice(0, close)}${existing.items.length ? ', ' : ''}${entry}${meshText.slice(close)}`;
    } else {
      const first = existing.items[0] as { range?: [number, number, number] } | undefined;
      const last = existing.items[existing.items.length - 1] as { range?: [number, number, number] } | undefined;
      const dash = first?.range ? meshText.lastIndexOf('-', first.range[0]) : range[0];
      const indent = ' '.repeat(dash - lineStart(dash));
      const at = lineEnd(last?.range ? last.range[1] : range[1]);
      text = `${meshText.slice(0, at)}\n${indent}- ${entry}${meshText.slice(at)}`;
    }
  } else {
    // Right after name/mtls, where a reader looks for what the file pulls in.
    const keys = contents.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
    const after = Math.max(...['$schema', 'name', 'mtls'].map((k) => keys.indexOf(k)));
    const next = contents.items[after + 1];
    const nextKey = next && isScalar(next.key) ? next.key.range?.[0] : undefined;
    const at = nextKey !== undefined ? lineStart(nextKey) : meshText.length;
    const block = `include:\n  - ${entry}\n`;
    text = at === meshText.length && !meshText.endsWith('\n') ? `${meshText}\n${block}` : `${meshText.slice(0, at)}${block}${meshText.slice(at)}`;
  }
  const check = parseDocument(text).get('include');
  if (!isSeq(check) || !check.items.some((i) => isScalar(i) && i.value === entry)) throw new Error('could not add the include to the mesh file; add it by hand');
  return { text, changed: true };
}

/** Validates the mesh as it will be with the new policy, without writing; throws MeshConfigError. */
export function planWrite(meshFile: string, policy: PolicyFile, sources: string[]): WritePlan {
  const policyPath = join(dirname(meshFile), POLICY_FILE);
  const text = policyText(policy, sources.map((s) => relative(dirname(meshFile), s) || basename(s)));
  const { text: meshText, changed } = withInclude(readFileSync(meshFile, 'utf8'), POLICY_FILE);
  parseMesh(meshText, meshFile, (p) => (p === policyPath ? text : readFileSync(p, 'utf8')));
  return { policyPath, policyText: text, meshText, meshChanged: changed };
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Policy first, then the include: a watcher never sees an include of a file that is not there yet. */
export function applyWrite(meshFile: string, plan: WritePlan): void {
  atomicWrite(plan.policyPath, plan.policyText);
  if (plan.meshChanged) atomicWrite(meshFile, plan.meshText);
}
