import { useCallback, useState } from "preact/hooks";

/** A user action that calls the API: whether it is running, and its last error (cleared when it succeeds). */
export function useAction() {
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  /** Runs `work`; true when it succeeded. */
  const run = useCallback(async (work: () => Promise<void>): Promise<boolean> => {
    setBusy(true);
    try {
      await work();
      setError(undefined);
      return true;
    } catch (cause) {
      setError(cause);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { run, error, busy };
}
