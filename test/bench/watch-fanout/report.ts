/** The watch fan-out benchmark's result: its shape, summaries and the terminal table. */
import type { ProfileEntry } from "../support/cpu-profile.js";
import { describeLatency, pooledLatency, type ChangeLatency, type PooledLatency } from "../support/delivery-latency.js";
import type { HeapKind } from "../support/heap-histogram.js";
import { median } from "../support/percentile.js";
import type { StreamMemory } from "../support/stream-memory.js";
import { table } from "../support/table.js";

/** The two servers compared. */
export type FanoutServerName = "chain" | "bare";

/** One committed change and its delivery to every stream. */
export interface ChangeDelivery extends ChangeLatency {
  /** CPU of the server process from the commit until every stream had the change. */
  serverCpuMillis: number;
  /** CPU of the client process from the commit until every stream had the change. */
  clientCpuMillis: number;
  /** Share of the server's CPU taken by other processes meanwhile (0–1): other work delays delivery. */
  otherWorkShare: number;
}

/** One server holding N streams. */
export interface FanoutRun {
  streams: number;
  connections: number;
  /** Time to open every stream and receive every snapshot. */
  openSeconds: number;
  /** Deployments in each stream's snapshot. */
  snapshotDeployments: number;
  /** Server memory: with no streams, with every stream open (snapshots sent), and after the changes; per stream against idle. */
  memory: StreamMemory;
  /** Over every delivery of every change. */
  latency: PooledLatency;
  serverCpuMicrosPerDelivery: number;
  clientCpuMicrosPerDelivery: number;
  /** Median over the changes of the share of the server's CPU other processes took; above ~5 % latencies are skewed. */
  otherWorkShare: number;
  /** Streams that ended with an error during the run, and the first error. */
  failedStreams: number;
  firstError: string;
  changes: ChangeDelivery[];
}

/** Both servers at one stream count, and chain / bare. */
export interface FanoutLevel {
  streams: number;
  chain: FanoutRun;
  bare: FanoutRun;
  ratio: { p99: number; serverCpuPerDelivery: number; rssPerStream: number; heapPerStream: number };
}

/** The result of the watch fan-out benchmark (also written as JSON). */
export interface WatchFanoutResult {
  benchmark: "watch-fanout";
  date: string;
  node: string;
  changesPerRun: number;
  changeSpacingMillis: number;
  /** Size of one change message (the chain's, which the bare server sends too). */
  changeBytes: number;
  /** Deployments in the snapshot each measured stream starts with. */
  snapshotDeployments: number;
  levels: FanoutLevel[];
  targets: { p99RatioAtLargest: number; maxBytesPerStream: number };
  notes: string[];
  /** The chain's CPU profile during extra changes: top self time, and top total time of our code and dependencies. */
  profile?: { streams: number; changes: number; file: string; self: ProfileEntry[]; total: ProfileEntry[] };
  /** What the chain's heap grew by per stream, by object kind (from two heap snapshots). */
  heap?: { streams: number; snapshotDeployments: number; totalBytesPerStream: number; perStream: HeapKind[] };
}

/** Summarises one server's changes. */
export function summarizeRun(
  base: Omit<FanoutRun, "latency" | "serverCpuMicrosPerDelivery" | "clientCpuMicrosPerDelivery" | "changes">,
  changes: ChangeDelivery[],
  latencies: number[],
): FanoutRun {
  const deliveries = latencies.length;
  const totalServer = changes.reduce((sum, c) => sum + c.serverCpuMillis, 0);
  const totalClient = changes.reduce((sum, c) => sum + c.clientCpuMillis, 0);
  return {
    ...base,
    latency: pooledLatency(changes, latencies),
    serverCpuMicrosPerDelivery: deliveries > 0 ? (1000 * totalServer) / deliveries : Number.NaN,
    clientCpuMicrosPerDelivery: deliveries > 0 ? (1000 * totalClient) / deliveries : Number.NaN,
    changes,
  };
}

/** One line on one change, for progress output. */
export function describeChange(c: ChangeDelivery): string {
  return (
    `${describeLatency(c)}, ` +
    `server CPU ${c.serverCpuMillis.toFixed(0)} ms, client CPU ${c.clientCpuMillis.toFixed(0)} ms, ` +
    `other work on the server's CPU ${(100 * c.otherWorkShare).toFixed(0)} %`
  );
}

/** Share of the server's CPU taken by other processes above which the output warns. */
const otherWorkWarning = 0.05;

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/** The benchmark's table, for the terminal. */
export function format(result: WatchFanoutResult): string {
  const line = (streams: number, name: string, r: FanoutRun) => [
      String(streams),
      name,
      r.latency.p50Millis.toFixed(1),
      r.latency.p99Millis.toFixed(1),
      r.latency.maxMillis.toFixed(1),
      median(r.changes.map((c) => c.maxMillis)).toFixed(1),
      r.serverCpuMicrosPerDelivery.toFixed(1),
      r.clientCpuMicrosPerDelivery.toFixed(1),
      kb(r.memory.rssPerStreamBytes),
      kb(r.memory.heapPerStreamBytes),
      r.openSeconds.toFixed(1),
      `${(100 * r.otherWorkShare).toFixed(0)} %`,
    ];
  const largest = result.levels[result.levels.length - 1];
  const verdict = (ok: boolean) => (ok ? "meets" : "MISSED");
  const { targets } = result;
  const rows: string[][] = [
    ["streams", "server", "p50 ms", "p99 ms", "max ms", "all-by ms", "srv µs/msg", "cli µs/msg", "RSS/stream", "heap/stream", "open s", "other CPU0"],
  ];
  const warnings: string[] = [];
  for (const level of result.levels) {
    rows.push(line(level.streams, "chain", level.chain), line(level.streams, "bare", level.bare));
    const { ratio } = level;
    rows.push(["", "ratio", "", `${ratio.p99.toFixed(2)}×`, "", "", `${ratio.serverCpuPerDelivery.toFixed(2)}×`, "", `${ratio.rssPerStream.toFixed(2)}×`, `${ratio.heapPerStream.toFixed(2)}×`, "", ""]);
    for (const [name, run] of [["chain", level.chain], ["bare", level.bare]] as const) {
      if (run.latency.missing > 0 || run.failedStreams > 0) {
        warnings.push(`  ! ${name} at ${level.streams}: ${run.latency.missing} deliveries missing, ${run.failedStreams} streams failed (${run.firstError})`);
      }
      if (run.otherWorkShare > otherWorkWarning) {
        warnings.push(
          `  ! ${name} at ${level.streams}: other processes took ${(100 * run.otherWorkShare).toFixed(0)} % of the server's CPU during deliveries (median): ` +
            "latencies are stretched; CPU per message much less so",
        );
      }
    }
  }
  const lines = [
    `WatchDeployments fan-out — ${result.changesPerRun} changes ~${result.changeSpacingMillis} ms apart per run; a ${result.changeBytes}-byte change message; ` +
      `snapshots of ${result.snapshotDeployments} deployments; latency = commit sent → change received, per stream, all changes pooled`,
    ...table(rows),
    ...warnings,
  ];
  if (largest !== undefined) {
    const perStream = Math.max(largest.chain.memory.rssPerStreamBytes, largest.chain.memory.heapPerStreamBytes);
    lines.push(
      `target: p99 at ${largest.streams} ≤ ${targets.p99RatioAtLargest}× bare → ${verdict(largest.ratio.p99 <= targets.p99RatioAtLargest)} ` +
        `(${largest.ratio.p99.toFixed(2)}×); ≤ ${kb(targets.maxBytesPerStream)} per stream → ${verdict(perStream <= targets.maxBytesPerStream)} ` +
        `(RSS ${kb(largest.chain.memory.rssPerStreamBytes)}, heap ${kb(largest.chain.memory.heapPerStreamBytes)})`,
    );
  }
  lines.push(...result.notes.map((note) => `  · ${note}`));
  const share = (p: ProfileEntry) => `  ${p.selfPercent.toFixed(1).padStart(5)}%  ${p.function}`;
  if (result.profile) {
    const { profile } = result;
    lines.push(
      `chain at ${profile.streams} streams, ${profile.changes} extra changes profiled (${profile.file}); share of busy samples —`,
      "top self time:",
      ...profile.self.map(share),
      "top total time (function anywhere on the stack; our code and dependencies):",
      ...profile.total.map(share),
    );
  }
  if (result.heap) {
    lines.push(
      `chain heap growth per stream at ${result.heap.streams} streams with snapshots of ${result.heap.snapshotDeployments} deployments, ` +
        `${kb(result.heap.totalBytesPerStream)} in all; by object kind (heap snapshots with 0 and ${result.heap.streams} streams; bytes, count per stream):`,
      ...result.heap.perStream.map((k) => `  ${`${k.bytes.toFixed(0)} B`.padStart(8)} ${`×${k.count.toFixed(1)}`.padStart(7)}  ${k.kind}`),
    );
  }
  return lines.join("\n");
}
