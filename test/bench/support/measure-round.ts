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

/**
 * Runs h2load once against a server process and charges the CPU that
 * process used meanwhile to the requests completed, noting how busy its CPU
 * was with other work. Rejects if any request failed at the HTTP level.
 */
export async function measureRound(server: MeasuredServer, load: H2loadOptions): Promise<RoundResult> {
  const started = performance.now();
  const busyBefore = cpuBusyMicros(server.cpu);
  const cpuBefore = processCpuMicros(server.pid);
  const result = await runH2load(load);
  const cpuMicros = processCpuMicros(server.pid) - cpuBefore;
  const busyMicros = cpuBusyMicros(server.cpu) - busyBefore;
  const wallMicros = (performance.now() - started) * 1000;
  if (result.failed > 0 || result.ok2xx !== result.done || result.done !== load.requests) {
    throw new Error(`${load.url}: ${result.done} of ${load.requests} requests done, ${result.ok2xx} HTTP 2xx, ${result.failed} failed`);
  }
  return {
    requests: result.done,
    requestsPerSecond: result.requestsPerSecond,
    cpuMicrosPerRequest: cpuMicros / result.done,
    p50Millis: percentile(result.latenciesMicros, 50) / 1000,
    p99Millis: percentile(result.latenciesMicros, 99) / 1000,
    otherWorkShare: Math.max(0, busyMicros - cpuMicros) / wallMicros,
  };
}
