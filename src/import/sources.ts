// Turns files, folders and uploaded texts into documents: multi-document YAML, JSON, HCL (Consul), and
// `kubectl get -o yaml` List output flattened into its items. A document that cannot be parsed becomes
// a located error; the other documents of the file still import.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { isNode, isPair, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { parseHcl } from './consul/hcl.js';

export interface InputFile {
  name: string;
  text: string;
}

export interface RawDocument {
  file: string;
  /** 0-based position in the file's YAML stream (0 for JSON and HCL). */
  document: number;
  /** Path of this object inside the document: [] or ['items', i] for a List. */
  base: (string | number)[];
  value: unknown;
  syntax: 'yaml' | 'json' | 'hcl';
  /** 1-based line of a field path (relative to `base`), when known. */
  lineOf(path: (string | number)[]): number | undefined;
  /** Set when the document could not be parsed at all. */
  error?: { message: string; line?: number };
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json', '.hcl']);

/** Files under PATHs (folders recursively, sorted), read as texts. Missing paths throw (a usage error). */
export function readInputs(paths: string[], cwd = process.cwd()): InputFile[] {
  const out: InputFile[] = [];
  const walk = (path: string, explicit: boolean): void => {
    const st = statSync(path);
    if (st.isDirectory()) {
      for (const name of readdirSync(path).sort()) if (!name.startsWith('.')) walk(join(path, name), false);
    } else if (explicit || EXTENSIONS.has(extname(path).toLowerCase())) {
      const rel = relative(cwd, path);
      out.push({ name: rel && !rel.startsWith('..') ? rel : path, text: readFileSync(path, 'utf8') });
    }
  };
  for (const p of paths) walk(p, true);
  return out;
}

function yamlLocator(doc: Document, lc: LineCounter, base: (string | number)[]) {
  return (path: (string | number)[]): number | undefined => {
    const full = [...base, ...path];
    for (let depth = full.length; depth >= 0; depth--) {
      try {
        const node: unknown = depth === 0 ? doc.contents : doc.getIn(full.slice(0, depth), true);
        if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
        if (isPair(node) && isNode(node.key) && node.key.range) return lc.linePos(node.key.range[0]).line;
      } catch {
        /* a path through a scalar: try a shorter one */
      }
    }
    return undefined;
  };
}

function looksLikeHcl(name: string, text: string): boolean {
  if (extname(name).toLowerCase() === '.hcl') return true;
  if (extname(name).toLowerCase() === '.json') return false;
  return /^\s*Kind\s*=/m.test(text);
}

/** All documents of one input. Never throws: a parse failure is a document with `error`. */
export function documentsOf(input: InputFile): RawDocument[] {
  const noLines = () => undefined;
  if (looksLikeHcl(input.name, input.text)) {
    const parsed = parseHcl(input.text);
    if ('error' in parsed) {
      return [{ file: input.name, document: 0, base: [], value: null, syntax: 'hcl', lineOf: noLines, error: { message: `HCL: ${parsed.error}`, ...(parsed.line ? { line: parsed.line } : {}) } }];
    }
    return [{ file: input.name, document: 0, base: [], value: parsed.value, syntax: 'hcl', lineOf: noLines }];
  }
  const syntax = extname(input.name).toLowerCase() === '.json' ? 'json' : 'yaml';
  const lc = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(input.text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true }) as Document.Parsed[];
    if (!Array.isArray(docs)) docs = [docs as unknown as Document.Parsed];
  } catch (err) {
    return [{ file: input.name, document: 0, base: [], value: null, syntax, lineOf: noLines, error: { message: `YAML: ${(err as Error).message}` } }];
  }
  const out: RawDocument[] = [];
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      out.push({ file: input.name, document: index, base: [], value: null, syntax, lineOf: noLines, error: { message: `YAML: ${e.message.split('\n')[0]}`, line: lc.linePos(e.pos[0]).line } });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      out.push({ file: input.name, document: index, base: [], value: null, syntax, lineOf: noLines, error: { message: `YAML: ${(err as Error).message}` } });
      return;
    }
    if (value === null || value === undefined) return; // an empty document between two ---
    // `kubectl get -o yaml`: kind List (or FooList) with items.
    const v = value as { kind?: unknown; items?: unknown };
    if (typeof v === 'object' && typeof v.kind === 'string' && /List$/.test(v.kind) && Array.isArray(v.items)) {
      v.items.forEach((item, i) => {
        out.push({ file: input.name, document: index, base: ['items', i], value: item, syntax, lineOf: yamlLocator(doc, lc, ['items', i]) });
      });
      return;
    }
    out.push({ file: input.name, document: index, base: [], value, syntax, lineOf: yamlLocator(doc, lc, []) });
  });
  return out;
}
