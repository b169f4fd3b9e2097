import type { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import type { Handlers } from "../kit/server.js";
import type { DeploymentServiceDeps } from "./handlers/deps.js";
import { createLifecycleHandlers } from "./handlers/lifecycle.js";
import { createWatchHandlers } from "./handlers/watch.js";

/** Every handler of DeploymentService. */
export function createDeploymentService(deps: DeploymentServiceDeps): Handlers<typeof DeploymentService> {
  return { ...createLifecycleHandlers(deps), ...createWatchHandlers(deps) };
}
