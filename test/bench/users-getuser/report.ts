/** The users GetUser benchmark's result: its shape, medians and the terminal table. */
import type { ProfileEntry } from "../support/cpu-profile.js";
import type { RoundResult } from "../support/measure-round.js";
import { median } from "../support/percentile.js";
import { serverCpu } from "./servers.js";

/** Share of the server's CPU taken by other processes above which the output warns. */
const otherWorkWarning = 0.05;

/** The two servers compared. */
export type ServerName = "bare" | "chain";

/** Medians over the rounds of one server. */
export interface ServerSummary {
  requestsPerSecond: number;
  cpuMicrosPerRequest: number;
  p50Millis: number;
  p99Millis: number;
  /** Share of CPU 0 taken by other work during the rounds; above ~5 % the numbers are skewed. */
  otherWorkShare: number;
  rounds: RoundResult[];
}

/** The result of the users GetUser benchmark (also written as JSON). */
export interface UsersGetUserResult {
  benchmark: "users-getuser";
  date: string;
  node: string;
  load: { tool: "h2load"; clients: number; streams: number; rounds: number; roundSeconds: number };
  responseBytes: number;
  servers: Record<ServerName, ServerSummary>;
  /** chain / bare. Throughput aims at ≥ target, CPU per request at ≤ 1 / target. */
  ratio: { requestsPerSecond: number; cpuMicrosPerRequest: number; target: number };
  notes: string[];
  profile?: ProfileEntry[];
}

/** The medians of a server's rounds. */
export function summarize(rounds: RoundResult[]): ServerSummary {
  const of = (key: keyof RoundResult) => median(rounds.map((r) => r[key]));
  return {
    requestsPerSecond: of("requestsPerSecond"),
    cpuMicrosPerRequest: of("cpuMicrosPerRequest"),
    p50Millis: of("p50Millis"),
    p99Millis: of("p99Millis"),
    otherWorkShare: of("otherWorkShare"),
    rounds,
  };
}

/** One line on one round, for progress output. */
export function describeRound(r: RoundResult): string {
  return (
    `${Math.round(r.requestsPerSecond)} req/s, ${Math.round(r.cpuMicrosPerRequest)} µs CPU/req, ` +
    `p50 ${r.p50Millis.toFixed(2)} ms, p99 ${r.p99Millis.toFixed(2)} ms, other work on CPU ${serverCpu} ${(100 * r.otherWorkShare).toFixed(0)} %`
  );
}

/** The benchmark's table, for the terminal. */
export function format(result: UsersGetUserResult): string {
  const { bare, chain } = result.servers;
  const { ratio, load } = result;
  const widths = [12, 20, 18, 18, 20];
  const row = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("");
  const cell = (s: ServerSummary, key: keyof RoundResult, digits: number) => {
    const values = s.rounds.map((r) => r[key]);
    const fixed = (n: number) => n.toFixed(digits);
    return `${fixed(s[key as keyof ServerSummary] as number)} [${fixed(Math.min(...values))}–${fixed(Math.max(...values))}]`;
  };
  const line = (name: string, s: ServerSummary) =>
    row([name, cell(s, "requestsPerSecond", 0), cell(s, "cpuMicrosPerRequest", 0), cell(s, "p50Millis", 1), cell(s, "p99Millis", 1)]);
  const verdict = (ok: boolean) => (ok ? "meets" : "BELOW");
  const otherWork = Math.max(bare.otherWorkShare, chain.otherWorkShare);
  return [
    `users GetUser over gRPC — h2load -c ${load.clients} -m ${load.streams} (${load.clients * load.streams} in flight), ` +
      `${load.rounds} interleaved rounds per server`,
    row(["server", "req/s", "CPU µs/req", "p50 ms", "p99 ms"]),
    line("bare", bare),
    line("chain", chain),
    row(["chain/bare", ratio.requestsPerSecond.toFixed(2), `${ratio.cpuMicrosPerRequest.toFixed(2)}×`, "", ""]),
    `target: throughput ≥ ${ratio.target.toFixed(2)} of bare → ${verdict(ratio.requestsPerSecond >= ratio.target)} ` +
      `(${ratio.requestsPerSecond.toFixed(2)}); CPU/req ≤ ${(1 / ratio.target).toFixed(2)}× bare → ` +
      `${verdict(ratio.cpuMicrosPerRequest <= 1 / ratio.target)} (${ratio.cpuMicrosPerRequest.toFixed(2)}×)`,
    ...result.notes.map((note) => `  · ${note}`),
    ...(otherWork > otherWorkWarning
      ? [`  ! other processes took ${(100 * otherWork).toFixed(0)} % of CPU ${serverCpu} during the rounds (median): req/s and latencies are skewed; CPU µs/req less so`]
      : []),
    ...(result.profile
      ? ["chain, one extra profiled round, top self time (share of busy samples):", ...result.profile.map((p) => `  ${p.selfPercent.toFixed(1).padStart(5)}%  ${p.function}`)]
      : []),
  ].join("\n");
}
