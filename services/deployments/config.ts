import { loadConfig, settings, type ConfigSource } from "../kit/config.js";
import { commonSettings, identityFollowerSettings } from "../kit/settings.js";

/** The settings of the deployments service. */
export const deploymentsSettings = {
  ...commonSettings,
  port: settings.port("LAUNCHPAD_DEPLOYMENTS_PORT", 50052, "DeploymentService gRPC port"),
  metricsPort: settings.port("LAUNCHPAD_DEPLOYMENTS_METRICS_PORT", 9452, "DeploymentService Prometheus /metrics port"),
  databaseUrl: settings.databaseUrl(
    "LAUNCHPAD_DEPLOYMENTS_DATABASE_URL",
    "PostgreSQL URL of the deployments database; SQLite when empty",
  ),
  usersAddress: settings.string("LAUNCHPAD_USERS_ADDRESS", "127.0.0.1:50051", "host:port of UserService, for verifying credentials"),
  apiKeyCacheTtl: settings.duration("LAUNCHPAD_API_KEY_CACHE_TTL", "30s", "How long a verified API key is trusted before asking UserService again"),
  ...identityFollowerSettings,
  cancelTimeout: settings.duration("LAUNCHPAD_CANCEL_TIMEOUT", "60s", "How long CANCELLING waits for the agent before CANCELLED"),
  watchHeartbeat: settings.duration("LAUNCHPAD_WATCH_HEARTBEAT", "5s", "Heartbeat interval of watch streams"),
  watchRetention: settings.integer("LAUNCHPAD_WATCH_RETENTION", 10_000, "Recent changes kept for resuming watches", 1),
  watchQueueLimit: settings.integer("LAUNCHPAD_WATCH_QUEUE_LIMIT", 1_000, "Messages buffered per watcher before a slow one is cut off", 1),
  snapshotLimit: settings.integer("LAUNCHPAD_WATCH_SNAPSHOT_LIMIT", 1_000, "Most deployments in a WatchDeployments snapshot", 1),
};

/** The deployments service's configuration, validated. */
export type DeploymentsConfig = ReturnType<typeof loadDeploymentsConfig>;

/** Reads the deployments service's configuration from flags and the environment. */
export function loadDeploymentsConfig(source?: ConfigSource) {
  return loadConfig(deploymentsSettings, source);
}
