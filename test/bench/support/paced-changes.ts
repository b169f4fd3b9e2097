/** What a watch client reports having collected of one change, in part. */
export interface CollectedChange {
  /** Per stream that got the change: receive time − commit time, in µs. */
  latenciesMicros: number[];
  /** Streams that have ended with an error so far, and the first error. */
  failed: number;
  firstError: string;
}

/** A run's changes, every stream's latency of every change pooled, and the streams failed by its end. */
export interface PacedRun<Change> {
  changes: Change[];
  latencies: number[];
  failedStreams: number;
  firstError: string;
}

/**
 * Delivers `count` changes one at a time, each starting `spacingMs` after
 * the one before started (at once when delivering took longer), and pools
 * what the client collected. `onChange` sees each change as it is done, for
 * progress output.
 */
export async function deliverPaced<Change, Collected extends CollectedChange>(
  count: number,
  spacingMs: number,
  deliverOne: () => Promise<{ change: Change; collected: Collected }>,
  onChange: (change: Change, collected: Collected, index: number) => void,
): Promise<PacedRun<Change>> {
  const run: PacedRun<Change> = { changes: [], latencies: [], failedStreams: 0, firstError: "" };
  for (let i = 0; i < count; i++) {
    const began = performance.now();
    const { change, collected } = await deliverOne();
    run.changes.push(change);
    for (const latency of collected.latenciesMicros) run.latencies.push(latency);
    run.failedStreams = collected.failed;
    run.firstError ||= collected.firstError;
    onChange(change, collected, i);
    const rest = spacingMs - (performance.now() - began);
    if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  }
  return run;
}
