/** The edge fan-out benchmark's result: its shape, summaries and the terminal table. */
import type { ProfileEntry } from "../support/cpu-profile.js";
import { describeLatency, pooledLatency, type ChangeLatency, type PooledLatency } from "../support/delivery-latency.js";
import { median } from "../support/percentile.js";
import type { StreamMemory } from "../support/stream-memory.js";
import { table } from "../support/table.js";

/** The Connect encodings the watchers use. */
export type WatchFormat = "json" | "binary";

/** One committed change and its delivery to every stream. */
export interface ChangeDelivery extends ChangeLatency {
  /** CPU of each process from the commit until every stream had the change. */
  edgeCpuMillis: number;
  deploymentsCpuMillis: number;
  clientCpuMillis: number;
  /** Share of CPU 0 taken by processes other than the edge and the deployments service meanwhile (0–1). */
  otherWorkShare: number;
}

/** N Connect watchers of one encoding on the edge. */
export interface FanoutRun {
  format: WatchFormat;
  contentType: string;
  streams: number;
  connections: number;
  openSeconds: number;
  snapshotDeployments: number;
  /** Bytes of one change message in protobuf binary. */
  changeBytes: number;
  /** Over every delivery of every change. */
  latency: PooledLatency;
  /** Median over the changes of the time until the last stream had it. */
  allByMillis: number;
  cpuMicrosPerDelivery: { edge: number; deployments: number; client: number };
  memory: { edge: StreamMemory; deployments: StreamMemory };
  otherWorkShare: number;
  failedStreams: number;
  firstError: string;
  changes: ChangeDelivery[];
}

/** The result of the edge fan-out benchmark (also written as JSON). */
export interface EdgeFanoutResult {
  benchmark: "edge-fanout";
  date: string;
  node: string;
  changesPerRun: number;
  changeSpacingMillis: number;
  runs: FanoutRun[];
  notes: string[];
  /** The edge's CPU profile during extra changes (with --profile). */
  profile?: { format: WatchFormat; streams: number; changes: number; file: string; self: ProfileEntry[]; parts: ProfileEntry[] };
}

/** Summarises one run's changes. */
export function summarizeRun(
  base: Omit<FanoutRun, "latency" | "allByMillis" | "cpuMicrosPerDelivery" | "changes">,
  changes: ChangeDelivery[],
  latencies: number[],
): FanoutRun {
  const deliveries = latencies.length;
  const per = (pick: (c: ChangeDelivery) => number) => (deliveries > 0 ? (1000 * changes.reduce((sum, c) => sum + pick(c), 0)) / deliveries : Number.NaN);
  return {
    ...base,
    latency: pooledLatency(changes, latencies),
    allByMillis: median(changes.map((c) => c.maxMillis)),
    cpuMicrosPerDelivery: { edge: per((c) => c.edgeCpuMillis), deployments: per((c) => c.deploymentsCpuMillis), client: per((c) => c.clientCpuMillis) },
    changes,
  };
}

/** One line on one change, for progress output. */
export function describeChange(c: ChangeDelivery): string {
  return (
    `${describeLatency(c)}, ` +
    `CPU edge ${c.edgeCpuMillis.toFixed(0)} ms, deployments ${c.deploymentsCpuMillis.toFixed(0)} ms, client ${c.clientCpuMillis.toFixed(0)} ms, ` +
    `other work on CPU 0 ${(100 * c.otherWorkShare).toFixed(0)} %`
  );
}

const otherWorkWarning = 0.05;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/** The benchmark's table, for the terminal. */
export function format(result: EdgeFanoutResult): string {
  const rows: string[][] = [
    ["watchers", "p50 ms", "p99 ms", "max ms", "all-by ms", "edge µs/msg", "deploy µs/msg", "edge RSS/str", "edge heap/str", "deploy heap/str", "open s", "other CPU0"],
    ...result.runs.map((r) => [
      `${r.streams} Connect ${r.format}`,
      r.latency.p50Millis.toFixed(1),
      r.latency.p99Millis.toFixed(1),
      r.latency.maxMillis.toFixed(1),
      r.allByMillis.toFixed(1),
      r.cpuMicrosPerDelivery.edge.toFixed(0),
      r.cpuMicrosPerDelivery.deployments.toFixed(0),
      kb(r.memory.edge.rssPerStreamBytes),
      kb(r.memory.edge.heapPerStreamBytes),
      kb(r.memory.deployments.heapPerStreamBytes),
      r.openSeconds.toFixed(1),
      `${(100 * r.otherWorkShare).toFixed(0)} %`,
    ]),
  ];
  const first = result.runs[0];
  const lines = [
    `WatchDeployments through the edge over Connect — ${result.changesPerRun} changes ~${result.changeSpacingMillis} ms apart per run; ` +
      `${first ? `a ${first.changeBytes}-byte change (binary), snapshots of ${first.snapshotDeployments} deployments; ` : ""}` +
      "latency = commit sent → change received by the Connect client, per stream, all changes pooled",
    ...table(rows),
  ];
  for (const r of result.runs) {
    if (r.latency.missing > 0 || r.failedStreams > 0) {
      lines.push(`  ! Connect ${r.format}: ${r.latency.missing} deliveries missing, ${r.failedStreams} streams failed (${r.firstError})`);
    }
    if (r.otherWorkShare > otherWorkWarning) {
      lines.push(`  ! Connect ${r.format}: other processes took ${(100 * r.otherWorkShare).toFixed(0)} % of CPU 0 during deliveries (median): latencies are stretched`);
    }
  }
  lines.push(...result.notes.map((note) => `  · ${note}`));
  const share = (p: ProfileEntry) => `    ${p.selfPercent.toFixed(1).padStart(5)}%  ${p.function}`;
  if (result.profile) {
    const { profile } = result;
    lines.push(
      `edge profiled during ${profile.changes} extra changes to ${profile.streams} Connect ${profile.format} watchers (${profile.file}); share of busy samples —`,
      "  top self time by part:",
      ...profile.parts.map(share),
      "  top self time by function:",
      ...profile.self.map(share),
    );
  }
  return lines.join("\n");
}
