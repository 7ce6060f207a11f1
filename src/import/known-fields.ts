// The fields an importer reads, per resource kind: the schema the shared unknown-field detector walks a
// resource against. A field outside it is dropped by the translation, whatever it is (a field of a newer
// API version, one devmesh does not support, a typo), so the report says so at its path instead of
// counting the resource as mapped. Each importer declares its own schema (istio/known-fields.ts, …);
// this file holds the shape and the walk.
import type { Path } from './context.js';

/**
 * `'*'`: known, and what is under it is not checked (a scalar, a label map, a block the importer reports
 * as a whole). An object: exactly these fields; the key `'*'` stands for any key (a map of user names to
 * the given shape). A one-element array: a list of the given shape.
 */
export type KnownFields = '*' | KnownFields[] | { [field: string]: KnownFields };

/** Field schemas of one format, by resource kind; a kind not listed is not checked. */
export type KnownKinds = Record<string, { root: Path; fields: KnownFields }>;

export interface UnknownFieldOptions {
  /** How a key is compared with the schema's (Consul reads CamelCase and snake_case alike). */
  key?: (key: string) => string;
}

/** Paths (from `at`) of the fields in `value` that `known` does not name. */
export function unknownFields(value: unknown, known: KnownFields, at: Path = [], opts: UnknownFieldOptions = {}): Path[] {
  const out: Path[] = [];
  const key = opts.key ?? ((k: string) => k);
  const walk = (v: unknown, k: KnownFields, path: Path): void => {
    if (k === '*' || v === null || typeof v !== 'object') return;
    if (Array.isArray(k)) {
      if (Array.isArray(v)) v.forEach((item, i) => walk(item, k[0]!, [...path, i]));
      return;
    }
    // A list where an object is expected: an HCL block (a list of one object), or a type error the
    // importer's own validation reports; either way its items are read as the object.
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, k, [...path, i]));
      return;
    }
    const fields = new Map(Object.entries(k).map(([name, shape]) => [key(name), shape]));
    for (const [name, child] of Object.entries(v as Record<string, unknown>)) {
      const shape = fields.get(key(name)) ?? fields.get('*');
      if (shape === undefined) out.push([...path, name]);
      else walk(child, shape, [...path, name]);
    }
  };
  walk(value, known, at);
  return out;
}
