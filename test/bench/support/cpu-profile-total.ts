import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import type { ProfileEntry } from "./cpu-profile.js";

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
}

/**
 * The functions of our code and our dependencies (frames with a file://
 * URL) with the most total (inclusive) time in a V8 .cpuprofile file: the
 * share of busy samples with the function anywhere on the stack, each
 * sample counted once per function however deep the recursion. Shows which
 * calls the self time of topSelfTime belongs to.
 */
export async function topTotalTime(file: string, count: number): Promise<ProfileEntry[]> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const totals = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const leaf = byId.get(id);
    if (!leaf || leaf.callFrame.functionName === "(idle)") continue;
    busy++;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (!frame.url.startsWith("file://")) continue;
      const name = `${frame.functionName || "(anonymous)"} (${relative(process.cwd(), new URL(frame.url).pathname)}:${frame.lineNumber + 1})`;
      if (seen.has(name)) continue;
      seen.add(name);
      totals.set(name, (totals.get(name) ?? 0) + 1);
    }
  }
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, samples]) => ({ function: name, selfPercent: (100 * samples) / busy }));
}
