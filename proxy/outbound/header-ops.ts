// Istio HeaderOperations on the two header shapes the proxy holds: the flat [name, value, ...] list it
// sends upstream, and the object it writes downstream. remove, then set (replaces), then add (appends).
import type { OutgoingHttpHeaders } from 'node:http';
import type { HeaderOps } from '../protocol/index.js';

export function applyRequestOps(headers: string[], ops: HeaderOps | undefined): string[] {
  if (ops === undefined) return headers;
  const drop = new Set<string>();
  for (const name of ops.remove ?? []) drop.add(name.toLowerCase());
  for (const name of Object.keys(ops.set ?? {})) drop.add(name.toLowerCase());
  let out = headers;
  if (drop.size > 0) {
    out = [];
    for (let i = 0; i < headers.length; i += 2) if (!drop.has(headers[i]!.toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
  }
  for (const [name, value] of Object.entries(ops.set ?? {})) out.push(name.toLowerCase(), value);
  for (const [name, value] of Object.entries(ops.add ?? {})) out.push(name.toLowerCase(), value);
  return out;
}

export function applyResponseOps(headers: OutgoingHttpHeaders, ops: HeaderOps | undefined): void {
  if (ops === undefined) return;
  for (const name of ops.remove ?? []) delete headers[name.toLowerCase()];
  for (const [name, value] of Object.entries(ops.set ?? {})) headers[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(ops.add ?? {})) {
    const key = name.toLowerCase();
    const existing = headers[key];
    if (existing === undefined) headers[key] = value;
    else headers[key] = [...(Array.isArray(existing) ? existing : [String(existing)]), value];
  }
}

/** Reads one cookie from a Cookie header without parsing the others. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
