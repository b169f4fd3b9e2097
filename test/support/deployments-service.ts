import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Channel, Client, Metadata } from "nice-grpc";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { loadDeploymentsConfig } from "../../services/deployments/config.js";
import { startDeployments } from "../../services/deployments/main.js";
import type { NiceDefinitionOf } from "../../services/kit/grpc/service-definition.js";
import type { ServingPart } from "../../services/kit/serve-part.js";
import { bearer } from "./bearer.js";
import { startInProcess } from "./in-process-service.js";
import { startTestUsers, type TestUsersService } from "./users-service.js";

/** A typed DeploymentService client. */
export type DeploymentClient = Client<NiceDefinitionOf<typeof DeploymentService>>;

/** A deployments service on ephemeral ports, with a client and captured logs. */
export interface TestDeploymentsService {
  running: ServingPart;
  address: string;
  channel: Channel;
  client: DeploymentClient;
  logs: string[];
  stop(): Promise<void>;
}

/**
 * Starts the real deployments service (the program's own entry point) on
 * 127.0.0.1:0, verifying credentials with the given users service. SQLite in
 * a fresh directory unless LAUNCHPAD_DEPLOYMENTS_DATABASE_URL is in `env`.
 */
export async function startTestDeployments(
  users: Pick<TestUsersService, "address">,
  env: Record<string, string> = {},
): Promise<TestDeploymentsService> {
  const dataDir = mkdtempSync(join(tmpdir(), "launchpad-deployments-"));
  const config = loadDeploymentsConfig({
    env: {
      LAUNCHPAD_DATA_DIR: dataDir,
      LAUNCHPAD_DEPLOYMENTS_PORT: "0",
      LAUNCHPAD_DEPLOYMENTS_METRICS_PORT: "0",
      LAUNCHPAD_USERS_ADDRESS: users.address,
      LAUNCHPAD_SHUTDOWN_GRACE: "2s",
      ...env,
    },
    argv: [],
  });
  return startInProcess("deployments", DeploymentService, dataDir, (logger) => startDeployments(config, logger));
}

/** Users and deployments together, as --target=all runs them. */
export interface TestStack {
  users: TestUsersService;
  deployments: TestDeploymentsService;
  /** Metadata carrying "authorization: Bearer <token or key>". */
  auth(credential: string): { metadata: Metadata };
  stop(): Promise<void>;
}

/** Starts users and then deployments, each with its own fresh store. */
export async function startTestStack(env: { users?: Record<string, string>; deployments?: Record<string, string> } = {}): Promise<TestStack> {
  const users = await startTestUsers(env.users);
  const deployments = await startTestDeployments(users, env.deployments);
  return {
    users,
    deployments,
    auth: bearer,
    async stop() {
      await deployments.stop();
      await users.stop();
    },
  };
}
