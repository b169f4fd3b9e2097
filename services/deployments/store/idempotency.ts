import type { Transaction } from "kysely";
import { DomainError } from "../../kit/errors.js";
import { toStoredTime } from "../../kit/database/times.js";
import type { DeploymentSchema } from "./schema.js";
import type { Idempotency } from "./types.js";

/**
 * The deployment an earlier request with this request id created, if any;
 * invalid-argument/REQUEST_ID_REUSED when that request was a different one.
 */
export async function findEarlierRequest(
  trx: Transaction<DeploymentSchema>,
  idempotency: Idempotency,
): Promise<string | undefined> {
  const earlier = await trx
    .selectFrom("idempotent_requests")
    .select(["fingerprint", "deployment_id"])
    .where("request_id", "=", idempotency.requestId)
    .executeTakeFirst();
  if (earlier === undefined) return undefined;
  if (earlier.fingerprint !== idempotency.fingerprint) {
    const description = "was already used for a different request; use a new request_id for a new request";
    throw new DomainError("invalid-argument", "REQUEST_ID_REUSED", `request_id "${idempotency.requestId}" ${description}`, {
      violations: [{ field: "request_id", description, reason: "REQUEST_ID_REUSED" }],
    });
  }
  return earlier.deployment_id;
}

/** Remembers which deployment a request id created, in the transaction that created it. */
export async function recordRequest(
  trx: Transaction<DeploymentSchema>,
  idempotency: Idempotency,
  deploymentId: string,
  now: Date,
): Promise<void> {
  await trx
    .insertInto("idempotent_requests")
    .values({
      request_id: idempotency.requestId,
      fingerprint: idempotency.fingerprint,
      deployment_id: deploymentId,
      create_time: toStoredTime(now),
    })
    .execute();
}
