import { join } from "node:path";
import { Registry, collectDefaultMetrics } from "prom-client";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { createRemoteVerifier } from "../kit/auth/remote-verifier.js";
import type { Logger } from "../kit/logger.js";
import type { BuiltService } from "../kit/serve-part.js";
import { deriveKey, loadSecretKey } from "../kit/secret-key.js";
import { createServiceServer } from "../kit/server.js";
import { startCancelSweeper } from "./cancel-sweeper.js";
import type { DeploymentsConfig } from "./config.js";
import { createDeploymentMetrics } from "./metrics.js";
import { createDeploymentService } from "./service.js";
import { openDeploymentStore } from "./store/index.js";
import type { EventRecord } from "./store/types.js";
import { deploymentRequestRules } from "./validation.js";
import { createWatchHub } from "./watch/hub.js";
import { createPostgresListener } from "./watch/postgres-listener.js";

/** The PostgreSQL channel commits are announced on, so every replica's watchers hear of them. */
const notifyChannel = "launchpad_deployments";

/**
 * Builds the deployments service: opens (and migrates) its database, starts
 * the watch hub on the event log (with PostgreSQL LISTEN/NOTIFY across
 * replicas), the cancellation sweeper, and DeploymentService behind the
 * shared middleware chain, verifying credentials with UserService. Nothing
 * listens yet.
 */
export async function buildDeploymentsServer(
  config: DeploymentsConfig,
  logger: Logger,
  clock: () => Date = () => new Date(),
): Promise<BuiltService> {
  const secret = loadSecretKey(config, config.databaseUrl ? "LAUNCHPAD_DEPLOYMENTS_DATABASE_URL" : undefined);
  const postgresUrl = config.databaseUrl || undefined;
  const store = await openDeploymentStore({
    url: postgresUrl,
    sqlitePath: join(config.dataDir, "deployments.db"),
    notifyChannel: postgresUrl && notifyChannel,
  });
  const hub = createWatchHub({
    source: store,
    retention: config.watchRetention,
    queueLimit: config.watchQueueLimit,
    heartbeatMs: config.watchHeartbeat,
    listen: postgresUrl ? createPostgresListener(postgresUrl, notifyChannel) : undefined,
  });
  try {
    await hub.start();
  } catch (error) {
    await store.close();
    throw error;
  }
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = createDeploymentMetrics(registry, () => hub.openStreams());
  const committed = (events: EventRecord[]) => {
    if (events.length === 0) return;
    hub.poke();
    metrics.recordEvents(events);
  };

  const verifier = createRemoteVerifier({
    users: config.usersAddress,
    rules: { issuer: config.issuer, audience: config.audience },
    apiKeyCacheTtlMs: config.apiKeyCacheTtl,
    identityStaleAfterMs: config.identityStaleAfter,
    logger,
  });
  const server = createServiceServer({ logger, registry, verifier, services: [DeploymentService], rules: deploymentRequestRules });
  const pageTokenKey = deriveKey(secret, "page-token");
  server.add(DeploymentService, createDeploymentService({ store, hub, metrics, clock, committed, snapshotLimit: config.snapshotLimit, pageTokenKey }));
  // Shutdown ends every watch with UNAVAILABLE and its resume revision.
  server.stopping.addEventListener("abort", () => void hub.close());

  const stopSweeper = startCancelSweeper({
    store,
    timeoutMs: config.cancelTimeout,
    intervalMs: Math.min(config.cancelTimeout, 5_000),
    clock,
    committed,
    logger,
  });

  return {
    server,
    registry,
    async close() {
      await stopSweeper();
      await hub.close();
      verifier.close();
      await store.close();
    },
  };
}
