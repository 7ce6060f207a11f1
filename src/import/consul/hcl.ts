// HCL for Consul config entries. Consul parses them with hashicorp/hcl v1, whose block-inside-object
// syntax (`Match { HTTP { PathPrefix = "/" } }` inside a list element) HCL v2 parsers reject, so the
// parser here is hashicorp/hcl v1 itself, compiled to JavaScript (npm `js-hcl-parser`: MIT, no
// dependencies, no install script, synchronous). It is loaded on first use.
import { createRequire } from 'node:module';

interface HclModule {
  parse(text: string): string;
}

let hcl: HclModule | undefined;

function load(): HclModule {
  if (!hcl) {
    const limit = Error.stackTraceLimit;
    hcl = createRequire(import.meta.url)('js-hcl-parser') as HclModule;
    // The GopherJS runtime sets Error.stackTraceLimit to Infinity for the whole process; put it back.
    Error.stackTraceLimit = limit;
  }
  return hcl;
}

/** HCL text → the JSON value hashicorp/hcl v1 decodes it to (blocks become lists of objects). */
export function parseHcl(text: string): { value: unknown } | { error: string; line?: number } {
  let out: string;
  try {
    out = load().parse(text);
  } catch (err) {
    return { error: String((err as Error)?.message ?? err) };
  }
  if (typeof out !== 'string') return { error: 'the HCL parser returned nothing' };
  if (out.startsWith('unable to parse JSON:')) {
    const message = out.slice('unable to parse JSON:'.length).trim();
    const at = /^At (\d+):(\d+): /.exec(message);
    return at ? { error: message.slice(at[0].length), line: Number(at[1]) } : { error: message };
  }
  try {
    return { value: JSON.parse(out) as unknown };
  } catch {
    return { error: out.split('\n')[0] ?? 'unreadable HCL' };
  }
}
