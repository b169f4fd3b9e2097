import { useCallback, useEffect, useState } from "preact/hooks";

/** A load's result: the value, or the error, and a way to load again. */
export interface Loaded<T> {
  value: T | undefined;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/** Loads `load()` when mounted and whenever `key` changes; a stale answer never overwrites a newer one. */
export function useAsync<T>(key: string, load: (signal: AbortSignal) => Promise<T>): Loaded<T> {
  // A new key drops the old value at once: another resource's data must not show while this one loads.
  const [state, setState] = useState<{ key: string; value?: T; error?: unknown; loading: boolean }>({ key, loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => (previous.key === key ? { ...previous, loading: true } : { key, loading: true }));
    load(controller.signal).then(
      (value) => !controller.signal.aborted && setState({ key, value, loading: false }),
      (error: unknown) => !controller.signal.aborted && setState({ key, error, loading: false }),
    );
    return () => controller.abort();
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  const current = state.key === key;
  return { value: current ? state.value : undefined, error: current ? state.error : undefined, loading: !current || state.loading, reload };
}
