/** The CreateDeployment throughput benchmark's result: its shape, medians and the terminal table. */
import type { ProfileEntry } from "../support/cpu-profile.js";
import { median } from "../support/percentile.js";
import { table } from "../support/table.js";

/** The databases compared. */
export type Backend = "sqlite" | "postgres";

/** One measured round against one backend. */
export interface CreateRound {
  creates: number;
  createsPerSecond: number;
  /** CPU of the deployments service process per create. */
  serverCpuMicrosPerCreate: number;
  /** CPU of the service's PostgreSQL backends per create (0 on SQLite). */
  databaseCpuMicrosPerCreate: number;
  p50Millis: number;
  p99Millis: number;
  /** The load generator's CPU as a share of its one CPU (0–1): near 1 it is the bottleneck. */
  loadCpuShare: number;
  /** The load generator's CPU per create. */
  loadCpuMicrosPerCreate: number;
  /** Share of the server's CPU taken by other processes during the round (0–1). */
  otherWorkShare: number;
}

/** Medians over the rounds of one backend. */
export interface BackendSummary extends CreateRound {
  rounds: CreateRound[];
}

/** The server's CPU profile during one extra round of a backend (--profile). */
export interface CreateProfile {
  backend: Backend;
  file: string;
  /** Self time by layer (the store, Kysely, the driver, the gRPC stack, the middleware chain, …), as shares of busy samples. */
  layers: ProfileEntry[];
  /** The store's own share: its code, Kysely and the database driver. */
  storePercent: number;
  /** The functions with the most self time. */
  self: ProfileEntry[];
}

/** The result of the CreateDeployment throughput benchmark (also written as JSON). */
export interface CreateThroughputResult {
  benchmark: "create-throughput";
  date: string;
  node: string;
  load: { tool: "node (grpc-js)"; concurrency: number; connections: number; rounds: number; roundSeconds: number };
  backends: Partial<Record<Backend, BackendSummary>>;
  profiles?: CreateProfile[];
  /** Why a backend is missing, if one is. */
  skipped: Partial<Record<Backend, string>>;
  notes: string[];
}

/** The medians of a backend's rounds. */
export function summarize(rounds: CreateRound[]): BackendSummary {
  const of = (key: keyof CreateRound) => median(rounds.map((r) => r[key]));
  return {
    creates: of("creates"),
    createsPerSecond: of("createsPerSecond"),
    serverCpuMicrosPerCreate: of("serverCpuMicrosPerCreate"),
    databaseCpuMicrosPerCreate: of("databaseCpuMicrosPerCreate"),
    p50Millis: of("p50Millis"),
    p99Millis: of("p99Millis"),
    loadCpuShare: of("loadCpuShare"),
    loadCpuMicrosPerCreate: of("loadCpuMicrosPerCreate"),
    otherWorkShare: of("otherWorkShare"),
    rounds,
  };
}

/** One line on one round, for progress output. */
export function describeRound(r: CreateRound): string {
  return (
    `${Math.round(r.createsPerSecond)} creates/s, server ${Math.round(r.serverCpuMicrosPerCreate)} µs CPU/create` +
    (r.databaseCpuMicrosPerCreate > 0 ? ` + PostgreSQL ${Math.round(r.databaseCpuMicrosPerCreate)} µs` : "") +
    `, p50 ${r.p50Millis.toFixed(2)} ms, p99 ${r.p99Millis.toFixed(2)} ms, load generator ${(100 * r.loadCpuShare).toFixed(0)} % CPU ` +
    `(${Math.round(r.loadCpuMicrosPerCreate)} µs/create), other work on the server's CPU ${(100 * r.otherWorkShare).toFixed(0)} %`
  );
}

/** The benchmark's table, for the terminal. */
export function format(result: CreateThroughputResult): string {
  const cell = (s: BackendSummary, key: keyof CreateRound, digits: number, scale = 1) => {
    const values = s.rounds.map((r) => r[key] * scale);
    const fixed = (n: number) => n.toFixed(digits);
    return `${fixed(s[key] * scale)} [${fixed(Math.min(...values))}–${fixed(Math.max(...values))}]`;
  };
  const line = (name: Backend, s: BackendSummary) => [
      name,
      cell(s, "createsPerSecond", 0),
      cell(s, "serverCpuMicrosPerCreate", 0),
      name === "postgres" ? cell(s, "databaseCpuMicrosPerCreate", 0) : "—",
      cell(s, "p50Millis", 1),
      cell(s, "p99Millis", 1),
      `${(100 * s.loadCpuShare).toFixed(0)} %`,
      `${(100 * s.otherWorkShare).toFixed(0)} %`,
    ];
  const { load } = result;
  const rows: string[][] = [["backend", "creates/s", "srv CPU µs/create", "PG CPU µs/create", "p50 ms", "p99 ms", "loadgen CPU", "other CPU0"]];
  const lines = [
    `CreateDeployment throughput — load generator: Node (grpc-js), ${load.concurrency} calls in flight over ${load.connections} connections; ` +
      `${load.rounds} interleaved rounds of ~${load.roundSeconds} s per backend; medians [min–max]`,
  ];
  for (const name of ["sqlite", "postgres"] as const) {
    const summary = result.backends[name];
    if (summary) rows.push(line(name, summary));
  }
  const { sqlite, postgres } = result.backends;
  if (sqlite && postgres) {
    rows.push([
        "pg/sqlite",
        `${(postgres.createsPerSecond / sqlite.createsPerSecond).toFixed(2)}×`,
        `${(postgres.serverCpuMicrosPerCreate / sqlite.serverCpuMicrosPerCreate).toFixed(2)}×`,
        "",
        `${(postgres.p50Millis / sqlite.p50Millis).toFixed(2)}×`,
        `${(postgres.p99Millis / sqlite.p99Millis).toFixed(2)}×`,
        "",
        "",
    ]);
  }
  lines.push(...table(rows));
  for (const profile of result.profiles ?? []) {
    const server = result.backends[profile.backend]?.serverCpuMicrosPerCreate ?? 0;
    const share = (percent: number) => `${percent.toFixed(1)} % (~${Math.round((server * percent) / 100)} µs/create)`;
    lines.push(`  ${profile.backend}: server time by layer (profiled round, busy samples; µs scaled from the measured CPU median) — store share ${share(profile.storePercent)}`);
    for (const layer of profile.layers.slice(0, 10)) lines.push(`    ${share(layer.selfPercent).padEnd(26)} ${layer.function}`);
    lines.push(`  ${profile.backend}: top self time: ${profile.self.map((entry) => `${entry.function} ${entry.selfPercent.toFixed(1)} %`).join("; ")}`);
  }
  for (const [name, reason] of Object.entries(result.skipped)) lines.push(`  ! ${name} skipped: ${reason}`);
  for (const [name, summary] of Object.entries(result.backends)) {
    if (summary && summary.loadCpuShare > 0.9) {
      lines.push(`  ! ${name}: the load generator used ${(100 * summary.loadCpuShare).toFixed(0)} % of its CPU: it, not the server, may set the rate`);
    }
    if (summary && summary.otherWorkShare > 0.05) {
      lines.push(`  ! ${name}: other processes took ${(100 * summary.otherWorkShare).toFixed(0)} % of the server's CPU: rates and latencies are skewed; CPU per create less so`);
    }
  }
  lines.push(...result.notes.map((note) => `  · ${note}`));
  return lines.join("\n");
}
