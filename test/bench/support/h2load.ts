import { spawn, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { trackChild } from "./cleanup.js";

/** One h2load run against one URL: a fixed number of GETs, or of POSTs of the same body. */
export interface H2loadOptions {
  url: string;
  /** File whose bytes are POSTed as every request body; GETs when absent. */
  bodyFile?: string;
  headers: Readonly<Record<string, string>>;
  /** Connections (-c). */
  clients: number;
  /** Concurrent streams per connection (-m). */
  streams: number;
  /** Total requests (-n). */
  requests: number;
  /** Where h2load writes one line per request (--log-file). */
  logFile: string;
  /** CPU to pin h2load to with taskset. */
  cpu: number;
}

/** What one h2load run measured. */
export interface H2loadResult {
  /** Requests that completed ("done"), successful or not. */
  done: number;
  /** Requests with an HTTP 2xx response (h2load cannot see grpc-status). */
  ok2xx: number;
  /** Requests that failed, errored or timed out. */
  failed: number;
  seconds: number;
  requestsPerSecond: number;
  /** Per-request latency in microseconds, from --log-file, in completion order. */
  latenciesMicros: number[];
}

/** Whether h2load (Debian: nghttp2-client) and taskset (util-linux) can be run. */
export function missingTools(): string[] {
  const missing: string[] = [];
  if (spawnSync("h2load", ["--version"]).error) missing.push("h2load (Debian/Ubuntu: apt-get install nghttp2-client)");
  if (spawnSync("taskset", ["--version"]).error) missing.push("taskset (Debian/Ubuntu: util-linux)");
  return missing;
}

/** Runs `taskset -c <cpu> h2load …` (h2c with prior knowledge) to completion and parses its report and log file. */
export async function runH2load(options: H2loadOptions): Promise<H2loadResult> {
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

/** Reads the totals out of h2load's text report. */
export function parseH2loadReport(report: string): Omit<H2loadResult, "latenciesMicros"> {
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(report);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(report);
  const status = /status codes: (\d+) 2xx/.exec(report);
  if (!finished || !requests || !status) throw new Error(`cannot read h2load's report:\n${report}`);
  return {
    seconds: Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1),
    requestsPerSecond: Number(finished[3]),
    done: Number(requests[3]),
    ok2xx: Number(status[1]),
    failed: Number(requests[5]) + Number(requests[6]) + Number(requests[7]),
  };
}

/** h2load's --log-file: "start µs since epoch \t HTTP status \t µs to end of response" per line. */
export function parseH2loadLog(log: string): number[] {
  const latencies: number[] = [];
  for (const line of log.split("\n")) {
    const columns = line.split("\t");
    if (columns.length >= 3) latencies.push(Number(columns[2]));
  }
  return latencies;
}
