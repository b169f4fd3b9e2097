import { useCallback, useEffect, useState } from "preact/hooks";

/** A load's result: the value, or the error, and a way to load again. */
export interface Loaded<T> {
  value: T | undefined;
  error: unknown;
  reload(): void;
}

/** Loads `load()` when mounted and whenever `key` changes; a stale answer never overwrites a newer one. */
export function useAsync<T>(key: string, load: (signal: AbortSignal) => Promise<T>): Loaded<T> {
  const [state, setState] = useState<{ key: string; value?: T; error?: unknown }>({ key });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    load(controller.signal).then(
      (value) => !controller.signal.aborted && setState({ key, value }),
      (error: unknown) => !controller.signal.aborted && setState({ key, error }),
    );
    return () => controller.abort();
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  // Another key's answer is not shown: one resource's data must not appear while the next one loads.
  const current = state.key === key;
  return { value: current ? state.value : undefined, error: current ? state.error : undefined, reload };
}
