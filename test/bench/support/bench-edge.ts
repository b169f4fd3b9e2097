/** The edge as a benchmark child, in front of benchmark children of the users and deployments services. */
import { fileURLToPath } from "node:url";
import type { EdgeReady } from "./edge-child.js";
import { startPinnedChild, type PinnedChild } from "./pinned-child.js";

/** An edge child. */
export interface BenchEdge {
  child: PinnedChild<EdgeReady>;
  /** "127.0.0.1:<port>": gRPC (h2c), Connect and REST on one port. */
  address: string;
  /** "http://127.0.0.1:<port>". */
  url: string;
}

/** How to start an edge child. */
export interface BenchEdgeOptions {
  cpu: number;
  usersAddress: string;
  deploymentsAddress: string;
  /** More LAUNCHPAD_* settings. */
  env?: Readonly<Record<string, string>>;
}

/**
 * Starts the real edge (log level info, logs to /dev/null) pinned to one
 * CPU. Rate limits are switched off: a benchmark is one principal sending
 * thousands of calls a second, which the default budget would refuse.
 */
export async function startBenchEdge(options: BenchEdgeOptions): Promise<BenchEdge> {
  const child = await startPinnedChild<EdgeReady>({
    name: "edge",
    script: fileURLToPath(new URL("./edge-child.ts", import.meta.url)),
    cpu: options.cpu,
    env: {
      LAUNCHPAD_LISTEN_HOST: "127.0.0.1",
      LAUNCHPAD_EDGE_PORT: "0",
      LAUNCHPAD_USERS_ADDRESS: options.usersAddress,
      LAUNCHPAD_DEPLOYMENTS_ADDRESS: options.deploymentsAddress,
      LAUNCHPAD_LOG_LEVEL: "info",
      LAUNCHPAD_SHUTDOWN_GRACE: "2s",
      LAUNCHPAD_RATE_LIMIT: "0",
      LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "0",
      // The fan-out bench serves its watchers on one connection, as watch-fanout does.
      LAUNCHPAD_EDGE_MAX_STREAMS_PER_CONNECTION: "0",
      ...options.env,
    },
  });
  const address = `127.0.0.1:${child.ready.port}`;
  return { child, address, url: `http://${address}` };
}
