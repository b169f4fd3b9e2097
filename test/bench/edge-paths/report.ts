/** The edge paths benchmark's result: its shape, medians and the terminal table. */
import type { ProfileEntry } from "../support/cpu-profile.js";
import type { SplitRound } from "../support/measure-round.js";
import { median } from "../support/percentile.js";
import { table } from "../support/table.js";

/** The ways GetDeployment is called. */
export type PathName = "grpc-direct" | "grpc-edge" | "connect-json" | "connect-binary" | "rest";

/** What each path is, and which way through the edge it takes. */
export const pathRoutes: Record<PathName, { label: string; route: string }> = {
  "grpc-direct": { label: "gRPC direct", route: "no edge: h2load → deployments service (grpc-js + nice-grpc middleware chain)" },
  "grpc-edge": { label: "gRPC via edge", route: "frame relay: node:http2 stream relayed with backpressure to a pooled HTTP/2 session to the service; no decode, no re-encode" },
  "connect-json": {
    label: "Connect JSON",
    route: "Connect unary fast path (edge/protocol/connect-unary): JSON → binary once, raw gRPC frames over a pooled HTTP/2 session, binary → JSON once",
  },
  "connect-binary": { label: "Connect binary", route: "Connect unary fast path: request bytes forwarded as they are over a pooled HTTP/2 session; response bytes returned as they are" },
  rest: { label: "REST GET", route: "transcoder (edge/rest): path template → request message → encode → raw gRPC frames over a pooled HTTP/2 session → decode → proto3 JSON" },
};

/** Medians over the rounds of one path. */
export interface PathSummary {
  name: PathName;
  label: string;
  route: string;
  requestsPerSecond: number;
  cpuMicrosPerRequest: number;
  /** Median CPU µs per request of each server process. */
  cpuMicrosPerRequestBy: Record<string, number>;
  p50Millis: number;
  p99Millis: number;
  otherWorkShare: number;
  /** This path ÷ direct gRPC: throughput, and CPU per request. */
  ratio: { requestsPerSecond: number; cpuMicrosPerRequest: number };
  rounds: SplitRound[];
}

/** The edge's CPU profile during one extra round of a path. */
export interface PathProfile {
  path: PathName;
  file: string;
  /** Top self-time functions. */
  self: ProfileEntry[];
  /** Self time summed by dependency, Node core module, folder of ours, GC. */
  parts: ProfileEntry[];
}

/** The result of the edge paths benchmark (also written as JSON). */
export interface EdgePathsResult {
  benchmark: "edge-paths";
  date: string;
  node: string;
  load: { tool: "h2load"; transport: string; clients: number; streams: number; rounds: number; roundSeconds: number };
  deployment: string;
  /** Bytes of the GetDeployment response in each encoding. */
  responseBytes: { binary: number; json: number };
  rest: { included: boolean; reason: string };
  paths: PathSummary[];
  /** Every edge path's throughput should be at least this fraction of direct gRPC. */
  target: number;
  notes: string[];
  profiles?: PathProfile[];
}

/** The medians of a path's rounds, with its ratios to `direct` (its own when absent). */
export function summarizePath(name: PathName, rounds: SplitRound[], direct?: PathSummary): PathSummary {
  const of = (pick: (r: SplitRound) => number) => median(rounds.map(pick));
  const names = Object.keys(rounds[0]?.cpuMicrosPerRequestBy ?? {});
  const requestsPerSecond = of((r) => r.requestsPerSecond);
  const cpuMicrosPerRequest = of((r) => r.cpuMicrosPerRequest);
  return {
    name,
    ...pathRoutes[name],
    requestsPerSecond,
    cpuMicrosPerRequest,
    cpuMicrosPerRequestBy: Object.fromEntries(names.map((n) => [n, of((r) => r.cpuMicrosPerRequestBy[n] ?? 0)])),
    p50Millis: of((r) => r.p50Millis),
    p99Millis: of((r) => r.p99Millis),
    otherWorkShare: of((r) => r.otherWorkShare),
    ratio: {
      requestsPerSecond: requestsPerSecond / (direct?.requestsPerSecond ?? requestsPerSecond),
      cpuMicrosPerRequest: cpuMicrosPerRequest / (direct?.cpuMicrosPerRequest ?? cpuMicrosPerRequest),
    },
    rounds,
  };
}

/** One line on one round, for progress output. */
export function describeRound(r: SplitRound): string {
  const by = Object.entries(r.cpuMicrosPerRequestBy)
    .map(([name, micros]) => `${name} ${Math.round(micros)}`)
    .join(" + ");
  return (
    `${Math.round(r.requestsPerSecond)} req/s, ${Math.round(r.cpuMicrosPerRequest)} µs CPU/req (${by}), ` +
    `p50 ${r.p50Millis.toFixed(2)} ms, p99 ${r.p99Millis.toFixed(2)} ms, other work ${(100 * r.otherWorkShare).toFixed(0)} %`
  );
}

/** Share of the servers' CPU taken by other processes above which the output warns. */
const otherWorkWarning = 0.05;

/** The benchmark's table, for the terminal. */
export function format(result: EdgePathsResult): string {
  const { load } = result;
  const range = (value: number, values: number[], digits: number) =>
    `${value.toFixed(digits)} [${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}]`;
  const micros = (s: PathSummary, name: string) => (name in s.cpuMicrosPerRequestBy ? Math.round(s.cpuMicrosPerRequestBy[name]!).toString() : "—");
  const rows: string[][] = [
    ["path", "req/s [min–max]", "÷ direct", "CPU µs/req", "= edge", "+ deploy", "+ users", "CPU × direct", "p50 ms", "p99 ms"],
    ...result.paths.map((s) => [
      s.label,
      range(s.requestsPerSecond, s.rounds.map((r) => r.requestsPerSecond), 0),
      s.name === "grpc-direct" ? "1.00" : s.ratio.requestsPerSecond.toFixed(2),
      Math.round(s.cpuMicrosPerRequest).toString(),
      micros(s, "edge"),
      micros(s, "deployments"),
      micros(s, "users"),
      `${s.ratio.cpuMicrosPerRequest.toFixed(2)}×`,
      s.p50Millis.toFixed(2),
      s.p99Millis.toFixed(2),
    ]),
  ];
  const labelWidth = Math.max(...result.paths.map((s) => s.label.length));
  const edgePaths = result.paths.filter((s) => s.name !== "grpc-direct");
  const below = edgePaths.filter((s) => s.ratio.requestsPerSecond < result.target);
  const lines = [
    `GetDeployment five ways — h2load over ${load.transport}, -c ${load.clients} -m ${load.streams} (${load.clients * load.streams} in flight), ` +
      `${load.rounds} interleaved rounds of ~${load.roundSeconds} s per path; medians; ` +
      `a ${result.responseBytes.binary}-byte response (${result.responseBytes.json} bytes as JSON)`,
    ...table(rows),
    `target: every edge path ≥ ${result.target.toFixed(2)} of direct gRPC throughput → ` +
      (below.length === 0 ? "meets" : `BELOW for ${below.map((s) => `${s.label} (${s.ratio.requestsPerSecond.toFixed(2)})`).join(", ")}`) +
      (edgePaths.length > 0
        ? `; lowest ${Math.min(...edgePaths.map((s) => s.ratio.requestsPerSecond)).toFixed(2)}; ` +
          `by CPU per request (direct ÷ path, what a busy CPU would give): ${edgePaths.map((s) => `${s.label} ${(1 / s.ratio.cpuMicrosPerRequest).toFixed(2)}`).join(", ")}`
        : ""),
    ...(result.rest.included ? [] : [`REST: not wired yet (${result.rest.reason})`]),
    "which way each path takes:",
    ...result.paths.map((s) => `  ${s.label.padEnd(labelWidth)}  ${s.route}`),
    ...result.notes.map((note) => `  · ${note}`),
  ];
  const busiest = Math.max(...result.paths.map((s) => s.otherWorkShare));
  if (busiest > otherWorkWarning) {
    lines.push(`  ! other processes took up to ${(100 * busiest).toFixed(0)} % of the servers' CPU during the rounds (median per path): req/s and latencies are skewed; CPU µs/req less so`);
  }
  const share = (p: ProfileEntry) => `    ${p.selfPercent.toFixed(1).padStart(5)}%  ${p.function}`;
  for (const profile of result.profiles ?? []) {
    lines.push(
      `edge profiled during one extra ${pathRoutes[profile.path].label} round (${profile.file}); share of the edge's busy samples —`,
      "  top self time by part (dependency, Node core module, our folder, V8):",
      ...profile.parts.map(share),
      "  top self time by function:",
      ...profile.self.map(share),
    );
  }
  return lines.join("\n");
}
