import { create, type MessageShape } from "@bufbuild/protobuf";
import {
  WatchDeploymentResponseSchema,
  WatchDeploymentsResponseSchema,
  type DeploymentService,
} from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import type { FilterTerm } from "../../kit/filter.js";
import { parseFilter } from "../../kit/filter.js";
import type { Handlers } from "../../kit/server.js";
import { deploymentFilterFields, deploymentMatcher, eventMatcher } from "../filters.js";
import { deploymentIdOf, deploymentNotFound, toDeployment, toEvent } from "../resources.js";
import type { EventRecord } from "../store/types.js";
import type { WatchItem } from "../watch/hub.js";
import { WatchResponses } from "../watch/responses.js";
import type { Present } from "../watch/subscription.js";
import type { DeploymentServiceDeps } from "./deps.js";

/** A response schema of a watch method: both share `change`, `heartbeat` and `revision`. */
type WatchSchema = typeof WatchDeploymentResponseSchema | typeof WatchDeploymentsResponseSchema;

/**
 * The responses of one watch method to hub deliveries: each change's message
 * (in the iterator result a watcher reads) is built once and shared by every
 * watcher it goes to (the server also encodes each once), and every one
 * handed over is counted as sent.
 */
function sharedMessages<S extends WatchSchema>(schema: S, sent: () => void): Present<MessageShape<S>> {
  type Result = IteratorYieldResult<MessageShape<S>>;
  const changes = new WeakMap<EventRecord, Result>();
  let heartbeat: { revision: number; result: Result } | undefined;
  const resultOf = (item: WatchItem): Result => {
    if (item.kind === "heartbeat") {
      if (heartbeat?.revision !== item.revision) {
        const message = create(schema, { kind: { case: "heartbeat", value: {} }, revision: BigInt(item.revision) } as never);
        heartbeat = { revision: item.revision, result: { done: false, value: message } };
      }
      return heartbeat.result;
    }
    let result = changes.get(item.event);
    if (!result) {
      const change = { deployment: toDeployment(item.event.deployment), event: toEvent(item.event) };
      const message = create(schema, { kind: { case: "change", value: change }, revision: BigInt(item.event.revision) } as never);
      result = { done: false, value: message };
      changes.set(item.event, result);
    }
    return result;
  };
  return (delivery) => {
    sent();
    return resultOf(delivery.value);
  };
}

/** Empties a snapshot that has been written: its deployments need not live as long as the stream. */
function release(snapshot: { kind: { case: string | undefined } }): void {
  snapshot.kind = { case: undefined };
}

/**
 * DeploymentService's watch streams: a snapshot (unless resuming), then
 * every matching change in revision order, with heartbeats, from the hub.
 */
export function createWatchHandlers({ store, hub, metrics, snapshotLimit }: DeploymentServiceDeps) {
  const sent = () => metrics.watchMessageSent();
  const oneMessages = sharedMessages(WatchDeploymentResponseSchema, sent);
  const manyMessages = sharedMessages(WatchDeploymentsResponseSchema, sent);

  const snapshotOfOne = (name: string, id: string) => async () => {
    const deployment = await store.get(id);
    if (!deployment) throw deploymentNotFound(name);
    const message = create(WatchDeploymentResponseSchema, {
      kind: { case: "snapshot", value: toDeployment(deployment) },
      revision: BigInt(deployment.revision),
    });
    return { message, revision: deployment.revision };
  };

  const snapshotOfMany = (terms: FilterTerm[]) => async () => {
    const snapshot = await store.snapshot(terms, snapshotLimit);
    const message = create(WatchDeploymentsResponseSchema, {
      kind: { case: "snapshot", value: { deployments: snapshot.deployments.map(toDeployment) } },
      revision: BigInt(snapshot.revision),
    });
    return { message, revision: snapshot.revision };
  };

  return {
    watchDeployment(request, context) {
      const id = deploymentIdOf(request.name);
      const start = request.resumeRevision === 0n ? snapshotOfOne(request.name, id) : Number(request.resumeRevision);
      return new WatchResponses(start, (from) => hub.subscribe(from, deploymentMatcher(id), context.signal, oneMessages), release);
    },

    watchDeployments(request, context) {
      const terms = parseFilter(request.filter, deploymentFilterFields);
      const start = request.resumeRevision === 0n ? snapshotOfMany(terms) : Number(request.resumeRevision);
      return new WatchResponses(start, (from) => hub.subscribe(from, eventMatcher(terms), context.signal, manyMessages), release);
    },
  } satisfies Partial<Handlers<typeof DeploymentService>>;
}
