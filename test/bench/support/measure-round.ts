import { cpuBusyMicros } from "./cpu-busy.js";
import { percentile } from "./percentile.js";
import { processCpuMicros } from "./process-cpu.js";
import { runH2load, type H2loadOptions } from "./h2load.js";

/** One measured round against one server. */
export interface RoundResult {
  requests: number;
  requestsPerSecond: number;
  /** Server CPU (user + system, all threads) per completed request. */
  cpuMicrosPerRequest: number;
  p50Millis: number;
  p99Millis: number;
  /** Share of the server's CPU spent on anything but the server during the round (0–1): other work skews the round. */
  otherWorkShare: number;
}

/** The server under measurement: its process and the CPU it is pinned to. */
export interface MeasuredServer {
  pid: number;
  cpu: number;
}

/** A server process a round's requests go through. */
export interface MeasuredProcess {
  name: string;
  pid: number;
}

/** One measured round against several server processes together: their CPU summed, and per process. */
export interface SplitRound extends RoundResult {
  /** CPU per completed request of each process, by name. */
  cpuMicrosPerRequestBy: Record<string, number>;
}

/**
 * Runs h2load once against a server process and charges the CPU that
 * process used meanwhile to the requests completed, noting how busy its CPU
 * was with other work. Rejects if any request failed at the HTTP level.
 */
export async function measureRound(server: MeasuredServer, load: H2loadOptions): Promise<RoundResult> {
  // With one process, the split by process says nothing more.
  const { cpuMicrosPerRequestBy, ...round } = await measureSplitRound([{ name: "server", pid: server.pid }], server.cpu, load);
  return round;
}

/**
 * Runs h2load once and charges the CPU every listed process used meanwhile
 * to the requests completed, noting how busy `serverCpu` was with anything
 * but them. Rejects if any request failed or had a status other than 2xx.
 */
export async function measureSplitRound(processes: readonly MeasuredProcess[], serverCpu: number, load: H2loadOptions): Promise<SplitRound> {
  const started = performance.now();
  const busyBefore = cpuBusyMicros(serverCpu);
  const before = processes.map((p) => processCpuMicros(p.pid));
  const result = await runH2load(load);
  const used = processes.map((p, i) => processCpuMicros(p.pid) - before[i]!);
  const busyMicros = cpuBusyMicros(serverCpu) - busyBefore;
  const wallMicros = (performance.now() - started) * 1000;
  if (result.failed > 0 || result.ok2xx !== result.done || result.done !== load.requests) {
    throw new Error(`${load.url}: ${result.done} of ${load.requests} requests done, ${result.ok2xx} HTTP 2xx, ${result.failed} failed`);
  }
  const cpuMicros = used.reduce((sum, micros) => sum + micros, 0);
  return {
    requests: result.done,
    requestsPerSecond: result.requestsPerSecond,
    cpuMicrosPerRequest: cpuMicros / result.done,
    cpuMicrosPerRequestBy: Object.fromEntries(processes.map((p, i) => [p.name, used[i]! / result.done])),
    p50Millis: percentile(result.latenciesMicros, 50) / 1000,
    p99Millis: percentile(result.latenciesMicros, 99) / 1000,
    otherWorkShare: Math.max(0, busyMicros - cpuMicros) / wallMicros,
  };
}
