import { readFileSync } from "node:fs";
import { ticksPerSecond } from "./process-cpu.js";

/**
 * Time one CPU has spent busy since boot (everything but idle and iowait,
 * from /proc/stat), in microseconds, whoever it was busy for. Compared with
 * a pinned process's own CPU time, it shows how much other work shared its
 * CPU.
 */
export function cpuBusyMicros(cpu: number): number {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) throw new Error(`/proc/stat has no line for cpu${cpu}`);
  const [, ...ticks] = line.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const busy = ticks.slice(0, 8).reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
  return (busy * 1_000_000) / ticksPerSecond;
}
