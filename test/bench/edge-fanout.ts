/**
 * WatchDeployments fan-out through the edge: 1,000 watchers (or
 * LAUNCHPAD_BENCH_WATCHERS) using the Connect protocol (connect-node's
 * client, HTTP/2, all in one client process pinned to CPU 1), first Connect
 * JSON (what browsers send), then Connect binary. The edge and the
 * deployments service (SQLite, full middleware chain) are pinned to CPU 0;
 * the users service idles on CPU 1 once the token is issued. A change is a
 * CreateDeployment sent by the parent straight to the deployments service
 * over gRPC; every stream's receive time is compared with the moment right
 * before the commit was sent (the machine's monotonic clock, shared by all
 * processes). Memory per stream is (the edge's memory with N streams − with
 * none) / N, each after forced full GCs over IPC; the deployments service's
 * is shown alongside.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, Metadata, credentials, type ServiceError } from "@grpc/grpc-js";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateDeploymentRequestSchema, CreateDeploymentResponseSchema } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import type { CollectedReply, OpenedReply } from "./edge-fanout/client-child.js";
import { describeChange, format, summarizeRun, type ChangeDelivery, type EdgeFanoutResult, type FanoutRun, type WatchFormat } from "./edge-fanout/report.js";
import { selfTimeByPart } from "./edge-paths/profile-parts.js";
import type { Benchmark, BenchSettings } from "./support/benchmark.js";
import { startBenchEdge, type BenchEdge } from "./support/bench-edge.js";
import { startBenchDeployments, startBenchUsers, type BenchDeployments } from "./support/bench-stack.js";
import type { MemoryReading } from "./support/child-memory.js";
import { trackDirectory, untrackDirectory } from "./support/cleanup.js";
import { cpuBusyMicros } from "./support/cpu-busy.js";
import { topSelfTime } from "./support/cpu-profile.js";
import { changeLatency } from "./support/delivery-latency.js";
import { deliverPaced } from "./support/paced-changes.js";
import { median } from "./support/percentile.js";
import { startPinnedChild, type PinnedChild } from "./support/pinned-child.js";
import { processCpuMicros } from "./support/process-cpu.js";
import { streamMemory } from "./support/stream-memory.js";
import type { ClosedReply, MarkedReply } from "./support/watch-client.js";

const serverCpu = 0;
const clientCpu = 1;
/** Streams measured; LAUNCHPAD_BENCH_WATCHERS sets another count (the edge's target is stated at 10,000). */
const watchers = watcherCount(process.env.LAUNCHPAD_BENCH_WATCHERS);
const formats: WatchFormat[] = ["json", "binary"];
const changesPerRun = 10;
const changeSpacingMs = 500;
const warmUpStreams = 200;
const warmUpChanges = 3;
const profiledChanges = 5;
/** Streams per HTTP/2 connection, as in watch-fanout: the edge serves them all on one connection. */
const streamsPerConnection = 1_000;
/** Streams opened at once, each batch waiting for its snapshots. */
const openBatch = 250;
const collectTimeoutMs = 20_000;
const createPath = "/launchpad.deployment.v1.DeploymentService/CreateDeployment";

/** The edge fan-out benchmark. */
export const edgeFanout: Benchmark<EdgeFanoutResult> = {
  name: "edge-fanout",
  run,
  format,
};

type ClientChild = PinnedChild<Record<string, never>>;

/** The servers, a way to commit a change, and the client holding the streams. */
interface Session {
  edge: BenchEdge;
  deployments: BenchDeployments;
  client: ClientChild;
  commit(): Promise<bigint>;
  open(count: number, binary: boolean): Promise<OpenedReply>;
  close(): Promise<void>;
}

async function run(settings: BenchSettings): Promise<EdgeFanoutResult> {
  const work = await mkdtemp(join(tmpdir(), "launchpad-bench-edge-fanout-"));
  trackDirectory(work);
  const stops: (() => Promise<void>)[] = [];
  try {
    const usersDir = join(work, "users");
    const deploymentsDir = join(work, "deployments");
    await Promise.all([mkdir(usersDir, { recursive: true }), mkdir(deploymentsDir, { recursive: true })]);
    const users = await startBenchUsers(usersDir, clientCpu);
    stops.push(() => users.child.stop());
    const deployments = await startBenchDeployments({
      name: "deployments service",
      cpu: serverCpu,
      dataDir: deploymentsDir,
      usersAddress: users.address,
      // No heartbeat during a run: only the measured changes travel.
      env: { LAUNCHPAD_WATCH_HEARTBEAT: "10m", LAUNCHPAD_WATCH_QUEUE_LIMIT: "1000" },
    });
    stops.push(() => deployments.child.stop());
    const edge = await startBenchEdge({ cpu: serverCpu, usersAddress: users.address, deploymentsAddress: deployments.address });
    stops.push(() => edge.child.stop());
    const committer = createCommitter(deployments.address, users.token);
    stops.push(async () => committer.close());

    const runs: FanoutRun[] = [];
    let profile: EdgeFanoutResult["profile"];
    for (const watchFormat of formats) {
      const client = await startPinnedChild<Record<string, never>>({
        name: "Connect watch client",
        script: fileURLToPath(new URL("./edge-fanout/client-child.ts", import.meta.url)),
        cpu: clientCpu,
      });
      try {
        const session: Session = {
          edge,
          deployments,
          client,
          commit: committer.commit,
          open: (count, binary) =>
            client.request<OpenedReply>(
              { type: "open", baseUrl: edge.url, count, streamsPerConnection, batch: openBatch, token: users.token, binary },
              "opened",
            ),
          close: async () => void (await client.request<ClosedReply>({ type: "close" }, "closed")),
        };
        runs.push(await measureFormat(session, watchFormat));
        if (settings.profile && profile === undefined) profile = await profileEdge(session, watchFormat, settings.outputDir);
        await session.close();
      } finally {
        await client.stop();
      }
    }

    return {
      benchmark: "edge-fanout",
      date: new Date().toISOString(),
      node: process.version,
      changesPerRun,
      changeSpacingMillis: changeSpacingMs,
      runs,
      notes: [
        `the edge and the deployments service pinned to CPU ${serverCpu}; one client process holding every stream (connect-node createConnectTransport, HTTP/2, ` +
          `${streamsPerConnection} streams per connection) and the idle users service pinned to CPU ${clientCpu}`,
        "path of a change: deployments service → one gRPC server stream per watcher to the edge (pooled HTTP/2 sessions) → the edge's lean Connect " +
          "stream path wraps the message in a Connect envelope as it came (binary) or converted to JSON (protobuf-es), once per watcher",
        "deployments service: SQLite, full middleware chain, log level info to /dev/null, LAUNCHPAD_WATCH_HEARTBEAT=10m; a change is a CreateDeployment " +
          "(new service, unique request_id) the parent sends straight to it over gRPC (one persistent grpc-js channel)",
        "latency: process.hrtime (CLOCK_MONOTONIC, shared by all processes) right before the commit is sent → the Connect client's async iterator yields the " +
          "decoded message; includes the commit itself, the deployments service's fan-out and the client's receive path",
        "all-by: median over changes of the time until the last stream had the change; µs/msg: process CPU from the commit until every stream had it, per delivery",
        `memory per stream: (memoryUsage with ${watchers} streams − with 0) / ${watchers} after forced full GCs (IPC), after a warm-up of ${warmUpStreams} streams ` +
          `and ${warmUpChanges} changes; includes the HTTP/2 connection's share and, for the edge, its upstream HTTP/2 stream per watcher`,
      ],
      ...(profile ? { profile } : {}),
    };
  } finally {
    for (const stop of stops.reverse()) await stop();
    await rm(work, { recursive: true, force: true });
    untrackDirectory(work);
  }
}

/** Warms up, opens the watchers, delivers the changes and reads memory, with streams left open for profiling. */
async function measureFormat(session: Session, watchFormat: WatchFormat): Promise<FanoutRun> {
  const binary = watchFormat === "binary";
  const label = `Connect ${watchFormat}`;
  // Warm-up: JIT, connection setup, first allocations; not measured.
  await session.open(warmUpStreams, binary);
  for (let i = 0; i < warmUpChanges; i++) {
    const { collected } = await deliverOne(session);
    if (collected.missing > 0) throw new Error(`${label}: warm-up change missed ${collected.missing} streams (${collected.firstError})`);
  }
  await session.close();

  const idle = await memoryOf(session);
  const opened = await session.open(watchers, binary);
  const loaded = await memoryOf(session);
  const perStream = (from: MemoryReading, to: MemoryReading) =>
    `RSS +${((to.rss - from.rss) / watchers / 1024).toFixed(1)} KB/stream, heap +${((to.heapUsed - from.heapUsed) / watchers / 1024).toFixed(1)} KB/stream`;
  progress(
    `${label}: ${opened.streams} streams over ${opened.connections} connections in ${(opened.millis / 1000).toFixed(1)} s; ` +
      `edge ${perStream(idle.edge, loaded.edge)}; deployments ${perStream(idle.deployments, loaded.deployments)}`,
  );

  let changeBytes = 0;
  const onChange = (change: ChangeDelivery, collected: CollectedReply, i: number) => {
    changeBytes ||= collected.changeBytes;
    progress(`${label}, change ${i + 1}/${changesPerRun}: ${describeChange(change)}`);
  };
  const { changes, latencies, failedStreams, firstError } = await deliverPaced(changesPerRun, changeSpacingMs, () => deliverOne(session), onChange);
  const settled = await memoryOf(session);
  progress(`${label}, after the changes: edge ${perStream(idle.edge, settled.edge)}`);
  const memory = (name: "edge" | "deployments") => streamMemory(watchers, idle[name], loaded[name], settled[name]);
  return summarizeRun(
    {
      format: watchFormat,
      contentType: binary ? "application/connect+proto" : "application/connect+json",
      streams: opened.streams,
      connections: opened.connections,
      openSeconds: opened.millis / 1000,
      snapshotDeployments: opened.snapshotDeployments,
      changeBytes,
      memory: { edge: memory("edge"), deployments: memory("deployments") },
      otherWorkShare: median(changes.map((c) => c.otherWorkShare)),
      failedStreams,
      firstError,
    },
    changes,
    latencies,
  );
}

/** Commits one change and collects its delivery to every stream. */
async function deliverOne(session: Session): Promise<{ change: ChangeDelivery; collected: CollectedReply }> {
  const { edge, deployments, client } = session;
  await client.request<MarkedReply>({ type: "mark" }, "marked");
  const edgeBefore = processCpuMicros(edge.child.pid);
  const deploymentsBefore = processCpuMicros(deployments.child.pid);
  const busyBefore = cpuBusyMicros(serverCpu);
  const t0 = process.hrtime.bigint();
  const revision = await session.commit();
  const collected = await client.request<CollectedReply>(
    { type: "collect", revision: String(revision), t0: String(t0), timeoutMs: collectTimeoutMs },
    "collected",
  );
  const wallMicros = Number(process.hrtime.bigint() - t0) / 1000;
  const edgeCpu = processCpuMicros(edge.child.pid) - edgeBefore;
  const deploymentsCpu = processCpuMicros(deployments.child.pid) - deploymentsBefore;
  const busyMicros = cpuBusyMicros(serverCpu) - busyBefore;
  return {
    collected,
    change: {
      ...changeLatency(revision, collected),
      edgeCpuMillis: edgeCpu / 1000,
      deploymentsCpuMillis: deploymentsCpu / 1000,
      clientCpuMillis: collected.cpuMicros / 1000,
      otherWorkShare: Math.max(0, busyMicros - edgeCpu - deploymentsCpu) / wallMicros,
    },
  };
}

/** A few more changes with the edge's CPU profiler on (not counted: profiling slows it down). */
async function profileEdge(session: Session, watchFormat: WatchFormat, outputDir: string): Promise<NonNullable<EdgeFanoutResult["profile"]>> {
  const file = join(outputDir, `edge-fanout-${watchFormat}.cpuprofile`);
  await session.edge.child.profile(file, async () => {
    for (let i = 0; i < profiledChanges; i++) {
      const { change } = await deliverOne(session);
      progress(`Connect ${watchFormat}, profiled change ${i + 1}/${profiledChanges}: ${describeChange(change)}`);
      await new Promise((resolve) => setTimeout(resolve, changeSpacingMs / 2));
    }
  });
  progress(`Connect ${watchFormat}: edge CPU profile in ${file} (open in Chrome DevTools)`);
  return { format: watchFormat, streams: watchers, changes: profiledChanges, file, self: await topSelfTime(file, 10), parts: await selfTimeByPart(file, 10) };
}

/** Commits changes with CreateDeployment over one persistent grpc-js channel: a new service and request_id each time. */
function createCommitter(address: string, token: string): { commit(): Promise<bigint>; close(): void } {
  const client = new Client(address, credentials.createInsecure());
  const raw = (bytes: Buffer) => bytes;
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const tag = `edge-fanout-${process.pid}`;
  let k = 0;
  return {
    commit() {
      const id = `${tag}-${k++}`;
      const request = create(CreateDeploymentRequestSchema, {
        deployment: { service: id, version: "1.0.0", environment: "bench", description: "edge fan-out benchmark" },
        requestId: id,
      });
      return new Promise<bigint>((resolve, reject) =>
        client.makeUnaryRequest(
          createPath,
          raw,
          raw,
          Buffer.from(toBinary(CreateDeploymentRequestSchema, request)),
          metadata,
          { deadline: Date.now() + 10_000 },
          (error: ServiceError | null, response?: Buffer) => {
            if (error) return reject(new Error(`CreateDeployment failed: ${error.code} ${error.details}`));
            const revision = fromBinary(CreateDeploymentResponseSchema, response!).deployment?.revision;
            if (revision === undefined) return reject(new Error("CreateDeployment returned no deployment"));
            resolve(revision);
          },
        ),
      );
    },
    close: () => client.close(),
  };
}

async function memoryOf(session: Session): Promise<{ edge: MemoryReading; deployments: MemoryReading }> {
  const edge = await session.edge.child.request<MemoryReading>({ type: "memory" }, "memory");
  const deployments = await session.deployments.child.request<MemoryReading>({ type: "memory" }, "memory");
  if (!edge.collected || !deployments.collected) progress("warning: could not force a GC in a server; memory figures include garbage");
  return { edge, deployments };
}

function progress(line: string): void {
  process.stderr.write(`  edge-fanout: ${line}\n`);
}

function watcherCount(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 1_000;
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > 100_000) throw new Error(`LAUNCHPAD_BENCH_WATCHERS: expected 1 to 100000 streams, not "${raw}"`);
  return count;
}
