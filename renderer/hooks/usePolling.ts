import { useCallback, useEffect, useRef, useState } from 'react';
import { isAbort } from '../api-client';

export interface PollState<T> {
  data: T | null;
  error: Error | null;
  /** Wall-clock time of the last successful load, to show how stale the data is. */
  updatedAtMs: number | null;
  /** Load now instead of waiting for the next tick. */
  refresh(): void;
}

export interface PollOptions {
  intervalMs: number;
  /** While false the loop stops (e.g. a paused trace list); data is kept. */
  enabled?: boolean;
  /** A change of key throws away the data and starts over (e.g. another trace, another filter). */
  resetKey?: string;
}

/**
 * Calls `load` now and then every `intervalMs` after the previous call finished (a timeout chain,
 * not setInterval, so a slow control plane never gets overlapping requests). `load` receives the
 * previous data so it can merge incrementally. In-flight requests are aborted on reset/unmount.
 */
export function usePolling<T>(
  load: (signal: AbortSignal, previous: T | null) => Promise<T>,
  { intervalMs, enabled = true, resetKey = '' }: PollOptions,
): PollState<T> {
  const [state, setState] = useState<{ key: string; data: T | null; error: Error | null; at: number | null }>({
    key: resetKey,
    data: null,
    error: null,
    at: null,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const dataRef = useRef<T | null>(null);
  const kick = useRef<() => void>(() => {});

  // A new key shows no data from the old key, not even for one render.
  const stale = state.key !== resetKey;
  if (stale) {
    dataRef.current = null;
    setState({ key: resetKey, data: null, error: null, at: null });
  }

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;

    const tick = async () => {
      if (running || controller.signal.aborted) return;
      running = true;
      clearTimeout(timer);
      try {
        const data = await loadRef.current(controller.signal, dataRef.current);
        if (controller.signal.aborted) return;
        dataRef.current = data;
        setState({ key: resetKey, data, error: null, at: Date.now() });
      } catch (err) {
        if (controller.signal.aborted || isAbort(err)) return;
        const error = err instanceof Error ? err : new Error(String(err));
        setState((s) => ({ ...s, error }));
      } finally {
        running = false;
        if (!controller.signal.aborted) timer = setTimeout(tick, intervalMs);
      }
    };
    kick.current = () => void tick();
    void tick();
    return () => {
      controller.abort();
      clearTimeout(timer);
      kick.current = () => {};
    };
  }, [enabled, intervalMs, resetKey]);

  const refresh = useCallback(() => kick.current(), []);
  if (stale) return { data: null, error: null, updatedAtMs: null, refresh };
  return { data: state.data, error: state.error, updatedAtMs: state.at, refresh };
}
