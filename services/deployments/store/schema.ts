// The deployments service's tables as Kysely sees them. Times are ISO-8601 text
// (kit/database/times.ts), enums the contract's numbers, maps and snapshots JSON text.

/** Every table of the deployments service. */
export interface DeploymentSchema {
  revision_counter: RevisionCounterTable;
  deployments: DeploymentsTable;
  deployment_events: DeploymentEventsTable;
  idempotent_requests: IdempotentRequestsTable;
}

/**
 * One row (id 1) holding the latest global revision. Every write transaction
 * increments it first, so writers queue on this row until the one ahead commits.
 */
export interface RevisionCounterTable {
  id: number;
  value: number;
}

/** One row per deployment, as it is now. */
export interface DeploymentsTable {
  id: string;
  service: string;
  version: string;
  environment: string;
  description: string;
  /** JSON object of label → value. */
  labels: string;
  state: number;
  progress_percent: number;
  status_message: string;
  log_url: string;
  creator: string;
  rollback_of: string | null;
  create_time: string;
  update_time: string;
  start_time: string | null;
  end_time: string | null;
  /** The global revision of the latest change. */
  revision: number;
  generation: number;
}

/** Every committed change, keyed by its global revision. */
export interface DeploymentEventsTable {
  revision: number;
  deployment_id: string;
  sequence: number;
  type: number;
  state: number;
  previous_state: number;
  progress_percent: number;
  message: string;
  actor: string;
  create_time: string;
  /** JSON of the deployments row right after the change. */
  deployment: string;
}

/** AIP-155 request ids of creates, written with the deployment they made. */
export interface IdempotentRequestsTable {
  request_id: string;
  fingerprint: string;
  deployment_id: string;
  create_time: string;
}
