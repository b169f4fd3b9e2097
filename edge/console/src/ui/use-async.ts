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
  const [state, setState] = useState<{ value?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => ({ ...previous, loading: true }));
    load(controller.signal).then(
      (value) => !controller.signal.aborted && setState({ value, loading: false }),
      (error: unknown) => !controller.signal.aborted && setState({ error, loading: false }),
    );
    return () => controller.abort();
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  return { value: state.value, error: state.error, loading: state.loading, reload };
}
