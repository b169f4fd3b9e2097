/**
 * Benchmark child: the real edge, started as `launchpad --target=edge`
 * starts it (configuration from the LAUNCHPAD_* environment, the production
 * JSON logger on stdout, which the parent sends to /dev/null). Answers
 * "memory" requests (full GC, then process.memoryUsage()) and
 * "heap-snapshot" requests, and reports its port when listening.
 */
import { loadEdgeConfig } from "../../../edge/config.js";
import { startEdge } from "../../../edge/main.js";
import { createLogger } from "../../../services/kit/logger.js";
import { runAsChild } from "./child-main.js";
import { memoryRequest } from "./child-memory.js";
import { serveRequests } from "./child-requests.js";
import { heapSnapshotRequest } from "./heap-histogram.js";

/** What the edge child reports when it is ready. */
export interface EdgeReady {
  port: number;
}

serveRequests({ memory: memoryRequest, "heap-snapshot": heapSnapshotRequest });

await runAsChild<EdgeReady>(async () => {
  const config = loadEdgeConfig({ env: process.env, argv: [] });
  const edge = await startEdge(config, createLogger("edge", config.logLevel));
  return { ready: { port: edge.port }, stop: () => edge.stop() };
});
