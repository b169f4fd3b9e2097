import type { Logger } from "../kit/logger.js";
import { decideCancelTimeout } from "./changes.js";
import type { DeploymentStore, EventRecord } from "./store/types.js";

/**
 * Ends cancellations no agent confirmed within `timeoutMs`: every
 * `intervalMs`, CANCELLING deployments older than that become CANCELLED.
 * Safe with several replicas: the change is decided under the row lock, so a
 * deployment another replica (or the agent) already finished is left alone.
 */
export function startCancelSweeper(options: {
  store: DeploymentStore;
  timeoutMs: number;
  intervalMs: number;
  clock: () => Date;
  committed: (events: EventRecord[]) => void;
  logger: Logger;
}): () => Promise<void> {
  const { store, clock } = options;
  let running: Promise<void> | undefined;
  const sweep = async () => {
    const stale = await store.staleCancellations(new Date(clock().getTime() - options.timeoutMs));
    for (const id of stale) {
      const { events } = await store.update(id, (current) => decideCancelTimeout(current, clock()), undefined, clock());
      options.committed(events);
    }
  };
  const timer = setInterval(() => {
    running ??= sweep()
      .catch((error) => options.logger.error({ err: error }, "cancellation sweep failed"))
      .finally(() => (running = undefined));
  }, options.intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
