// Consul config entries as HCL (hashicorp/hcl v1, what `consul config write` reads): `Key = value` lines,
// objects as `Key = { … }`, lists as `[ … ]`. Schema keys are bare identifiers; keys of data maps (subset
// names, header names) are quoted strings. Strings are written as JSON strings, whose escapes HCL shares.
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function key(k: string): string {
  return IDENT.test(k) ? k : JSON.stringify(k);
}

function value(v: unknown, indent: string): string {
  if (v === null || v === undefined) return '""';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.every((x) => typeof x !== 'object' || x === null)) return `[${v.map((x) => value(x, inner)).join(', ')}]`;
    return `[\n${v.map((x) => `${inner}${value(x, inner)},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${key(k)} = ${value(x, inner)}`).join('\n')}\n${indent}}`;
}

/** One config entry (Kind, Name, …) as an HCL file. */
export function hclEntry(entry: Record<string, unknown>): string {
  return `${Object.entries(entry).filter(([, x]) => x !== undefined).map(([k, x]) => `${key(k)} = ${value(x, '')}`).join('\n')}\n`;
}
