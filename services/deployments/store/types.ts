import type { DeploymentEventType, DeploymentState } from "../../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { FilterTerm } from "../../kit/filter.js";

/** A deployment as stored. Enums are the contract's numbers. */
export interface DeploymentRecord {
  id: string;
  service: string;
  version: string;
  environment: string;
  description: string;
  labels: Record<string, string>;
  state: DeploymentState;
  progressPercent: number;
  statusMessage: string;
  logUrl: string;
  /** "users/{user}" of the creator. */
  creator: string;
  /** Id of the deployment this one rolls back, or null. */
  rollbackOf: string | null;
  createTime: Date;
  updateTime: Date;
  startTime: Date | null;
  endTime: Date | null;
  /** The global revision of the deployment's latest change. */
  revision: number;
  /** Starts at 1, +1 on every change; the etag is derived from it. */
  generation: number;
}

/** One committed change: an event of one deployment, at one global revision. */
export interface EventRecord {
  deploymentId: string;
  /** 1, 2, 3… per deployment, without gaps. */
  sequence: number;
  /** Global, gap-free, in commit order across all replicas. */
  revision: number;
  type: DeploymentEventType;
  state: DeploymentState;
  /** The state before this change (UNSPECIFIED for creation), so watchers filtering on state see a deployment leave their set. */
  previousState: DeploymentState;
  progressPercent: number;
  message: string;
  /** "users/{user}", or "system". */
  actor: string;
  createTime: Date;
  /** The deployment as it was right after this change. */
  deployment: DeploymentRecord;
}

/** What CreateDeployment and RollbackDeployment store. */
export type NewDeployment = Pick<
  DeploymentRecord,
  "id" | "service" | "version" | "environment" | "description" | "labels" | "creator" | "rollbackOf" | "createTime"
>;

/** An AIP-155 request id and a fingerprint of the request it came with. */
export interface Idempotency {
  requestId: string;
  /** Same id with another fingerprint → REQUEST_ID_REUSED. */
  fingerprint: string;
}

/** A change to apply to a deployment, decided from its current row inside the transaction. */
export interface DeploymentChange {
  patch: Partial<Pick<DeploymentRecord, "state" | "progressPercent" | "statusMessage" | "logUrl" | "startTime" | "endTime">>;
  event: { type: DeploymentEventType; message: string; actor: string };
}

/** Sort orders of ListDeployments. */
export type DeploymentOrder = { field: "create_time" | "update_time"; descending: boolean };

/** A page query over deployments. */
export interface DeploymentQuery {
  /** Terms on service, environment, state, creator, create_time. */
  filter: FilterTerm[];
  order: DeploymentOrder;
  /** Keyset cursor: the sort value (ISO time) and id of the last row of the previous page. */
  after?: { value: string; id: string };
  limit: number;
}

/** All SQL of the deployments service. Every method runs its statements atomically. */
export interface DeploymentStore {
  /**
   * Inserts a PENDING deployment and its CREATED event at the next revision.
   * With idempotency: a known request id with the same fingerprint returns
   * the deployment it created (replayed: true, nothing written); with another
   * fingerprint, invalid-argument/REQUEST_ID_REUSED. An unfinished deployment
   * of the same service and environment → aborted/DEPLOYMENT_IN_PROGRESS,
   * metadata { deployment: "deployments/{id}" } naming it; race-free across
   * replicas (a partial unique index, not a read-then-write). Concurrent
   * creates may share a transaction; each is checked and settled on its own.
   */
  create(
    deployment: NewDeployment,
    idempotency: Idempotency | undefined,
  ): Promise<{ deployment: DeploymentRecord; events: EventRecord[]; replayed: boolean }>;
  get(id: string): Promise<DeploymentRecord | undefined>;
  /** One page and the count of all rows matching the filter. */
  list(query: DeploymentQuery): Promise<{ deployments: DeploymentRecord[]; totalSize: number }>;
  /**
   * Reads the deployment (locked against concurrent changes), asks `decide`
   * for the change, applies it with its event at the next revision, and, when
   * the change makes it SUCCEEDED, marks the previously SUCCEEDED deployment
   * of the same service and environment SUPERSEDED with its own event, in the
   * same transaction. `decide` may throw a DomainError to refuse; returning
   * undefined writes nothing. not-found/DEPLOYMENT_NOT_FOUND for an unknown id.
   * `expectedVersion`, when given, must match (aborted/ETAG_MISMATCH).
   */
  update(
    id: string,
    decide: (current: DeploymentRecord) => DeploymentChange | undefined,
    expectedVersion: number | undefined,
    now: Date,
  ): Promise<{ deployment: DeploymentRecord; events: EventRecord[] }>;
  /** The newest SUCCEEDED or SUPERSEDED deployment of service+environment created before `before`, optionally of one version. */
  lastSuccess(service: string, environment: string, before: Date, version?: string): Promise<DeploymentRecord | undefined>;
  /** One deployment's events by sequence, oldest first, after `afterSequence`. */
  listEvents(deploymentId: string, afterSequence: number, limit: number): Promise<EventRecord[]>;
  /** Events of all deployments with revision > `afterRevision`, by revision, at most `limit`. */
  eventsAfter(afterRevision: number, limit: number): Promise<EventRecord[]>;
  /** The latest committed revision (0 when empty). */
  latestRevision(): Promise<number>;
  /** Ids of CANCELLING deployments last changed before `before`. */
  staleCancellations(before: Date): Promise<string[]>;
  /** Matching deployments (newest first, at most `limit`) and the revision they are consistent with. */
  snapshot(filter: FilterTerm[], limit: number): Promise<{ deployments: DeploymentRecord[]; revision: number }>;
  close(): Promise<void>;
}
