import type { Writable } from "node:stream";

/** Resolves once `out` can take more, or has closed (a client that left: the caller's next write finds it ended). */
export function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
  });
}
