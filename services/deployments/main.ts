import type { Logger } from "../kit/logger.js";
import { servePart, type ServingPart } from "../kit/serve-part.js";
import type { DeploymentsConfig } from "./config.js";
import { buildDeploymentsServer } from "./server.js";

/** Starts the deployments service: gRPC on config.port, Prometheus on config.metricsPort. */
export async function startDeployments(config: DeploymentsConfig, logger: Logger): Promise<ServingPart> {
  return servePart("deployments", await buildDeploymentsServer(config, logger), config);
}
