import { readFile } from "node:fs/promises";
import { relative } from "node:path";

/** One function's share of a CPU profile. */
export interface ProfileEntry {
  /** "name (file:line)", paths relative to the working directory. */
  function: string;
  selfPercent: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
}

/**
 * The functions with the most self time in a V8 .cpuprofile file, as
 * shares of the busy samples (idle ones are left out).
 */
export async function topSelfTime(file: string, count: number): Promise<ProfileEntry[]> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const names = new Map(profile.nodes.map((node) => [node.id, describe(node.callFrame)]));
  const selfSamples = new Map<string, number>();
  let total = 0;
  for (const id of profile.samples) {
    const name = names.get(id) ?? "?";
    if (name === "(idle)") continue;
    selfSamples.set(name, (selfSamples.get(name) ?? 0) + 1);
    total++;
  }
  return [...selfSamples]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, samples]) => ({ function: name, selfPercent: (100 * samples) / total }));
}

function describe(frame: CpuProfile["nodes"][number]["callFrame"]): string {
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name;
  const file = frame.url.startsWith("file://") ? relative(process.cwd(), new URL(frame.url).pathname) : frame.url;
  return `${name} (${file}:${frame.lineNumber + 1})`;
}
