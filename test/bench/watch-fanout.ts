/**
 * WatchDeployments fan-out: 1,000 and 10,000 concurrent watch streams on one
 * deployments service process (SQLite, the real users service for tokens,
 * the full middleware chain), against a bare grpc-js server that holds the
 * same number of streams and writes one message of the same bytes to each
 * on a trigger. Servers are pinned to CPU 0; one client process holding
 * every stream, and the users service, to CPU 1. For each change, every
 * stream's receive time is compared with the moment right before the commit
 * was sent (the machine's monotonic clock, shared by all processes). Memory
 * per stream is (server memory with N streams − with none) / N, each after
 * forced full GCs. When the chain misses a target (or with --profile), the
 * deployments process is CPU-profiled during extra changes and its heap
 * growth per stream is broken down by object kind.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WatchDeploymentsResponseSchema } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import type { Benchmark, BenchSettings } from "./support/benchmark.js";
import { startBenchUsers, type BenchUsers } from "./support/bench-stack.js";
import type { MemoryReading } from "./support/child-memory.js";
import { trackDirectory, untrackDirectory } from "./support/cleanup.js";
import { cpuBusyMicros } from "./support/cpu-busy.js";
import { topSelfTime } from "./support/cpu-profile.js";
import { topTotalTime } from "./support/cpu-profile-total.js";
import { changeLatency } from "./support/delivery-latency.js";
import { heapGrowth, heapHistogram } from "./support/heap-histogram.js";
import { deliverPaced } from "./support/paced-changes.js";
import { median } from "./support/percentile.js";
import { startPinnedChild, type PinnedChild } from "./support/pinned-child.js";
import { processCpuMicros } from "./support/process-cpu.js";
import { streamMemory } from "./support/stream-memory.js";
import type { ClosedReply, MarkedReply } from "./support/watch-client.js";
import type { CollectedReply, OpenedReply } from "./watch-fanout/client-child.js";
import {
  describeChange,
  format,
  summarizeRun,
  type ChangeDelivery,
  type FanoutLevel,
  type FanoutRun,
  type FanoutServerName,
  type WatchFanoutResult,
} from "./watch-fanout/report.js";
import { startBareFanout, startChainFanout, type FanoutServer } from "./watch-fanout/servers.js";

const serverCpu = 0;
const clientCpu = 1;
const levels = [1_000, 10_000];
const changesPerRun = 10;
const changeSpacingMs = 500;
const warmUpStreams = 500;
const warmUpChanges = 3;
const profiledChanges = 5;
/**
 * Streams per HTTP/2 connection. Neither server sets
 * grpc.max_concurrent_streams, so a grpc-js server advertises Node's default
 * SETTINGS_MAX_CONCURRENT_STREAMS of 2^32 − 1 (checked) and nothing forces a
 * lower count; 1,000 keeps it to a handful of connections.
 */
const streamsPerConnection = 1_000;
/** Streams opened at once, each batch waiting for its snapshots. */
const openBatch = 500;
const collectTimeoutMs = 20_000;
/** Heap snapshots of more streams than this are too large to parse here. */
const heapBreakdownMaxStreams = 2_000;
const targets = { p99RatioAtLargest: 1.25, maxBytesPerStream: 16 * 1024 };

/** The watch fan-out benchmark. */
export const watchFanout: Benchmark<WatchFanoutResult> = {
  name: "watch-fanout",
  run,
  format,
};

type ClientChild = PinnedChild<Record<string, never>>;

/** A server and its client, streams open: what the diagnosis steps work on. */
interface Session {
  server: FanoutServer;
  client: ClientChild;
  open(count: number): Promise<OpenedReply>;
  close(): Promise<void>;
  nextChange(): number;
}

async function run(settings: BenchSettings): Promise<WatchFanoutResult> {
  const work = await mkdtemp(join(tmpdir(), "launchpad-bench-fanout-"));
  trackDirectory(work);
  let users: BenchUsers | undefined;
  try {
    users = await startBenchUsers(join(work, "users"), clientCpu);
    const usersAddress = users.address;
    const token = users.token;
    let samples: { snapshot: string; change: string } | undefined;
    let runs = 0;
    const startServer = async (name: FanoutServerName): Promise<FanoutServer> => {
      runs++;
      if (name === "chain") {
        const dataDir = join(work, `deployments-${runs}`);
        await mkdir(dataDir, { recursive: true });
        return startChainFanout({ cpu: serverCpu, dataDir, usersAddress, token, tag: `fanout-${runs}` });
      }
      if (!samples) throw new Error("the bare server needs the chain's messages first");
      return startBareFanout({ cpu: serverCpu, ...samples });
    };

    const results: FanoutLevel[] = [];
    let profile: WatchFanoutResult["profile"];
    let heap: WatchFanoutResult["heap"];
    for (const streams of levels) {
      const largest = streams === levels[levels.length - 1];
      // The chain goes first once, to provide the bare server's messages;
      // after that it goes last, so whether to profile it can be decided
      // while its streams are still open.
      const order: FanoutServerName[] = samples ? ["bare", "chain"] : ["chain", "bare"];
      const level: Partial<Record<FanoutServerName, FanoutRun>> = {};
      for (const name of order) {
        level[name] = await measureServer(name, streams, () => startServer(name), token, {
          onSamples: (s) => (samples ??= s),
          diagnose: async (measured, session) => {
            if (name !== "chain") return;
            const bare = level.bare;
            const slow = largest && bare !== undefined && measured.latency.p99Millis > targets.p99RatioAtLargest * bare.latency.p99Millis;
            if (profile === undefined && (slow || (largest && settings.profile))) {
              profile = await profileDeliveries(session, streams, settings.outputDir);
            }
            const large = Math.max(measured.memory.rssPerStreamBytes, measured.memory.heapPerStreamBytes) > targets.maxBytesPerStream;
            if (heap === undefined && streams <= heapBreakdownMaxStreams && (large || settings.profile)) {
              heap = await breakDownHeap(session, streams, settings.outputDir);
            }
          },
        });
      }
      const chain = level.chain!;
      const bare = level.bare!;
      results.push({
        streams,
        chain,
        bare,
        ratio: {
          p99: chain.latency.p99Millis / bare.latency.p99Millis,
          serverCpuPerDelivery: chain.serverCpuMicrosPerDelivery / bare.serverCpuMicrosPerDelivery,
          rssPerStream: chain.memory.rssPerStreamBytes / bare.memory.rssPerStreamBytes,
          heapPerStream: chain.memory.heapPerStreamBytes / bare.memory.heapPerStreamBytes,
        },
      });
    }

    return {
      benchmark: "watch-fanout",
      date: new Date().toISOString(),
      node: process.version,
      changesPerRun,
      changeSpacingMillis: changeSpacingMs,
      changeBytes: Buffer.from(samples?.change ?? "", "base64").length,
      snapshotDeployments: results[results.length - 1]?.chain.snapshotDeployments ?? 0,
      levels: results,
      targets,
      notes: [
        `servers pinned to CPU ${serverCpu}; one grpc-js client process holding every stream (${streamsPerConnection} streams per HTTP/2 connection, ` +
          `each channel with its own subchannel pool; both servers advertise SETTINGS_MAX_CONCURRENT_STREAMS 2^32−1) and the users service pinned to CPU ${clientCpu}`,
        "chain: the real deployments service (SQLite, full middleware chain, one admin access token for every stream, log level info to /dev/null, " +
          "LAUNCHPAD_WATCH_HEARTBEAT=10m, LAUNCHPAD_WATCH_QUEUE_LIMIT=1000); a change is a CreateDeployment (new service, unique request_id) from the parent process",
        "bare: @grpc/grpc-js server holding the streams, writing the chain's own change message (protobuf-es, encoded per write) to every stream on a unary trigger",
        "latency: process.hrtime (CLOCK_MONOTONIC, shared by all processes) right before the commit/trigger is sent → the client's grpc-js 'data' event on that stream; " +
          "includes the commit itself and the client's receive path",
        "all-by: median over changes of the time until the last stream had the change; srv/cli µs/msg: process CPU from the commit until every stream had it, per delivery",
        `memory per stream: (memoryUsage with N streams − with 0) / N in the server, each after forced full GCs, after a warm-up of ${warmUpStreams} streams and ${warmUpChanges} changes; ` +
          "includes the HTTP/2 connections' share",
      ],
      ...(profile ? { profile } : {}),
      ...(heap ? { heap } : {}),
    };
  } finally {
    await users?.child.stop();
    await rm(work, { recursive: true, force: true });
    untrackDirectory(work);
  }
}

interface MeasureHooks {
  onSamples(samples: { snapshot: string; change: string }): void;
  /** Runs after the measured changes, with the streams still open. */
  diagnose(run: FanoutRun, session: Session): Promise<void>;
}

/** Starts a fresh server and client, warms up, opens `streams` streams and delivers the changes. */
async function measureServer(
  name: FanoutServerName,
  streams: number,
  start: () => Promise<FanoutServer>,
  token: string,
  hooks: MeasureHooks,
): Promise<FanoutRun> {
  const server = await start();
  let client: ClientChild | undefined;
  try {
    client = await startPinnedChild<Record<string, never>>({
      name: "watch client",
      script: fileURLToPath(new URL("./watch-fanout/client-child.ts", import.meta.url)),
      cpu: clientCpu,
    });
    let k = 0;
    const session: Session = {
      server,
      client,
      open: (count) =>
        client!.request<OpenedReply>({ type: "open", address: server.address, count, streamsPerConnection, batch: openBatch, token }, "opened"),
      close: async () => void (await client!.request<ClosedReply>({ type: "close" }, "closed")),
      nextChange: () => k++,
    };

    // Warm-up: JIT, connection setup, first allocations; not measured.
    const warm = await session.open(Math.min(streams, warmUpStreams));
    let changeSample = "";
    for (let i = 0; i < warmUpChanges; i++) {
      const { collected } = await deliverOne(session);
      changeSample ||= collected.changeBase64;
      if (collected.missing > 0) throw new Error(`${name}: warm-up change missed ${collected.missing} streams (${collected.firstError})`);
    }
    if (name === "chain") hooks.onSamples({ snapshot: warm.snapshotBase64, change: changeSample });
    await session.close();

    const idle = await memoryOf(server);
    const opened = await session.open(streams);
    const loaded = await memoryOf(server);
    progress(
      `${name} at ${streams}: ${opened.streams} streams over ${opened.connections} connections in ${(opened.millis / 1000).toFixed(1)} s; ` +
        `RSS +${((loaded.rss - idle.rss) / streams / 1024).toFixed(1)} KB/stream, heap +${((loaded.heapUsed - idle.heapUsed) / streams / 1024).toFixed(1)} KB/stream`,
    );

    const onChange = (change: ChangeDelivery, _: CollectedReply, i: number) =>
      progress(`${name} at ${streams}, change ${i + 1}/${changesPerRun}: ${describeChange(change)}`);
    const { changes, latencies, failedStreams, firstError } = await deliverPaced(changesPerRun, changeSpacingMs, () => deliverOne(session), onChange);
    const settled = await memoryOf(server);
    progress(
      `${name} at ${streams}, after the changes: RSS +${((settled.rss - idle.rss) / streams / 1024).toFixed(1)} KB/stream, ` +
        `heap +${((settled.heapUsed - idle.heapUsed) / streams / 1024).toFixed(1)} KB/stream`,
    );
    const measured = summarizeRun(
      {
        streams: opened.streams,
        connections: opened.connections,
        openSeconds: opened.millis / 1000,
        snapshotDeployments: deploymentsIn(opened.snapshotBase64),
        memory: streamMemory(streams, idle, loaded, settled),
        otherWorkShare: median(changes.map((c) => c.otherWorkShare)),
        failedStreams,
        firstError,
      },
      changes,
      latencies,
    );
    await hooks.diagnose(measured, session);
    await session.close();
    return measured;
  } finally {
    await client?.stop();
    await server.stop();
  }
}

/** Commits one change and collects its delivery to every stream. */
async function deliverOne({ server, client, nextChange }: Session): Promise<{ change: ChangeDelivery; collected: CollectedReply }> {
  const pid = server.child.pid;
  await client.request<MarkedReply>({ type: "mark" }, "marked");
  const serverBefore = processCpuMicros(pid);
  const busyBefore = cpuBusyMicros(serverCpu);
  const t0 = process.hrtime.bigint();
  const revision = await server.commit(nextChange());
  const collected = await client.request<CollectedReply>(
    { type: "collect", revision: String(revision), t0: String(t0), timeoutMs: collectTimeoutMs },
    "collected",
  );
  const wallMicros = Number(process.hrtime.bigint() - t0) / 1000;
  const serverCpuMicros = processCpuMicros(pid) - serverBefore;
  const busyMicros = cpuBusyMicros(serverCpu) - busyBefore;
  return {
    collected,
    change: {
      ...changeLatency(revision, collected),
      serverCpuMillis: serverCpuMicros / 1000,
      clientCpuMillis: collected.cpuMicros / 1000,
      otherWorkShare: Math.max(0, busyMicros - serverCpuMicros) / wallMicros,
    },
  };
}

/** A few more changes with the server's CPU profiler on (not counted: profiling slows it down). */
async function profileDeliveries(session: Session, streams: number, outputDir: string): Promise<NonNullable<WatchFanoutResult["profile"]>> {
  const file = join(outputDir, "watch-fanout-chain.cpuprofile");
  await session.server.child.profile(file, async () => {
    for (let i = 0; i < profiledChanges; i++) {
      const { change } = await deliverOne(session);
      progress(`chain at ${streams}, profiled change ${i + 1}/${profiledChanges}: ${describeChange(change)}`);
      await new Promise((resolve) => setTimeout(resolve, changeSpacingMs / 2));
    }
  });
  progress(`chain at ${streams}: CPU profile in ${file} (open in Chrome DevTools)`);
  return { streams, changes: profiledChanges, file, self: await topSelfTime(file, 15), total: await topTotalTime(file, 25) };
}

/**
 * Heap snapshots of the server with no streams and with `streams` streams
 * again, and what grew, per stream, by object kind. Closes and reopens the
 * streams: the snapshots themselves allocate, so they come after the
 * measurements.
 */
async function breakDownHeap(session: Session, streams: number, outputDir: string): Promise<NonNullable<WatchFanoutResult["heap"]>> {
  const idleFile = join(outputDir, "watch-fanout-chain-idle.heapsnapshot");
  const loadedFile = join(outputDir, "watch-fanout-chain-loaded.heapsnapshot");
  const snapshot = (file: string) => session.server.child.request({ type: "heap-snapshot", file }, "heap-snapshot-written", 120_000);
  await session.close();
  await memoryOf(session.server);
  await snapshot(idleFile);
  const opened = await session.open(streams);
  await memoryOf(session.server);
  await snapshot(loadedFile);
  const growth = heapGrowth(await heapHistogram(idleFile), await heapHistogram(loadedFile), streams, 20);
  await Promise.all([rm(idleFile, { force: true }), rm(loadedFile, { force: true })]);
  progress(`chain at ${streams}: heap snapshots compared (files removed)`);
  return { streams, snapshotDeployments: deploymentsIn(opened.snapshotBase64), totalBytesPerStream: growth.totalBytes, perStream: growth.kinds };
}

/** How many deployments a WatchDeployments snapshot message (base64) holds. */
function deploymentsIn(snapshotBase64: string): number {
  const response = fromBinary(WatchDeploymentsResponseSchema, Buffer.from(snapshotBase64, "base64"));
  return response.kind.case === "snapshot" ? response.kind.value.deployments.length : 0;
}

async function memoryOf(server: FanoutServer): Promise<MemoryReading> {
  const reading = await server.child.request<MemoryReading>({ type: "memory" }, "memory");
  if (!reading.collected) progress("warning: could not force a GC in the server; memory figures include garbage");
  return reading;
}

function progress(line: string): void {
  process.stderr.write(`  watch-fanout: ${line}\n`);
}
