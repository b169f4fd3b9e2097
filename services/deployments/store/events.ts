import type { DeploymentEventType, DeploymentState } from "../../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { Database } from "../../kit/database/open-database.js";
import { toStoredTime } from "../../kit/database/times.js";
import { toDeploymentRow, toEventRecord } from "./records.js";
import type { DeploymentSchema } from "./schema.js";
import type { Write } from "./revisions.js";
import type { DeploymentRecord, DeploymentStore, EventRecord } from "./types.js";

/** What an event says beyond the deployment it snapshots. */
export interface NewEvent {
  type: DeploymentEventType;
  previousState: DeploymentState;
  message: string;
  actor: string;
  createTime: Date;
}

/**
 * Appends the event of a change just written to `deployment`, at the
 * deployment's revision and the next sequence of that deployment, carrying
 * the deployment as it now is.
 */
export async function appendEvent(write: Write, deployment: DeploymentRecord, event: NewEvent): Promise<EventRecord> {
  // The deployment's row is locked (or new) in this transaction: nobody else appends to it meanwhile.
  const { last } = await write.trx
    .selectFrom("deployment_events")
    .select((eb) => eb.fn.max<number | null>("sequence").as("last"))
    .where("deployment_id", "=", deployment.id)
    .executeTakeFirstOrThrow();
  const row = {
    revision: deployment.revision,
    deployment_id: deployment.id,
    sequence: (last ?? 0) + 1,
    type: event.type,
    state: deployment.state,
    previous_state: event.previousState,
    progress_percent: deployment.progressPercent,
    message: event.message,
    actor: event.actor,
    create_time: toStoredTime(event.createTime),
    deployment: JSON.stringify(toDeploymentRow(deployment)),
  };
  await write.trx.insertInto("deployment_events").values(row).execute();
  return toEventRecord(row);
}

/** Reading the event log: one deployment's history, and everything after a revision. */
export function createEventReads(database: Database<DeploymentSchema>): Pick<DeploymentStore, "listEvents" | "eventsAfter"> {
  const { db } = database;
  return {
    async listEvents(deploymentId, afterSequence, limit) {
      const rows = await db
        .selectFrom("deployment_events")
        .selectAll()
        .where("deployment_id", "=", deploymentId)
        .where("sequence", ">", afterSequence)
        .orderBy("sequence")
        .limit(limit)
        .execute();
      return rows.map(toEventRecord);
    },

    // Revisions are taken in commit order, so whoever sees revision N
    // committed has seen every revision below it: reading "after N" misses nothing.
    async eventsAfter(afterRevision, limit) {
      const rows = await db
        .selectFrom("deployment_events")
        .selectAll()
        .where("revision", ">", afterRevision)
        .orderBy("revision")
        .limit(limit)
        .execute();
      return rows.map(toEventRecord);
    },
  };
}
