// Reads devmesh.yaml and turns every problem into `file:line:column: message`, the way a compiler does,
// so an editor or terminal can jump to it. YAML syntax errors and schema errors use the same format.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { crossCheck, MeshSchema, PolicyFileSchema, type MeshFile, type PolicyFile } from './mesh-schema.js';
import { fixedPortClashes, instancesOf } from './mesh-model.js';
import { unmatchedPatterns, watchSpecOf } from './watch-paths.js';

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

interface SourceDoc {
  shown: string;
  doc: Document;
  lc: LineCounter;
}

function problemAt(src: SourceDoc, path: PropertyKey[], message: string): ConfigProblem {
  const pos = locate(src.doc, src.lc, path);
  return { file: src.shown, line: pos.line, column: pos.col, message };
}

function parseYaml(text: string, file: string): SourceDoc {
  const shown = displayPath(file);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new MeshConfigError(
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { file: shown, line: pos.line, column: pos.col, message: `YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  return { shown, doc, lc };
}

/**
 * A union none of whose options fit says only "Invalid input". When exactly one option failed on a
 * refinement (a regex RE2 refuses, in a header match that may also be {}), its reason is the one to show,
 * at its own path.
 */
function unwrapUnion(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const refined = issue.errors
    .map((branch) => branch.flatMap(unwrapUnion).filter((i) => i.code === 'custom'))
    .filter((custom) => custom.length > 0);
  if (refined.length !== 1) return [issue];
  return refined[0]!.map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
}

function validate<S extends z.ZodType>(src: SourceDoc, schema: S): z.infer<S> {
  const result = schema.safeParse(src.doc.toJS() ?? {});
  if (result.success) return result.data;
  throw new MeshConfigError(
    result.error.issues.flatMap(unwrapUnion).map((issue) => {
      // An unknown key is best pointed at by the key itself.
      const pos =
        issue.code === 'unrecognized_keys' && issue.keys[0]
          ? locateKey(src.doc, src.lc, issue.path, issue.keys[0])
          : locate(src.doc, src.lc, issue.path);
      return { file: src.shown, line: pos.line, column: pos.col, message: issueMessage(issue) };
    }),
  );
}

const KEYED_SECTIONS = ['routes', 'policies', 'serviceMtls', 'external'] as const;

/**
 * Parses and validates mesh text, merging the policy files it includes (their entries override the mesh
 * file's, per service; authorization policies by name; mtls and tracing, mesh-wide, as a whole). `file`
 * names the text in messages and anchors relative include paths.
 */
export function parseMesh(text: string, file: string, readInclude: (path: string) => string = (p) => readFileSync(p, 'utf8')): MeshFile {
  const main = parseYaml(text, file);
  const mesh = validate(main, MeshSchema);
  // Where each merged entry came from, so a cross-reference error points into the right file.
  const origins = new Map<string, { src: SourceDoc; prefix: (string | number)[] }>();
  const problems: ConfigProblem[] = [];
  for (const [i, include] of (mesh.include ?? []).entries()) {
    const path = resolve(dirname(file), include);
    let incText: string;
    try {
      incText = readInclude(path);
    } catch (err) {
      problems.push(problemAt(main, ['include', i], `include[${i}]: cannot read ${include}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
      continue;
    }
    let src: SourceDoc;
    let policy: PolicyFile;
    try {
      src = parseYaml(incText, path);
      policy = validate(src, PolicyFileSchema);
    } catch (err) {
      if (!(err instanceof MeshConfigError)) throw err;
      problems.push(...err.problems);
      continue;
    }
    if (policy.mtls) mesh.mtls = policy.mtls;
    if (policy.tracing) mesh.tracing = policy.tracing;
    for (const section of KEYED_SECTIONS) {
      const entries = policy[section];
      if (!entries) continue;
      const target: Record<string, unknown> = (mesh[section] ??= {});
      for (const [key, value] of Object.entries(entries)) {
        target[key] = value;
        origins.set(`${section}\0${key}`, { src, prefix: [section, key] });
      }
    }
    (policy.authorization ?? []).forEach((p, j) => {
      const list = (mesh.authorization ??= []);
      const existing = list.findIndex((q) => q.name === p.name && q.service === p.service);
      const index = existing >= 0 ? existing : list.length;
      list[index] = p;
      origins.set(`authorization\0${index}`, { src, prefix: ['authorization', j] });
    });
  }
  if (problems.length > 0) throw new MeshConfigError(problems);
  const issues = crossCheck(mesh);
  // Processes listen on the host: instances sharing a fixed port cannot all start (containers are
  // checked when the engine's networking is known, in the control plane).
  if (issues.length === 0) {
    for (const clash of fixedPortClashes(instancesOf(mesh, dirname(file)), false)) {
      issues.push({
        path: ['services', clash.services[0]!, 'port'],
        message: `${clash.ids.join(', ')} would all listen on port ${clash.port}, which only one process can: remove port (each instance then gets a free one in PORT)${clash.services.length > 1 ? ', or give each service its own' : ''}`,
      });
    }
  }
  if (issues.length > 0) {
    throw new MeshConfigError(
      issues.map((issue) => {
        const from = origins.get(`${String(issue.path[0])}\0${String(issue.path[1])}`);
        const where = describePath(issue.path);
        return from
          ? problemAt(from.src, [...from.prefix, ...issue.path.slice(2)], `${where}: ${issue.message}`)
          : problemAt(main, issue.path, `${where}: ${issue.message}`);
      }),
    );
  }
  return mesh;
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

/** The files a mesh reads: itself and its includes (what a running mesh watches). */
export function meshFilesOf(file: string, mesh: MeshFile): string[] {
  return [file, ...(mesh.include ?? []).map((inc) => resolve(dirname(file), inc))];
}

/**
 * What is valid but likely a mistake, located like a problem: a watch pattern that matches no file now
 * (a warning, not an error: the file may be created later, and is watched for).
 */
export function meshWarnings(file: string, mesh: MeshFile, text?: string): ConfigProblem[] {
  const withWatch = Object.entries(mesh.services).filter(([, svc]) => svc.watch !== undefined);
  if (withWatch.length === 0) return [];
  const src = parseYaml(text ?? readFileSync(file, 'utf8'), file);
  const warnings: ConfigProblem[] = [];
  for (const [name, svc] of withWatch) {
    const spec = watchSpecOf(svc.watch)!;
    const unmatched = new Set(unmatchedPatterns(dirname(file), spec));
    const at = Array.isArray(svc.watch) ? ['services', name, 'watch'] : ['services', name, 'watch', 'paths'];
    spec.paths.forEach((pattern, i) => {
      if (unmatched.has(pattern)) {
        warnings.push(problemAt(src, [...at, i], `${describePath([...at, i])}: "${pattern}" matches no file yet; it is watched anyway, and a matching file created later restarts ${name}`));
      }
    });
  }
  return warnings;
}
