// Links into the UI, written by the CLI and read by the renderer: one form, defined once.
//
//   http://127.0.0.1:PORT/#/traces?trace=<id>&span=<id>&token=<token>
//
// The screen and its parameters live in the URL fragment, and the token is one more parameter of it.
// Browsers never send a fragment to the server (RFC 3986 §3.5: it is split off before the request), so the token stays on the
// machine; the UI reads it once, keeps it in sessionStorage (a reload of the tab still has it) and removes
// it from the address bar, so the link left in history, bookmarks or a screenshot carries no secret.
// `#token=<token>` alone (what `devmesh up` prints) opens the overview; the walking skeleton's
// `#trace=<id>&token=<token>` still opens that trace.

/** A link to `screen` (e.g. "traces") with its parameters, carrying the token in the fragment. */
export function uiLink(origin: string, token: string, screen?: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams(params);
  q.set('token', token);
  return `${origin.replace(/\/+$/, '')}/#${screen ? `/${screen}?` : ''}${q.toString()}`;
}

/**
 * Splits a URL fragment (with or without its `#`) into the token it carries, if any, and the fragment
 * without it (no `#`; empty when only the token was there). The other parameters keep their order.
 */
export function splitUiToken(fragment: string): { token: string | null; rest: string } {
  const raw = fragment.replace(/^#/, '');
  // A route (`/traces?…`) has its parameters after `?`; the old and the bare forms are all parameters.
  const q = raw.startsWith('/') ? raw.indexOf('?') : -1;
  const path = raw.startsWith('/') ? (q < 0 ? raw : raw.slice(0, q)) : '';
  const query = raw.startsWith('/') ? (q < 0 ? '' : raw.slice(q + 1)) : raw;
  const params = new URLSearchParams(query);
  const token = params.get('token');
  if (token === null) return { token: null, rest: raw };
  params.delete('token');
  const qs = params.toString();
  return { token: token || null, rest: path ? `${path}${qs ? `?${qs}` : ''}` : qs };
}
