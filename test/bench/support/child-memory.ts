import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { RequestHandler } from "./child-requests.js";

/** A process's memory as process.memoryUsage() reports it, in bytes, after a full GC when one could be forced. */
export interface MemoryReading {
  type: "memory";
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Whether a full GC ran first. */
  collected: boolean;
}

// --expose-gc turned on at run time: the flag only matters for contexts made
// afterwards, so the gc function is taken from a fresh one.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("typeof gc === 'function' ? gc : undefined") as (() => void) | undefined;

/**
 * A request handler (for serveRequests, type "memory") that forces full
 * garbage collections, lets pending callbacks run between them, and reports
 * process.memoryUsage().
 */
export const memoryRequest: RequestHandler = async (): Promise<MemoryReading> => {
  if (gc !== undefined) {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const usage = process.memoryUsage();
  return {
    type: "memory",
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    collected: gc !== undefined,
  };
};
