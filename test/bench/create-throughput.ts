/**
 * CreateDeployment throughput on SQLite and on PostgreSQL (a fresh schema):
 * the real deployments service (full middleware chain, admin access token,
 * state-machine and idempotency checks: every call has its own request_id
 * and its own service, so none replays and none conflicts), one process per
 * backend pinned to CPU 0, driven in interleaved rounds by a Node load
 * generator pinned to CPU 1 (h2load cannot vary the body). The users service
 * shares CPU 1; it is idle once the token is issued (tokens are verified
 * locally). PostgreSQL itself is not pinned: its backends' CPU is counted
 * separately, by application_name. With --profile, one more round per
 * backend runs with the server's CPU profiler on and is split by layer, so
 * the store's share shows beside the gRPC stack's and the middleware's.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Benchmark, BenchSettings } from "./support/benchmark.js";
import { postgresUnreachable } from "../support/postgres-probe.js";
import { benchPostgresUrl, connectPostgresAdmin, withSchema, type PostgresAdmin } from "./support/bench-postgres.js";
import { startBenchDeployments, startBenchUsers, type BenchDeployments, type BenchUsers } from "./support/bench-stack.js";
import { trackDirectory, untrackDirectory } from "./support/cleanup.js";
import { cpuBusyMicros } from "./support/cpu-busy.js";
import { percentile } from "./support/percentile.js";
import { startPinnedChild, type PinnedChild } from "./support/pinned-child.js";
import { processCpuMicros } from "./support/process-cpu.js";
import { topSelfTime } from "./support/cpu-profile.js";
import type { LoadReply } from "./create-throughput/load-child.js";
import { splitByLayer } from "./create-throughput/profile-split.js";
import {
  describeRound,
  format,
  summarize,
  type Backend,
  type CreateProfile,
  type CreateRound,
  type CreateThroughputResult,
} from "./create-throughput/report.js";

const serverCpu = 0;
const loadCpu = 1;
const concurrency = 32;
const connections = 4;

/** The CreateDeployment throughput benchmark. */
export const createThroughput: Benchmark<CreateThroughputResult> = {
  name: "create-throughput",
  run,
  format,
};

interface Target {
  name: Backend;
  server: BenchDeployments;
  /** CPU of the server's PostgreSQL backends so far, by pid; undefined on SQLite. */
  databaseCpu?: () => Promise<Map<number, number>>;
}

async function run(settings: BenchSettings): Promise<CreateThroughputResult> {
  const work = await mkdtemp(join(tmpdir(), "launchpad-bench-create-"));
  trackDirectory(work);
  const tag = randomBytes(4).toString("hex");
  const schema = `lp_bench_${tag}`;
  const appName = `launchpad-bench-${tag}`;
  const skipped: CreateThroughputResult["skipped"] = {};
  const stops: (() => Promise<void>)[] = [];
  let admin: PostgresAdmin | undefined;
  try {
    const users: BenchUsers = await startBenchUsers(join(work, "users"), loadCpu);
    stops.push(() => users.child.stop());
    const targets: Target[] = [];

    const sqliteDir = join(work, "deployments-sqlite");
    await mkdir(sqliteDir, { recursive: true });
    const sqlite = await startBenchDeployments({ name: "deployments service (SQLite)", cpu: serverCpu, dataDir: sqliteDir, usersAddress: users.address });
    stops.push(() => sqlite.child.stop());
    targets.push({ name: "sqlite", server: sqlite });

    const unreachable = await postgresUnreachable(benchPostgresUrl);
    if (unreachable !== undefined) {
      skipped.postgres = `PostgreSQL at ${benchPostgresUrl} is unreachable (${unreachable})`;
      progress(`skipping PostgreSQL: ${skipped.postgres}`);
    } else {
      admin = await connectPostgresAdmin(benchPostgresUrl);
      const connected = admin;
      const postgresDir = join(work, "deployments-postgres");
      await mkdir(postgresDir, { recursive: true });
      const postgres = await startBenchDeployments({
        name: "deployments service (PostgreSQL)",
        cpu: serverCpu,
        dataDir: postgresDir,
        usersAddress: users.address,
        databaseUrl: withSchema(benchPostgresUrl, schema),
        env: { PGAPPNAME: appName },
      });
      stops.push(() => postgres.child.stop());
      targets.push({ name: "postgres", server: postgres, databaseCpu: () => backendCpu(connected, appName) });
    }

    const load = await startPinnedChild<Record<string, never>>({
      name: "CreateDeployment load generator",
      script: fileURLToPath(new URL("./create-throughput/load-child.ts", import.meta.url)),
      cpu: loadCpu,
    });
    stops.push(() => load.stop());

    let round = 0;
    const measure = (target: Target) => measureRound(target, load, users.token, settings.roundSeconds, `r${round++}-${target.name}`);
    for (const target of targets) {
      const warmUp = await measure(target);
      progress(`${target.name} warm-up: ${describeRound(warmUp)}`);
    }
    const rounds: Partial<Record<Backend, CreateRound[]>> = {};
    for (let r = 1; r <= settings.rounds; r++) {
      for (const target of targets) {
        const result = await measure(target);
        (rounds[target.name] ??= []).push(result);
        progress(`${target.name} round ${r}/${settings.rounds}: ${describeRound(result)}`);
      }
    }

    const profiles: CreateProfile[] = [];
    if (settings.profile) for (const target of targets) profiles.push(await profileRound(target, () => measure(target), settings.outputDir));

    const backends: CreateThroughputResult["backends"] = {};
    for (const [name, list] of Object.entries(rounds) as [Backend, CreateRound[]][]) backends[name] = summarize(list);
    return {
      benchmark: "create-throughput",
      date: new Date().toISOString(),
      node: process.version,
      load: { tool: "node (grpc-js)", concurrency, connections, rounds: settings.rounds, roundSeconds: settings.roundSeconds },
      backends,
      ...(profiles.length > 0 ? { profiles } : {}),
      skipped,
      notes: [
        `deployments service processes pinned to CPU ${serverCpu}, the load generator (and the idle users service) to CPU ${loadCpu}; ` +
          "CPU = utime + stime from /proc",
        "the load generator is Node (grpc-js, protobuf-es encoding per call), not h2load: h2load repeats one body, i.e. one request_id, which would measure the " +
          "idempotent-replay path. It costs CPU per call itself (see loadgen CPU); near 100 % it would be the bottleneck",
        "every call: a new service and a unique request_id (no replay, no DEPLOYMENT_IN_PROGRESS); full middleware chain, admin access token, log level info to /dev/null; " +
          "any failed call aborts the benchmark",
        `PostgreSQL: ${benchPostgresUrl.replace(/\/\/[^@]*@/, "//…@")}, fresh schema ${schema} (dropped afterwards), pg pool defaults; the server is not pinned and shares both CPUs; ` +
          "PG CPU counts the service's backends (by application_name), not WAL writer or checkpointer",
        `a warm-up round per backend, then ${settings.rounds} interleaved rounds; the tables keep growing across rounds`,
      ],
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    if (admin) {
      await admin.dropSchema(schema).catch((error: unknown) => progress(`could not drop schema ${schema}: ${String(error)}`));
      await admin.close().catch(() => undefined);
    }
    await rm(work, { recursive: true, force: true });
    untrackDirectory(work);
  }
}

async function measureRound(
  target: Target,
  load: PinnedChild<Record<string, never>>,
  token: string,
  seconds: number,
  prefix: string,
): Promise<CreateRound> {
  const pid = target.server.child.pid;
  const databaseBefore = (await target.databaseCpu?.()) ?? new Map<number, number>();
  const cpuBefore = processCpuMicros(pid);
  const busyBefore = cpuBusyMicros(serverCpu);
  const started = performance.now();
  const reply = await load.request<LoadReply>(
    { type: "load", address: target.server.address, token, seconds, concurrency, connections, prefix },
    "loaded",
    seconds * 1000 + 120_000,
  );
  const wallMicros = (performance.now() - started) * 1000;
  const cpuMicros = processCpuMicros(pid) - cpuBefore;
  const busyMicros = cpuBusyMicros(serverCpu) - busyBefore;
  const databaseAfter = (await target.databaseCpu?.()) ?? new Map<number, number>();
  let databaseMicros = 0;
  for (const [backend, after] of databaseAfter) databaseMicros += after - (databaseBefore.get(backend) ?? 0);
  if (reply.failed > 0) {
    throw new Error(`${target.name}: ${reply.failed} of ${reply.failed + reply.completed} creates failed (${JSON.stringify(reply.errors)}); not measuring`);
  }
  const creates = reply.completed;
  return {
    creates,
    createsPerSecond: creates / reply.seconds,
    serverCpuMicrosPerCreate: cpuMicros / creates,
    databaseCpuMicrosPerCreate: databaseMicros / creates,
    p50Millis: percentile(reply.latenciesMicros, 50) / 1000,
    p99Millis: percentile(reply.latenciesMicros, 99) / 1000,
    loadCpuShare: reply.cpuMicros / (reply.seconds * 1_000_000),
    loadCpuMicrosPerCreate: reply.cpuMicros / creates,
    otherWorkShare: Math.max(0, busyMicros - cpuMicros) / wallMicros,
  };
}

/** One more round with the server's CPU profiler on (not counted: profiling slows it down), split by layer. */
async function profileRound(target: Target, round: () => Promise<CreateRound>, outputDir: string): Promise<CreateProfile> {
  const file = join(outputDir, `create-throughput-${target.name}.cpuprofile`);
  const result = await target.server.child.profile(file, round);
  progress(`${target.name} profiled: ${describeRound(result)}; profile in ${file} (open in Chrome DevTools)`);
  return { backend: target.name, file, ...(await splitByLayer(file)), self: await topSelfTime(file, 12) };
}

/** CPU used so far by each PostgreSQL backend of the service (by application_name). */
async function backendCpu(admin: PostgresAdmin, appName: string): Promise<Map<number, number>> {
  const cpu = new Map<number, number>();
  for (const pid of await admin.backendPids(appName)) {
    try {
      cpu.set(pid, processCpuMicros(pid));
    } catch {
      // Gone between the query and the read (or on another host): not counted.
    }
  }
  return cpu;
}

function progress(line: string): void {
  process.stderr.write(`  create-throughput: ${line}\n`);
}
