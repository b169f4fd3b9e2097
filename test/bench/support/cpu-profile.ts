import { readFile } from "node:fs/promises";
import { relative } from "node:path";

/** One function's share of a CPU profile. */
export interface ProfileEntry {
  /** "name (file:line)", paths relative to the working directory. */
  function: string;
  selfPercent: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
}

/** Where a sample was taken, as a V8 .cpuprofile file records it. */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/**
 * The functions with the most self time in a V8 .cpuprofile file, as
 * shares of the busy samples (idle ones are left out).
 */
export function topSelfTime(file: string, count: number): Promise<ProfileEntry[]> {
  return selfTimeBy(file, count, describe);
}

/**
 * Self time of a V8 .cpuprofile file summed by `keyOf` each sample's call
 * frame (its function, its package, …): the `count` largest, as shares of
 * the busy samples (idle ones, keyed "(idle)", are left out).
 */
export async function selfTimeBy(file: string, count: number, keyOf: (frame: CallFrame) => string): Promise<ProfileEntry[]> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const keys = new Map(profile.nodes.map((node) => [node.id, keyOf(node.callFrame)]));
  const selfSamples = new Map<string, number>();
  let total = 0;
  for (const id of profile.samples) {
    const key = keys.get(id) ?? "?";
    if (key === "(idle)") continue;
    selfSamples.set(key, (selfSamples.get(key) ?? 0) + 1);
    total++;
  }
  return [...selfSamples]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, samples]) => ({ function: key, selfPercent: (100 * samples) / total }));
}

function describe(frame: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name;
  const file = frame.url.startsWith("file://") ? relative(process.cwd(), new URL(frame.url).pathname) : frame.url;
  return `${name} (${file}:${frame.lineNumber + 1})`;
}
