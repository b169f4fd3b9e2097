/**
 * Where a deployments server's CPU goes during CreateDeployment, from a V8
 * .cpuprofile: self time summed by layer, so the store's own share (its code,
 * Kysely and the database driver) can be told apart from the gRPC stack and
 * the middleware chain.
 */
import { relative } from "node:path";
import { selfTimeBy, type CallFrame, type ProfileEntry } from "../support/cpu-profile.js";

const storeLayers = ["deployments store", "kysely", "database driver"];

/** The layers a create's CPU is split into, largest first, and the store's share of all of it. */
export async function splitByLayer(file: string): Promise<{ layers: ProfileEntry[]; storePercent: number }> {
  const layers = await selfTimeBy(file, Number.MAX_SAFE_INTEGER, layerOf);
  const storePercent = layers.filter((layer) => storeLayers.includes(layer.function)).reduce((sum, layer) => sum + layer.selfPercent, 0);
  return { layers, storePercent };
}

function layerOf(frame: CallFrame): string {
  const { url } = frame;
  if (!url) return frame.functionName === "(idle)" ? "(idle)" : "V8 (GC, compiler, other)";
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
