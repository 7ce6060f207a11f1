// Screens live in the URL fragment (#/traces?trace=…), so a link to a trace or a service can be copied and
// the browser's back button works. The token never does: it leaves the fragment on first load.
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
  if (raw.startsWith('trace=')) return { screen: 'traces', params: new URLSearchParams(raw) };
  const [path = '', query = ''] = raw.replace(/^\//, '').split('?');
  const screen = (SCREENS as readonly string[]).includes(path) ? (path as Screen) : 'overview';
  return { screen, params: new URLSearchParams(query) };
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
