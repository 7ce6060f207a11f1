// Screens live in the URL fragment (#/traces?trace=…), so a link to a trace or a service can be copied and
// the browser's back button works. A link may carry the token as one more parameter
// (src/contract/ui-link.ts); main.tsx takes it out before the first render, and a route never holds it.
import { useCallback, useEffect, useState } from 'react';

export type Screen = 'overview' | 'service' | 'traces' | 'config' | 'tap' | 'import' | 'logs';
export const SCREENS: readonly Screen[] = ['overview', 'service', 'traces', 'config', 'tap', 'import', 'logs'];

export interface Route {
  screen: Screen;
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  // The walking skeleton's links were #trace=<id>.
  const legacy = raw.startsWith('trace=');
  const [path = '', query = ''] = legacy ? ['traces', raw] : raw.replace(/^\//, '').split('?');
  const screen = (SCREENS as readonly string[]).includes(path) ? (path as Screen) : 'overview';
  const params = new URLSearchParams(query);
  params.delete('token');
  return { screen, params };
}

export function hrefOf(screen: Screen, params: Record<string, string | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const qs = q.toString();
  return `#/${screen}${qs ? `?${qs}` : ''}`;
}

export function useRoute(): [Route, (screen: Screen, params?: Record<string, string | null | undefined>, replace?: boolean) => void] {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  const go = useCallback((screen: Screen, params: Record<string, string | null | undefined> = {}, replace = false) => {
    const href = hrefOf(screen, params);
    if (replace) window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search + href);
    else window.history.pushState(window.history.state, '', window.location.pathname + window.location.search + href);
    setRoute(parseHash(href));
  }, []);
  return [route, go];
}
