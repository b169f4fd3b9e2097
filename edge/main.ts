import { once } from "node:events";
import type { AddressInfo, Server } from "node:net";
import type { RunningPart } from "../services/kit/lifecycle.js";
import type { Logger } from "../services/kit/logger.js";
import type { EdgeConfig } from "./config.js";
import { buildEdge } from "./server.js";

/** The edge, listening. */
export interface RunningEdge extends RunningPart {
  port: number;
}

/**
 * Starts the edge on config.host:config.port. stop() stops accepting, ends
 * the streams the edge serves itself (health Watch) with UNAVAILABLE, and
 * lets open requests finish within the grace period.
 */
export async function startEdge(config: EdgeConfig, logger: Logger): Promise<RunningEdge> {
  const edge = await buildEdge(config, logger);
  edge.server.listen(config.port, config.host);
  await once(edge.server, "listening");
  logAcceptFailures(edge.server, logger);
  return {
    name: "edge",
    port: (edge.server.address() as AddressInfo).port,
    async stop() {
      const closed = new Promise<void>((resolve) => edge.server.close(() => resolve()));
      edge.shutdown();
      const timer = setTimeout(() => edge.server.emit("close"), config.shutdownGrace).unref();
      await closed;
      clearTimeout(timer);
      await edge.close();
    },
  };
}

/**
 * Keeps the edge up when it cannot accept a connection. Out of file
 * descriptors, libuv usually drops the waiting connections itself; when it
 * cannot (its spare descriptor is gone too), Node reports EMFILE as a server
 * error, which would otherwise crash the edge. Logged at most once a minute.
 */
function logAcceptFailures(server: Server, logger: Logger): void {
  let lastLogged = -Infinity;
  server.on("error", (error) => {
    if (Date.now() - lastLogged < 60_000) return;
    lastLogged = Date.now();
    logger.error({ err: error }, "cannot accept connections");
  });
}
