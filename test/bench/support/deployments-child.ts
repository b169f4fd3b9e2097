/**
 * Benchmark child: the real deployments service, started as `launchpad
 * --target=deployments` starts it (configuration from the LAUNCHPAD_*
 * environment, the production JSON logger on stdout, which the parent sends
 * to /dev/null). Answers "memory" requests (full GC, then
 * process.memoryUsage()) and "heap-snapshot" requests, and reports its
 * ports when listening.
 */
import { loadDeploymentsConfig } from "../../../services/deployments/config.js";
import { startDeployments } from "../../../services/deployments/main.js";
import { createLogger } from "../../../services/kit/logger.js";
import { runAsChild } from "./child-main.js";
import { memoryRequest } from "./child-memory.js";
import { serveRequests } from "./child-requests.js";
import { heapSnapshotRequest } from "./heap-histogram.js";

/** What the deployments child reports when it is ready. */
export interface DeploymentsReady {
  port: number;
  metricsPort: number;
}

serveRequests({ memory: memoryRequest, "heap-snapshot": heapSnapshotRequest });

await runAsChild<DeploymentsReady>(async () => {
  const config = loadDeploymentsConfig({ env: process.env, argv: [] });
  const logger = createLogger("launchpad", config.logLevel).child({ part: "deployments" });
  const deployments = await startDeployments(config, logger);
  return { ready: { port: deployments.port, metricsPort: deployments.metricsPort }, stop: () => deployments.stop() };
});
