import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { DeploymentState } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { EventRecord } from "./store/types.js";

const finalStates = new Set([DeploymentState.SUCCEEDED, DeploymentState.FAILED, DeploymentState.CANCELLED]);

/**
 * The deployments service's own metrics: deployments reaching each state,
 * how long finished ones took, open watch streams, and changes fanned out to
 * watchers (rate() of it is events per second).
 */
export function createDeploymentMetrics(registry: Registry, openStreams: () => number) {
  const registers = [registry];
  const reached = new Counter({
    name: "deployments_total",
    help: "Deployments that reached a state, by environment and state.",
    labelNames: ["environment", "state"],
    registers,
  });
  const duration = new Histogram({
    name: "deployment_duration_seconds",
    help: "Time from start (or creation) to a final state, by environment and final state.",
    labelNames: ["environment", "state"],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers,
  });
  new Gauge({
    name: "deployment_watch_streams",
    help: "Open WatchDeployment and WatchDeployments streams.",
    registers,
    collect() {
      this.set(openStreams());
    },
  });
  const sent = new Counter({
    name: "deployment_watch_messages_sent_total",
    help: "Changes and heartbeats sent to watchers.",
    registers,
  });

  return {
    /** Counts the state changes among committed events. */
    recordEvents(events: readonly EventRecord[]): void {
      for (const event of events) {
        if (event.state === event.previousState) continue;
        const labels = { environment: event.deployment.environment, state: DeploymentState[event.state] };
        reached.inc(labels);
        if (finalStates.has(event.state)) {
          const started = event.deployment.startTime ?? event.deployment.createTime;
          duration.observe(labels, (event.createTime.getTime() - started.getTime()) / 1000);
        }
      }
    },
    watchMessageSent(): void {
      sent.inc();
    },
  };
}

/** The deployments service's metrics. */
export type DeploymentMetrics = ReturnType<typeof createDeploymentMetrics>;
