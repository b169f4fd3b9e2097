import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import type { ProfileEntry } from "../support/cpu-profile.js";

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[];
  samples: number[];
}

/**
 * Self time of a V8 .cpuprofile file summed by part of the program: each
 * dependency (node_modules package), each Node core module
 * (node:internal/http2/core → "node:http2"), each folder of our code
 * (edge/, services/), and V8's own entries ("(garbage collector)",
 * "(program)"); as shares of the busy samples, largest first. Says which
 * layer a path's CPU goes to when no single function stands out.
 */
export async function selfTimeByPart(file: string, count: number): Promise<ProfileEntry[]> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const parts = new Map(profile.nodes.map((node) => [node.id, partOf(node.callFrame)]));
  const samples = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const part = parts.get(id) ?? "?";
    if (part === "(idle)") continue;
    samples.set(part, (samples.get(part) ?? 0) + 1);
    busy++;
  }
  return [...samples]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([part, n]) => ({ function: part, selfPercent: (100 * n) / busy }));
}

function partOf(frame: { functionName: string; url: string }): string {
  const { url } = frame;
  if (!url) return frame.functionName || "(unknown)";
  if (url.startsWith("node:")) {
    const path = url.slice("node:".length).replace(/^internal\//, "");
    return `node:${path.split("/")[0]}`;
  }
  if (!url.startsWith("file://")) return url;
  const path = relative(process.cwd(), new URL(url).pathname);
  const modules = path.lastIndexOf("node_modules/");
  if (modules !== -1) {
    const [first, second] = path.slice(modules + "node_modules/".length).split("/");
    return first!.startsWith("@") ? `${first}/${second}` : first!;
  }
  return `${path.split("/")[0]}/`;
}
