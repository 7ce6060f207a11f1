// Reads devmesh.yaml and turns every problem into `file:line:column: message`, the way a compiler does,
// so an editor or terminal can jump to it. YAML syntax errors and schema errors use the same format.
import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { MeshSchema, type MeshFile } from './mesh-schema.js';

export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export class MeshConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}

function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** Position of the deepest node on `path` that exists in the document (a missing key points at its parent). */
function locate(doc: Document, lc: LineCounter, path: PropertyKey[]): { line: number; col: number } {
  for (let depth = path.length; depth >= 0; depth--) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]);
    if (isPair(node) && isNode(node.key) && node.key.range) return lc.linePos(node.key.range[0]);
  }
  return { line: 1, col: 1 };
}

function locateKey(doc: Document, lc: LineCounter, mapPath: PropertyKey[], key: string): { line: number; col: number } {
  const map: unknown = mapPath.length === 0 ? doc.contents : doc.getIn(mapPath as unknown[], true);
  if (isMap(map)) {
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
    if (pair && isNode(pair.key) && pair.key.range) return lc.linePos(pair.key.range[0]);
  }
  return locate(doc, lc, mapPath);
}

function describePath(path: PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}

function issueMessage(issue: z.core.$ZodIssue): string {
  const where = describePath(issue.path);
  if (issue.code === 'unrecognized_keys') return `${where ? where + ': ' : ''}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return where ? `${where}: ${issue.message}` : issue.message;
}

/** Parses and validates mesh text; `file` is only used in messages. */
export function parseMesh(text: string, file: string): MeshFile {
  const shown = displayPath(file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new MeshConfigError(
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { file: shown, line: pos.line, column: pos.col, message: `YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const result = MeshSchema.safeParse(doc.toJS() ?? {});
  if (!result.success) {
    throw new MeshConfigError(
      result.error.issues.map((issue) => {
        // An unknown key is best pointed at by the key itself.
        const pos =
          issue.code === 'unrecognized_keys' && issue.keys[0]
            ? locateKey(doc, lineCounter, issue.path, issue.keys[0])
            : locate(doc, lineCounter, issue.path);
        return { file: shown, line: pos.line, column: pos.col, message: issueMessage(issue) };
      }),
    );
  }
  return result.data;
}

export function loadMeshFile(file: string): MeshFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MeshConfigError([{ file: displayPath(file), line: 1, column: 1, message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  return parseMesh(text, file);
}
