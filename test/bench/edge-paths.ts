/**
 * GetDeployment on one existing deployment with a real access token, five
 * ways side by side: gRPC straight to the deployments service, and through
 * the edge as gRPC (frame relay), Connect JSON, Connect binary and REST
 * (when edge/rest is wired into the edge). Every server — users,
 * deployments and the edge — is its own process pinned to CPU 0; h2load
 * (HTTP/2 cleartext for every path, so the client side is the same) is
 * pinned to CPU 1. A path's CPU per request is the sum of the server
 * processes it goes through. Each path is checked with a real client of its
 * protocol before any load, and every round is checked against the
 * deployments service's own count of GetDeployment calls that ended OK.
 */
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetDeploymentRequestSchema, GetDeploymentResponseSchema } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { selfTimeByPart } from "./edge-paths/profile-parts.js";
import { definePaths, expectAllOk, restWiring, startPathsStack, type BenchPath, type PathsStack } from "./edge-paths/paths.js";
import { describeRound, format, summarizePath, type EdgePathsResult, type PathName, type PathProfile, type PathSummary } from "./edge-paths/report.js";
import type { Benchmark, BenchSettings } from "./support/benchmark.js";
import { trackDirectory, untrackDirectory } from "./support/cleanup.js";
import { topSelfTime } from "./support/cpu-profile.js";
import { measureSplitRound, type SplitRound } from "./support/measure-round.js";
import { median } from "./support/percentile.js";
import { callUnaryRaw } from "./support/raw-unary.js";

const serverCpu = 0;
const loadCpu = 1;
/** The smallest run, and the cold first warm-up run. */
const minRequests = 1000;
/** Every edge path's throughput as a fraction of direct gRPC that we aim for. */
const target = 0.5;
/** Five paths share the time four servers would get elsewhere: rounds are this fraction of --round-seconds. */
const roundShare = 0.75;
const profileTop = 5;

/** The edge paths benchmark. */
export const edgePaths: Benchmark<EdgePathsResult> = {
  name: "edge-paths",
  run,
  format,
};

async function run(settings: BenchSettings): Promise<EdgePathsResult> {
  const work = await mkdtemp(join(tmpdir(), "launchpad-bench-edge-paths-"));
  trackDirectory(work);
  let stack: PathsStack | undefined;
  try {
    stack = await startPathsStack(work, serverCpu);
    const rest = await restWiring(stack);
    progress(rest.wired ? `REST: included (${rest.reason})` : `REST: not wired yet (${rest.reason})`);
    const paths = await definePaths(stack, work, rest.wired);
    for (const path of paths) await path.verify();
    progress(`every path answered GetDeployment(${stack.deploymentName}) with success through a real client of its protocol`);
    const reply = await callUnaryRaw(
      stack.deployments.address,
      "/launchpad.deployment.v1.DeploymentService/GetDeployment",
      toBinary(GetDeploymentRequestSchema, create(GetDeploymentRequestSchema, { name: stack.deploymentName })),
      { authorization: `Bearer ${stack.token}` },
    );
    const responseJson = toJsonString(GetDeploymentResponseSchema, fromBinary(GetDeploymentResponseSchema, reply));

    const roundSeconds = settings.roundSeconds * roundShare;
    const metricsUrl = stack.deployments.metricsUrl;
    const measure = (path: BenchPath, requests: number) =>
      expectAllOk(metricsUrl, path.name, () =>
        measureSplitRound(path.processes, serverCpu, {
          url: path.url,
          headers: path.headers,
          ...(path.bodyFile === undefined ? {} : { bodyFile: path.bodyFile }),
          clients: settings.clients,
          streams: settings.streams,
          requests,
          logFile: join(work, `${path.name}.log`),
          cpu: loadCpu,
        }),
      );

    // Warm-up: a short cold run, then one round's worth; every later round is
    // sized from the median rate so far, so each lasts about roundSeconds.
    const rates = new Map<PathName, number[]>();
    const nextRequests = (name: PathName) => Math.max(minRequests, Math.round(median(rates.get(name)!) * roundSeconds));
    for (const path of paths) {
      rates.set(path.name, [(await measure(path, minRequests)).requestsPerSecond]);
      const warmUp = await measure(path, nextRequests(path.name));
      rates.set(path.name, [warmUp.requestsPerSecond]);
      progress(`${path.name} warm-up: ${warmUp.requests} requests, ${describeRound(warmUp)}`);
    }

    const rounds = new Map<PathName, SplitRound[]>(paths.map((p) => [p.name, []]));
    for (let round = 1; round <= settings.rounds; round++) {
      for (const path of paths) {
        const result = await measure(path, nextRequests(path.name));
        rounds.get(path.name)!.push(result);
        rates.get(path.name)!.push(result.requestsPerSecond);
        progress(`${path.name} round ${round}/${settings.rounds}: ${describeRound(result)}`);
      }
    }

    const direct = summarizePath("grpc-direct", rounds.get("grpc-direct")!);
    const summaries: PathSummary[] = paths.map((p) => (p.name === "grpc-direct" ? direct : summarizePath(p.name, rounds.get(p.name)!, direct)));

    const profiles: PathProfile[] = [];
    for (const summary of summaries) {
      if (summary.name === "grpc-direct") continue;
      if (summary.ratio.requestsPerSecond >= target && !settings.profile) continue;
      const path = paths.find((p) => p.name === summary.name)!;
      profiles.push(await profileEdge(stack, path, settings.outputDir, () => measure(path, nextRequests(path.name))));
    }

    return {
      benchmark: "edge-paths",
      date: new Date().toISOString(),
      node: process.version,
      load: {
        tool: "h2load",
        transport: "HTTP/2 cleartext (h2c, prior knowledge) for every path",
        clients: settings.clients,
        streams: settings.streams,
        rounds: settings.rounds,
        roundSeconds,
      },
      deployment: stack.deploymentName,
      responseBytes: { binary: reply.length, json: Buffer.byteLength(responseJson) },
      rest: { included: rest.wired, reason: rest.reason },
      paths: summaries,
      target,
      notes: [
        `users, deployments and the edge each their own process, all pinned to CPU ${serverCpu}; h2load pinned to CPU ${loadCpu}; ` +
          "CPU = utime + stime of every server process the path goes through (all threads) from /proc; users ~0 once the deployments service has the JWKS",
        "each service as its target starts it (SQLite, full middleware chain, log level info to /dev/null); the edge as `--target=edge` starts it, with LAUNCHPAD_RATE_LIMIT=0 (one principal at thousands of calls a second)",
        "before any load each path answered one GetDeployment with success through a real client (grpc-js; connect-node Connect client, JSON and binary; fetch for REST); " +
          "every round: all requests HTTP 2xx and the deployments service counted exactly that many GetDeployment calls ending OK",
        `warm-up of ~${roundSeconds.toFixed(1)} s per path, then ${settings.rounds} interleaved rounds of ~${roundSeconds.toFixed(1)} s; ÷ direct is req/s over gRPC direct's`,
      ],
      ...(profiles.length > 0 ? { profiles } : {}),
    };
  } finally {
    await stack?.stop();
    await rm(work, { recursive: true, force: true });
    untrackDirectory(work);
  }
}

/**
 * One more round of a path with the edge's CPU profiler on (not counted:
 * profiling slows it down); returns the edge's top self-time functions and
 * its self time by part (dependency, Node core module, our folders, GC).
 */
async function profileEdge(stack: PathsStack, path: BenchPath, outputDir: string, round: () => Promise<SplitRound>): Promise<PathProfile> {
  const file = join(outputDir, `edge-paths-${path.name}.cpuprofile`);
  const result = await stack.edge.child.profile(file, round);
  progress(`${path.name} with the edge profiled: ${describeRound(result)}; profile in ${file} (open in Chrome DevTools)`);
  return { path: path.name, file, self: await topSelfTime(file, profileTop), parts: await selfTimeByPart(file, profileTop) };
}

function progress(line: string): void {
  process.stderr.write(`  edge-paths: ${line}\n`);
}
