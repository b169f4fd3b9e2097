import { loadEdgeConfig } from "../../edge/config.js";
import { startEdge, type RunningEdge } from "../../edge/main.js";
import { capturedLogger } from "./captured-logger.js";
import { startTestStack, type TestStack } from "./deployments-service.js";

/** Users, deployments and the edge in front of them, each on ephemeral ports. */
export interface TestEdgeStack extends TestStack {
  edge: RunningEdge;
  /** The edge's base URL, "http://127.0.0.1:<port>". */
  url: string;
  /** The edge's JSON log lines. */
  edgeLogs: string[];
}

/**
 * Starts the real users and deployments services (fresh stores) and the
 * real edge (the program's own entry point) forwarding to them. stop()
 * stops the edge first, then the services.
 */
export async function startTestEdgeStack(
  env: { users?: Record<string, string>; deployments?: Record<string, string>; edge?: Record<string, string> } = {},
): Promise<TestEdgeStack> {
  const stack = await startTestStack(env);
  const config = loadEdgeConfig({
    env: {
      LAUNCHPAD_EDGE_PORT: "0",
      LAUNCHPAD_USERS_ADDRESS: stack.users.address,
      LAUNCHPAD_DEPLOYMENTS_ADDRESS: stack.deployments.address,
      LAUNCHPAD_SHUTDOWN_GRACE: "2s",
      ...env.edge,
    },
    argv: [],
  });
  const { logger, lines: edgeLogs } = capturedLogger("edge");
  const edge = await startEdge(config, logger);
  return {
    ...stack,
    edge,
    url: `http://127.0.0.1:${edge.port}`,
    edgeLogs,
    async stop() {
      await edge.stop();
      await stack.stop();
    },
  };
}
