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
import type { DeploymentServiceDeps } from "./deps.js";

/** A response schema of a watch method: both share `change`, `heartbeat` and `revision`. */
type WatchSchema = typeof WatchDeploymentResponseSchema | typeof WatchDeploymentsResponseSchema;

/**
 * The response messages of one watch method, built once per change and
 * shared by every watcher it goes to (the server also encodes each once).
 */
function sharedMessages<S extends WatchSchema>(schema: S) {
  const changes = new WeakMap<EventRecord, MessageShape<S>>();
  let heartbeat: { revision: number; message: MessageShape<S> } | undefined;
  return (item: WatchItem): MessageShape<S> => {
    if (item.kind === "heartbeat") {
      if (heartbeat?.revision !== item.revision) {
        const message = create(schema, { kind: { case: "heartbeat", value: {} }, revision: BigInt(item.revision) } as never);
        heartbeat = { revision: item.revision, message };
      }
      return heartbeat.message;
    }
    let message = changes.get(item.event);
    if (!message) {
      const change = { deployment: toDeployment(item.event.deployment), event: toEvent(item.event) };
      message = create(schema, { kind: { case: "change", value: change }, revision: BigInt(item.event.revision) } as never);
      changes.set(item.event, message);
    }
    return message;
  };
}

/** Relays hub items as response messages, counting them. */
async function* relay<T>(items: AsyncIterable<WatchItem>, messageOf: (item: WatchItem) => T, sent: () => void) {
  for await (const item of items) {
    sent();
    yield messageOf(item);
  }
}

/**
 * DeploymentService's watch streams: a snapshot (unless resuming), then
 * every matching change in revision order, with heartbeats, from the hub.
 * Snapshots are sent from their own generator, so a long-lived stream does
 * not keep its snapshot in memory.
 */
export function createWatchHandlers({ store, hub, metrics, snapshotLimit }: DeploymentServiceDeps) {
  const oneMessages = sharedMessages(WatchDeploymentResponseSchema);
  const manyMessages = sharedMessages(WatchDeploymentsResponseSchema);
  const sent = () => metrics.watchMessageSent();

  async function* snapshotOfOne(name: string, id: string) {
    const deployment = await store.get(id);
    if (!deployment) throw deploymentNotFound(name);
    yield create(WatchDeploymentResponseSchema, {
      kind: { case: "snapshot", value: toDeployment(deployment) },
      revision: BigInt(deployment.revision),
    });
    return deployment.revision;
  }

  async function* snapshotOfMany(terms: FilterTerm[]) {
    const snapshot = await store.snapshot(terms, snapshotLimit);
    yield create(WatchDeploymentsResponseSchema, {
      kind: { case: "snapshot", value: { deployments: snapshot.deployments.map(toDeployment) } },
      revision: BigInt(snapshot.revision),
    });
    return snapshot.revision;
  }

  return {
    async *watchDeployment(request, context) {
      const id = deploymentIdOf(request.name);
      const from = request.resumeRevision === 0n ? yield* snapshotOfOne(request.name, id) : Number(request.resumeRevision);
      yield* relay(hub.subscribe(from, deploymentMatcher(id), context.signal), oneMessages, sent);
    },

    async *watchDeployments(request, context) {
      const terms = parseFilter(request.filter, deploymentFilterFields);
      const from = request.resumeRevision === 0n ? yield* snapshotOfMany(terms) : Number(request.resumeRevision);
      yield* relay(hub.subscribe(from, eventMatcher(terms), context.signal), manyMessages, sent);
    },
  } satisfies Partial<Handlers<typeof DeploymentService>>;
}
