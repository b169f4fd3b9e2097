import { percentile } from "./percentile.js";

/** How one change reached the streams: how many got it, how many did not, and how long after the commit. */
export interface ChangeLatency {
  revision: string;
  delivered: number;
  missing: number;
  p50Millis: number;
  p99Millis: number;
  maxMillis: number;
}

/** Latency over every delivery of every change of a run. */
export interface PooledLatency {
  deliveries: number;
  missing: number;
  p50Millis: number;
  p99Millis: number;
  maxMillis: number;
}

/** The change at `revision` as a watch client collected it: each stream's latency in µs, and the streams it missed. */
export function changeLatency(revision: bigint, collected: { latenciesMicros: readonly number[]; missing: number }): ChangeLatency {
  const l = collected.latenciesMicros;
  return {
    revision: String(revision),
    delivered: l.length,
    missing: collected.missing,
    p50Millis: percentile(l, 50) / 1000,
    p99Millis: percentile(l, 99) / 1000,
    maxMillis: percentile(l, 100) / 1000,
  };
}

/** A run's changes, every stream's latency (µs) of every change pooled. */
export function pooledLatency(changes: readonly ChangeLatency[], latenciesMicros: readonly number[]): PooledLatency {
  return {
    deliveries: latenciesMicros.length,
    missing: changes.reduce((sum, c) => sum + c.missing, 0),
    p50Millis: percentile(latenciesMicros, 50) / 1000,
    p99Millis: percentile(latenciesMicros, 99) / 1000,
    maxMillis: percentile(latenciesMicros, 100) / 1000,
  };
}

/** The start of a progress line on one change: "rev 7: 1000 delivered, p50 1.2 ms, p99 3.4 ms, max 3.9 ms". */
export function describeLatency(c: ChangeLatency): string {
  return (
    `rev ${c.revision}: ${c.delivered} delivered${c.missing ? `, ${c.missing} MISSING` : ""}, ` +
    `p50 ${c.p50Millis.toFixed(1)} ms, p99 ${c.p99Millis.toFixed(1)} ms, max ${c.maxMillis.toFixed(1)} ms`
  );
}
