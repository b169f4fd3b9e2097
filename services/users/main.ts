import { createMetricsServer } from "../kit/metrics-server.js";
import { closeHttp, listenHttp, type RunningPart } from "../kit/lifecycle.js";
import type { Logger } from "../kit/logger.js";
import type { BootstrapAdmin } from "./bootstrap-admin.js";
import type { UsersConfig } from "./config.js";
import { buildUsersServer } from "./server.js";

/** The users service, listening. */
export interface RunningUsers extends RunningPart {
  port: number;
  metricsPort: number;
  admin: BootstrapAdmin | undefined;
}

/**
 * Starts the users service: gRPC on config.port, Prometheus on
 * config.metricsPort. stop() drains calls within the grace period, then
 * closes the database.
 */
export async function startUsers(config: UsersConfig, logger: Logger): Promise<RunningUsers> {
  const users = await buildUsersServer(config, logger);
  const metrics = createMetricsServer(users.registry);
  const port = await users.server.listen(`${config.host}:${config.port}`);
  const metricsPort = await listenHttp(metrics, config.host, config.metricsPort);
  users.server.health.setStatus("healthy");
  return {
    name: "users",
    port,
    metricsPort,
    admin: users.admin,
    async stop() {
      await users.server.shutdown(config.shutdownGrace);
      await closeHttp(metrics);
      await users.close();
    },
  };
}
