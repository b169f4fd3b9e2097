import { relative } from "node:path";
import { selfTimeBy, type CallFrame, type ProfileEntry } from "../support/cpu-profile.js";

/**
 * Self time of a V8 .cpuprofile file summed by part of the program: each
 * dependency (node_modules package), each Node core module
 * (node:internal/http2/core → "node:http2"), each folder of our code
 * (edge/, services/), and V8's own entries ("(garbage collector)",
 * "(program)"); as shares of the busy samples, largest first. Says which
 * layer a path's CPU goes to when no single function stands out.
 */
export function selfTimeByPart(file: string, count: number): Promise<ProfileEntry[]> {
  return selfTimeBy(file, count, partOf);
}

function partOf(frame: CallFrame): string {
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
