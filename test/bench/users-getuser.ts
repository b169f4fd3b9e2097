/**
 * GetUser over gRPC: the real users service (full middleware chain, a real
 * access token, a SQLite read, access log at "info" to /dev/null) against a
 * bare grpc-js server returning the same bytes. Each server is its own
 * process pinned to CPU 0; h2load is pinned to CPU 1.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Benchmark, BenchSettings } from "./support/benchmark.js";
import { trackDirectory, untrackDirectory } from "./support/cleanup.js";
import { topSelfTime, type ProfileEntry } from "./support/cpu-profile.js";
import { grpcFrame } from "./support/grpc-frame.js";
import type { H2loadOptions } from "./support/h2load.js";
import { measureRound, type RoundResult } from "./support/measure-round.js";
import { median } from "./support/percentile.js";
import type { PinnedChild } from "./support/pinned-child.js";
import { describeRound, format, summarize, type ServerName, type UsersGetUserResult } from "./users-getuser/report.js";
import { expectAllOk, serverCpu, startBare, startChain, type SignedInChain, type ServerUnderTest } from "./users-getuser/servers.js";

const loadCpu = 1;
/** The smallest run, and the cold first warm-up run. */
const minRequests = 2000;
/** Throughput (and CPU efficiency) of the chain as a fraction of bare that we aim for. */
const target = 0.6;

/** The users GetUser benchmark. */
export const usersGetUser: Benchmark<UsersGetUserResult> = {
  name: "users-getuser",
  run,
  format,
};

async function run(settings: BenchSettings): Promise<UsersGetUserResult> {
  const work = await mkdtemp(join(tmpdir(), "launchpad-bench-"));
  trackDirectory(work);
  const started: PinnedChild<unknown>[] = [];
  try {
    const chain = await startChain(join(work, "chain"));
    started.push(chain.child);
    const bare = await startBare(chain.responseBytes);
    started.push(bare.child);
    progress(`both servers answer GetUser with grpc-status 0 and the same ${chain.responseBytes.length}-byte response`);

    const bodyFile = join(work, "get-user-request.bin");
    await writeFile(bodyFile, grpcFrame(chain.requestBytes));
    const servers: Record<ServerName, ServerUnderTest> = { bare, chain };
    const loadFor = (name: ServerName, requests: number): H2loadOptions => ({
      url: servers[name].url,
      headers: servers[name].headers,
      bodyFile,
      clients: settings.clients,
      streams: settings.streams,
      requests,
      logFile: join(work, `${name}.log`),
      cpu: loadCpu,
    });
    const measure = async (name: ServerName, requests: number) =>
      name === "chain"
        ? expectAllOk(chain.metricsUrl, () => measureRound({ pid: chain.child.pid, cpu: serverCpu }, loadFor(name, requests)))
        : measureRound({ pid: bare.child.pid, cpu: serverCpu }, loadFor(name, requests));

    // Warm-up: a short cold run, then one round's worth; every later round is
    // sized from the median rate so far, so each lasts about roundSeconds.
    const rates: Record<ServerName, number[]> = { bare: [], chain: [] };
    const nextRequests = (name: ServerName) => Math.max(minRequests, Math.round(median(rates[name]) * settings.roundSeconds));
    for (const name of ["bare", "chain"] as const) {
      rates[name].push((await measure(name, minRequests)).requestsPerSecond);
      const warmUp = await measure(name, nextRequests(name));
      rates[name] = [warmUp.requestsPerSecond];
      progress(`${name} warm-up: ${warmUp.requests} requests, ${describeRound(warmUp)}`);
    }

    const rounds: Record<ServerName, RoundResult[]> = { bare: [], chain: [] };
    for (let round = 1; round <= settings.rounds; round++) {
      for (const name of ["bare", "chain"] as const) {
        const result = await measure(name, nextRequests(name));
        rounds[name].push(result);
        rates[name].push(result.requestsPerSecond);
        progress(`${name} round ${round}/${settings.rounds}: ${describeRound(result)}`);
      }
    }

    const summary = { bare: summarize(rounds.bare), chain: summarize(rounds.chain) };
    const result: UsersGetUserResult = {
      benchmark: "users-getuser",
      date: new Date().toISOString(),
      node: process.version,
      load: { tool: "h2load", clients: settings.clients, streams: settings.streams, rounds: settings.rounds, roundSeconds: settings.roundSeconds },
      responseBytes: chain.responseBytes.length,
      servers: summary,
      ratio: {
        requestsPerSecond: summary.chain.requestsPerSecond / summary.bare.requestsPerSecond,
        cpuMicrosPerRequest: summary.chain.cpuMicrosPerRequest / summary.bare.cpuMicrosPerRequest,
        target,
      },
      notes: [
        `servers pinned to CPU ${serverCpu}, h2load to CPU ${loadCpu}; CPU = utime + stime of the server process (all threads) from /proc`,
        "chain: the real users service (metrics → request context + access log → error mapping → JWT authentication → authorization → validation → SQLite read), log level info, logs to /dev/null",
        "bare: @grpc/grpc-js Server, one handler: protobuf-es decodes the request and encodes the same response message; no middleware, no database",
        `warm-up of ~${settings.roundSeconds} s per server, then ${settings.rounds} interleaved rounds of ~${settings.roundSeconds} s; medians shown, min–max in brackets`,
      ],
    };
    if (settings.profile) result.profile = await profileChain(chain, settings.outputDir, () => measure("chain", nextRequests("chain")));
    return result;
  } finally {
    await Promise.all(started.map((child) => child.stop()));
    await rm(work, { recursive: true, force: true });
    untrackDirectory(work);
  }
}

/**
 * One more round on the chain server with its CPU profiler on (not counted:
 * profiling slows it down); returns its top self-time functions.
 */
async function profileChain(chain: SignedInChain, outputDir: string, round: () => Promise<RoundResult>): Promise<ProfileEntry[]> {
  const file = join(outputDir, "users-getuser-chain.cpuprofile");
  const result = await chain.child.profile(file, round);
  progress(`chain while profiled: ${describeRound(result)}; profile in ${file} (open in Chrome DevTools)`);
  return topSelfTime(file, 15);
}

function progress(line: string): void {
  process.stderr.write(`  users-getuser: ${line}\n`);
}

