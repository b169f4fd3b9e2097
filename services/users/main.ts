import type { Logger } from "../kit/logger.js";
import { servePart, type ServingPart } from "../kit/serve-part.js";
import type { BootstrapAdmin } from "./bootstrap-admin.js";
import type { UsersConfig } from "./config.js";
import { buildUsersServer } from "./server.js";

/** The users service, listening. */
export interface RunningUsers extends ServingPart {
  /** Set on the first start of an empty database. */
  admin: BootstrapAdmin | undefined;
}

/** Starts the users service: gRPC on config.port, Prometheus on config.metricsPort. */
export async function startUsers(config: UsersConfig, logger: Logger): Promise<RunningUsers> {
  const users = await buildUsersServer(config, logger);
  return { ...(await servePart("users", users, config)), admin: users.admin };
}
