import { readFile } from "node:fs/promises";
import { writeHeapSnapshot } from "node:v8";
import type { RequestHandler } from "./child-requests.js";

/** Inside a benchmark child: writes a V8 heap snapshot to the file the parent names (a full GC comes first). */
export const heapSnapshotRequest: RequestHandler = async (message: { file: string }) => {
  writeHeapSnapshot(message.file);
  return { type: "heap-snapshot-written" };
};

/** Objects of one kind in a heap snapshot: "Constructor", "closure name()" or "(internal type)". */
export interface HeapKind {
  kind: string;
  count: number;
  bytes: number;
}

interface HeapSnapshotFile {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count of every kind of object in a .heapsnapshot file. */
export async function heapHistogram(file: string): Promise<Map<string, HeapKind>> {
  const snapshot = JSON.parse(await readFile(file, "utf8")) as HeapSnapshotFile;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = [fields.indexOf("type"), fields.indexOf("name"), fields.indexOf("self_size")];
  const kinds = new Map<string, HeapKind>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const name = snapshot.strings[snapshot.nodes[i + nameAt]!]!;
    const kind = type === "object" ? name : type === "closure" ? `closure ${name || "(anonymous)"}()` : `(${type})`;
    const entry = kinds.get(kind) ?? { kind, count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[i + sizeAt]!;
    kinds.set(kind, entry);
  }
  return kinds;
}

/** What grew between two histograms, per unit (e.g. per stream): in all, and the largest kinds first. */
export function heapGrowth(
  before: Map<string, HeapKind>,
  after: Map<string, HeapKind>,
  units: number,
  top: number,
): { totalBytes: number; kinds: HeapKind[] } {
  const total = (kinds: Map<string, HeapKind>) => [...kinds.values()].reduce((sum, kind) => sum + kind.bytes, 0);
  const kinds = [...after.values()]
    .map((entry) => {
      const earlier = before.get(entry.kind);
      return {
        kind: entry.kind,
        count: (entry.count - (earlier?.count ?? 0)) / units,
        bytes: (entry.bytes - (earlier?.bytes ?? 0)) / units,
      };
    })
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top);
  return { totalBytes: (total(after) - total(before)) / units, kinds };
}
