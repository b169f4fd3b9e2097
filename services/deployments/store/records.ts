import type { Selectable } from "kysely";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import type { DeploymentEventsTable, DeploymentsTable } from "./schema.js";
import type { DeploymentRecord, EventRecord } from "./types.js";

/** A deployments row, as read or about to be written. */
export type DeploymentRow = Selectable<DeploymentsTable>;

/** Reads a deployments row back as a record. */
export function toDeploymentRecord(row: DeploymentRow): DeploymentRecord {
  return {
    id: row.id,
    service: row.service,
    version: row.version,
    environment: row.environment,
    description: row.description,
    labels: JSON.parse(row.labels) as Record<string, string>,
    state: row.state,
    progressPercent: row.progress_percent,
    statusMessage: row.status_message,
    logUrl: row.log_url,
    creator: row.creator,
    rollbackOf: row.rollback_of,
    createTime: fromStoredTime(row.create_time),
    updateTime: fromStoredTime(row.update_time),
    startTime: fromStoredTime(row.start_time),
    endTime: fromStoredTime(row.end_time),
    revision: row.revision,
    generation: row.generation,
  };
}

/** The deployments row of a record. */
export function toDeploymentRow(deployment: DeploymentRecord): DeploymentRow {
  return {
    id: deployment.id,
    service: deployment.service,
    version: deployment.version,
    environment: deployment.environment,
    description: deployment.description,
    labels: JSON.stringify(deployment.labels),
    state: deployment.state,
    progress_percent: deployment.progressPercent,
    status_message: deployment.statusMessage,
    log_url: deployment.logUrl,
    creator: deployment.creator,
    rollback_of: deployment.rollbackOf,
    create_time: toStoredTime(deployment.createTime),
    update_time: toStoredTime(deployment.updateTime),
    start_time: toStoredTime(deployment.startTime),
    end_time: toStoredTime(deployment.endTime),
    revision: deployment.revision,
    generation: deployment.generation,
  };
}

/** Reads an event row, with the deployment snapshot it carries, back as a record. */
export function toEventRecord(row: Selectable<DeploymentEventsTable>): EventRecord {
  return {
    deploymentId: row.deployment_id,
    sequence: row.sequence,
    revision: row.revision,
    type: row.type,
    state: row.state,
    previousState: row.previous_state,
    progressPercent: row.progress_percent,
    message: row.message,
    actor: row.actor,
    createTime: fromStoredTime(row.create_time),
    deployment: toDeploymentRecord(JSON.parse(row.deployment) as DeploymentRow),
  };
}
