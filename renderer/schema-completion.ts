// Completion for the mesh file from its JSON Schema (schema/devmesh.schema.json, served beside the UI):
// the YAML path at the cursor is read from indentation, the schema is walked along it, and the keys (with
// their descriptions) or enum values allowed there are offered. The schema has no $refs, so walking is
// properties / additionalProperties / items / anyOf.
import type { CompletionContext, CompletionResult } from '@codemirror/autocomplete';

export interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  required?: string[];
}

/** Path of keys enclosing `lineNo` (1-based) in YAML text, from indentation; list items add a '[]' step. */
export function yamlPathAt(lines: readonly string[], lineNo: number, column: number): { path: string[]; inValue: boolean; key: string | null } {
  const line = lines[lineNo - 1] ?? '';
  const before = line.slice(0, column);
  const keyMatch = /^(\s*)(- )?([\w.$-]+):\s*(.*)$/.exec(before);
  const inValue = keyMatch !== null && before.trimEnd().length > before.indexOf(':') - 0 && before.includes(':');
  let indent = /^(\s*)/.exec(line)![1]!.length;
  const path: string[] = [];
  const dashHere = /^\s*- /.test(line);
  if (dashHere) path.unshift('[]');
  // The item's own keys sit at the indentation after "- ".
  if (dashHere) indent = indent + 0;
  for (let i = lineNo - 2; i >= 0 && indent > 0; i--) {
    const l = lines[i]!;
    if (l.trim() === '' || l.trim().startsWith('#')) continue;
    const ind = /^(\s*)/.exec(l)![1]!.length;
    if (ind >= indent) {
      // A sibling list item above at the same indent: still inside the same list.
      continue;
    }
    const m = /^(\s*)(- )?([\w.$-]+):/.exec(l);
    const itemOnly = /^(\s*)- /.test(l);
    if (m) {
      path.unshift(m[3]!);
      if (m[2]) path.unshift('[]');
    } else if (itemOnly) path.unshift('[]');
    indent = ind;
  }
  return { path, inValue: inValue && keyMatch !== null, key: keyMatch?.[3] ?? null };
}

function variants(s: JsonSchema | undefined): JsonSchema[] {
  if (!s) return [];
  return s.anyOf ? s.anyOf.flatMap(variants) : [s];
}

export function schemaAt(root: JsonSchema, path: readonly string[]): JsonSchema[] {
  let current = [root];
  for (const step of path) {
    const next: JsonSchema[] = [];
    for (const s of current.flatMap(variants)) {
      if (step === '[]') {
        if (s.items) next.push(s.items);
      } else if (s.properties?.[step]) next.push(s.properties[step]!);
      else if (typeof s.additionalProperties === 'object') next.push(s.additionalProperties);
    }
    current = next;
  }
  return current.flatMap(variants);
}

export function schemaCompletion(getSchema: () => JsonSchema | null) {
  return (ctx: CompletionContext): CompletionResult | null => {
    const schema = getSchema();
    if (!schema) return null;
    const word = ctx.matchBefore(/[\w.$-]*/);
    if (!word || (word.from === word.to && !ctx.explicit)) return null;
    const doc = ctx.state.doc;
    const line = doc.lineAt(ctx.pos);
    const lines = doc.toString().split('\n');
    const col = ctx.pos - line.from;
    const text = line.text.slice(0, col);
    const valueMatch = /^(\s*)(- )?([\w.$-]+):\s+[\w.$-]*$/.exec(text);
    if (valueMatch) {
      // A value: offer the enum of that key.
      const { path } = yamlPathAt(lines, line.number, col);
      const options = schemaAt(schema, [...path, valueMatch[3]!]).flatMap((s) => s.enum ?? []);
      if (options.length === 0) return null;
      return { from: word.from, options: options.map((v) => ({ label: String(v), type: 'enum' })) };
    }
    if (!/^\s*(- )?[\w.$-]*$/.test(text)) return null;
    const { path } = yamlPathAt(lines, line.number, col);
    const here = schemaAt(schema, path);
    const seen = new Set<string>();
    const options = here.flatMap((s) =>
      Object.entries(s.properties ?? {}).flatMap(([key, sub]) => {
        if (seen.has(key)) return [];
        seen.add(key);
        return [{ label: key, type: 'property', detail: Array.isArray(sub.type) ? sub.type.join('|') : (sub.type ?? ''), info: sub.description ?? '', apply: `${key}: ` }];
      }),
    );
    return options.length ? { from: word.from, options } : null;
  };
}
