import { create } from "@bufbuild/protobuf";
import {
  DeploymentChangeSchema,
  HeartbeatSchema,
  type DeploymentChange,
  type DeploymentService,
  type Heartbeat,
} from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { parseFilter } from "../../kit/filter.js";
import type { Handlers } from "../../kit/server.js";
import { deploymentFilterFields, deploymentMatcher, eventMatcher } from "../filters.js";
import { deploymentIdOf, deploymentNotFound, toDeployment, toEvent } from "../resources.js";
import type { WatchItem } from "../watch/hub.js";
import type { DeploymentServiceDeps } from "./deps.js";

/** What both watch responses carry after their snapshot. */
type WatchMessage = {
  kind: { case: "change"; value: DeploymentChange } | { case: "heartbeat"; value: Heartbeat };
  revision: bigint;
};

const heartbeat = create(HeartbeatSchema);

/** A watch item as the message both watch methods send. */
function toMessage(item: WatchItem): WatchMessage {
  if (item.kind === "heartbeat") return { kind: { case: "heartbeat", value: heartbeat }, revision: BigInt(item.revision) };
  const change = create(DeploymentChangeSchema, { deployment: toDeployment(item.event.deployment), event: toEvent(item.event) });
  return { kind: { case: "change", value: change }, revision: BigInt(item.event.revision) };
}

/**
 * DeploymentService's watch streams: a snapshot (unless resuming), then
 * every matching change in revision order, with heartbeats, from the hub.
 */
export function createWatchHandlers({ store, hub, metrics, snapshotLimit }: DeploymentServiceDeps) {
  return {
    async *watchDeployment(request, context) {
      const id = deploymentIdOf(request.name);
      let from = Number(request.resumeRevision);
      if (from === 0) {
        const deployment = await store.get(id);
        if (!deployment) throw deploymentNotFound(request.name);
        yield { kind: { case: "snapshot", value: toDeployment(deployment) }, revision: BigInt(deployment.revision) };
        from = deployment.revision;
      }
      for await (const item of hub.subscribe(from, deploymentMatcher(id), context.signal)) {
        metrics.watchMessageSent();
        yield toMessage(item);
      }
    },

    async *watchDeployments(request, context) {
      const terms = parseFilter(request.filter, deploymentFilterFields);
      let from = Number(request.resumeRevision);
      if (from === 0) {
        const snapshot = await store.snapshot(terms, snapshotLimit);
        yield {
          kind: { case: "snapshot", value: { deployments: snapshot.deployments.map(toDeployment) } },
          revision: BigInt(snapshot.revision),
        };
        from = snapshot.revision;
      }
      for await (const item of hub.subscribe(from, eventMatcher(terms), context.signal)) {
        metrics.watchMessageSent();
        yield toMessage(item);
      }
    },
  } satisfies Partial<Handlers<typeof DeploymentService>>;
}
