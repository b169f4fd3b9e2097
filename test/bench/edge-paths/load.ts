/** One h2load round against one path, charged to every server process the path goes through. */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { trackChild } from "../support/cleanup.js";
import { cpuBusyMicros } from "../support/cpu-busy.js";
import { parseH2loadLog, parseH2loadReport, type H2loadResult } from "../support/h2load.js";
import { percentile } from "../support/percentile.js";
import { processCpuMicros } from "../support/process-cpu.js";

/** One h2load run: GET when there is no body file, else POSTs of the file's bytes. */
export interface LoadOptions {
  url: string;
  headers: Readonly<Record<string, string>>;
  bodyFile?: string;
  clients: number;
  streams: number;
  requests: number;
  logFile: string;
  /** CPU to pin h2load to. */
  cpu: number;
}

/** A server process a path goes through. */
export interface PathProcess {
  name: string;
  pid: number;
}

/** One measured round of one path. */
export interface PathRound {
  requests: number;
  requestsPerSecond: number;
  /** CPU of all the path's server processes together per completed request. */
  cpuMicrosPerRequest: number;
  /** The same, per process. */
  cpuMicrosPerRequestBy: Record<string, number>;
  p50Millis: number;
  p99Millis: number;
  /** Share of the servers' CPU spent on anything but them during the round (0–1). */
  otherWorkShare: number;
}

/** Runs `taskset -c <cpu> h2load …` (h2c with prior knowledge) to completion and parses its report and log. */
export async function runLoad(options: LoadOptions): Promise<H2loadResult> {
  const args = [
    "-c", String(options.cpu), "h2load",
    "-n", String(options.requests),
    "-c", String(options.clients),
    "-m", String(options.streams),
    "-t", "1",
    ...(options.bodyFile === undefined ? [] : ["-d", options.bodyFile]),
    "--log-file", options.logFile,
    ...Object.entries(options.headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]),
    options.url,
  ];
  const child = spawn("taskset", args, { stdio: ["ignore", "pipe", "pipe"] });
  trackChild(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (exitCode) => resolve(exitCode));
  });
  if (code !== 0) throw new Error(`h2load exited with ${code}:\n${stderr || stdout}`);
  return { ...parseH2loadReport(stdout), latenciesMicros: parseH2loadLog(await readFile(options.logFile, "utf8")) };
}

/**
 * Runs h2load once and charges the CPU every listed process used meanwhile
 * to the requests completed, noting how busy `serverCpu` was with other
 * work. Rejects if any request failed or had a status other than 2xx.
 */
export async function measurePathRound(processes: readonly PathProcess[], serverCpu: number, load: LoadOptions): Promise<PathRound> {
  const started = performance.now();
  const busyBefore = cpuBusyMicros(serverCpu);
  const before = processes.map((p) => processCpuMicros(p.pid));
  const result = await runLoad(load);
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
