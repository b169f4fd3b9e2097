import type { Insertable, Transaction } from "kysely";
import { DomainError } from "../../kit/errors.js";
import { toStoredTime } from "../../kit/database/times.js";
import type { DeploymentSchema, IdempotentRequestsTable } from "./schema.js";
import type { Idempotency } from "./types.js";

/** What an earlier request with a request id asked for, and the deployment it created. */
export interface EarlierRequest {
  fingerprint: string;
  deployment_id: string;
}

/** The earlier requests with any of these request ids, by request id. */
export async function findEarlierRequests(
  trx: Transaction<DeploymentSchema>,
  requestIds: string[],
): Promise<Map<string, EarlierRequest>> {
  if (requestIds.length === 0) return new Map();
  const rows = await trx
    .selectFrom("idempotent_requests")
    .select(["request_id", "fingerprint", "deployment_id"])
    .where("request_id", "in", requestIds)
    .execute();
  return new Map(rows.map((row) => [row.request_id, row]));
}

/**
 * The deployment `earlier` created, to be returned again; invalid-argument/
 * REQUEST_ID_REUSED when that request was a different one.
 */
export function replayedDeploymentId(idempotency: Idempotency, earlier: EarlierRequest): string {
  if (earlier.fingerprint !== idempotency.fingerprint) {
    const description = "was already used for a different request; use a new request_id for a new request";
    throw new DomainError("invalid-argument", "REQUEST_ID_REUSED", `request_id "${idempotency.requestId}" ${description}`, {
      violations: [{ field: "request_id", description, reason: "REQUEST_ID_REUSED" }],
    });
  }
  return earlier.deployment_id;
}

/** The row remembering which deployment a request id created, written in the transaction that created it. */
export function requestRow(idempotency: Idempotency, deploymentId: string, now: Date): Insertable<IdempotentRequestsTable> {
  return {
    request_id: idempotency.requestId,
    fingerprint: idempotency.fingerprint,
    deployment_id: deploymentId,
    create_time: toStoredTime(now),
  };
}
