import type { Insertable } from "kysely";
import type { DeploymentEventType, DeploymentState } from "../../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { Database } from "../../kit/database/open-database.js";
import { toStoredTime } from "../../kit/database/times.js";
import { toDeploymentRow, toEventRecord } from "./records.js";
import type { DeploymentEventsTable, DeploymentSchema } from "./schema.js";
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

/** The row and the record of an event of a change just made to `deployment`. */
export function newEvent(deployment: DeploymentRecord, event: NewEvent): { row: Insertable<DeploymentEventsTable>; record: EventRecord } {
  const record: EventRecord = {
    deploymentId: deployment.id,
    // Every change bumps the generation by one and appends one event, from
    // 1 at creation: the generation is the event's sequence.
    sequence: deployment.generation,
    revision: deployment.revision,
    type: event.type,
    state: deployment.state,
    previousState: event.previousState,
    progressPercent: deployment.progressPercent,
    message: event.message,
    actor: event.actor,
    createTime: event.createTime,
    deployment,
  };
  const row = {
    revision: record.revision,
    deployment_id: record.deploymentId,
    sequence: record.sequence,
    type: record.type,
    state: record.state,
    previous_state: record.previousState,
    progress_percent: record.progressPercent,
    message: record.message,
    actor: record.actor,
    create_time: toStoredTime(record.createTime),
    deployment: JSON.stringify(toDeploymentRow(deployment)),
  };
  return { row, record };
}

/**
 * Appends the event of a change just written to `deployment`, at the
 * deployment's revision, carrying the deployment as it now is.
 */
export async function appendEvent(write: Write, deployment: DeploymentRecord, event: NewEvent): Promise<EventRecord> {
  const { row, record } = newEvent(deployment, event);
  await write.trx.insertInto("deployment_events").values(row).execute();
  return record;
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
