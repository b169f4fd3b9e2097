import type { DeploymentMetrics } from "../metrics.js";
import type { DeploymentStore, EventRecord } from "../store/types.js";
import type { WatchHub } from "../watch/hub.js";

/** What DeploymentService's handlers are built from. */
export interface DeploymentServiceDeps {
  store: DeploymentStore;
  hub: WatchHub;
  metrics: DeploymentMetrics;
  clock: () => Date;
  /** Authenticates page tokens (derived from the server's secret, so tokens outlive restarts and cross replicas). */
  pageTokenKey: Buffer;
  /** Call after every commit: wakes the watch hub and counts what changed. */
  committed(events: EventRecord[]): void;
  /** Most deployments in a WatchDeployments snapshot. */
  snapshotLimit: number;
}
