/**
 * Where a deployments server's time goes during CreateDeployment, from a V8
 * .cpuprofile: samples summed by layer, so the store's own share (its code,
 * Kysely and the database driver) can be told apart from the gRPC stack and
 * the middleware chain. Native code counts for the layer of the JavaScript
 * that called it (a socket write for node core), except that SQLite, which
 * better-sqlite3 runs natively under Kysely's driver, counts for the
 * database driver. The profiler
 * samples the main thread while busy, so a commit waiting for fsync counts
 * here although it takes no CPU.
 */
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import type { CallFrame, ProfileEntry } from "../support/cpu-profile.js";

const storeLayers = ["deployments store", "kysely", "database driver"];
const v8Entries = new Set(["(program)", "(garbage collector)", "(root)"]);

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The layers, largest first, as shares of the busy samples, and the store's share of all of them. */
export async function splitByLayer(file: string): Promise<{ layers: ProfileEntry[]; storePercent: number }> {
  const profile = JSON.parse(await readFile(file, "utf8")) as { nodes: ProfileNode[]; samples: number[] };
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const layerOfNode = (id: number): string => {
    const { callFrame } = nodes.get(id)!;
    if (callFrame.functionName === "(idle)") return "(idle)";
    if (v8Entries.has(callFrame.functionName)) return "V8 (GC, compiler, other)";
    const parent = parents.get(id);
    if (!callFrame.url && parent !== undefined) {
      const caller = layerOfNode(parent);
      return caller === "kysely" ? "database driver" : caller;
    }
    return layerOf(callFrame.url);
  };
  const samples = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const layer = layerOfNode(id);
    if (layer === "(idle)") continue;
    samples.set(layer, (samples.get(layer) ?? 0) + 1);
    busy++;
  }
  const layers = [...samples]
    .sort((a, b) => b[1] - a[1])
    .map(([layer, count]) => ({ function: layer, selfPercent: (100 * count) / busy }));
  const storePercent = layers.filter((layer) => storeLayers.includes(layer.function)).reduce((sum, layer) => sum + layer.selfPercent, 0);
  return { layers, storePercent };
}

function layerOf(url: string): string {
  if (url.startsWith("node:")) return "node core";
  if (!url.startsWith("file://")) return "other";
  const path = relative(process.cwd(), new URL(url).pathname);
  const modules = path.lastIndexOf("node_modules/");
  if (modules !== -1) {
    const [first, second] = path.slice(modules + "node_modules/".length).split("/");
    const name = first!.startsWith("@") ? `${first}/${second}` : first!;
    if (name === "kysely") return "kysely";
    if (["pg", "pg-protocol", "pg-pool", "pg-types", "better-sqlite3"].includes(name)) return "database driver";
    if (["@grpc/grpc-js", "nice-grpc", "nice-grpc-common", "@bufbuild/protobuf"].includes(name)) return "gRPC and protobuf";
    return name;
  }
  if (path.startsWith("services/deployments/store/")) return "deployments store";
  if (path.startsWith("services/kit/")) return "services/kit (middleware, server)";
  if (path.startsWith("services/deployments/")) return "deployments service (handlers, watch)";
  return "other";
}
