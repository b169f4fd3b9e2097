import { DeploymentEventType, DeploymentState } from "../../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DomainError } from "../../kit/errors.js";
import type { Database } from "../../kit/database/open-database.js";
import { isUniqueViolation } from "../../kit/database/unique-violation.js";
import { findUnfinished, getDeployment } from "./deployments.js";
import { appendEvent } from "./events.js";
import { findEarlierRequest, recordRequest } from "./idempotency.js";
import { toDeploymentRow } from "./records.js";
import type { Write, WriteTransaction } from "./revisions.js";
import type { DeploymentSchema } from "./schema.js";
import type { DeploymentRecord, DeploymentStore, EventRecord, Idempotency, NewDeployment } from "./types.js";

// A create refused by the one-unfinished index whose blocker finished before
// it could be named is simply tried again; more than a few times in a row is a bug.
const maxAttempts = 5;

/** Creating deployments: the one-unfinished-per-service-and-environment rule and AIP-155 request ids. */
export function createDeploymentCreation(
  database: Database<DeploymentSchema>,
  write: WriteTransaction,
): Pick<DeploymentStore, "create"> {
  const { db } = database;
  return {
    async create(deployment, idempotency) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await write((w) => insert(w, deployment, idempotency));
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
          // The partial unique index refused a second unfinished deployment:
          // name the one that holds the place, now that the transaction is over.
          const running = await findUnfinished(db, deployment.service, deployment.environment);
          if (running) throw inProgress(running, error);
          if (attempt === maxAttempts || (await getDeployment(db, deployment.id))) throw error;
        }
      }
    },
  };
}

async function insert(
  w: Write,
  deployment: NewDeployment,
  idempotency: Idempotency | undefined,
): Promise<{ deployment: DeploymentRecord; events: EventRecord[]; replayed: boolean }> {
  if (idempotency) {
    // Read after the revision counter was taken: no other create is in flight,
    // so a request id committed by another replica is seen here.
    const earlier = await findEarlierRequest(w.trx, idempotency);
    if (earlier !== undefined) {
      const original = await getDeployment(w.trx, earlier);
      if (!original) throw new Error(`request ${idempotency.requestId} names a missing deployment ${earlier}`);
      return { deployment: original, events: [], replayed: true };
    }
  }
  const record: DeploymentRecord = {
    id: deployment.id,
    service: deployment.service,
    version: deployment.version,
    environment: deployment.environment,
    description: deployment.description,
    labels: { ...deployment.labels },
    state: DeploymentState.PENDING,
    progressPercent: 0,
    statusMessage: "",
    logUrl: "",
    creator: deployment.creator,
    rollbackOf: deployment.rollbackOf,
    createTime: deployment.createTime,
    updateTime: deployment.createTime,
    startTime: null,
    endTime: null,
    revision: await w.nextRevision(),
    generation: 1,
  };
  await w.trx.insertInto("deployments").values(toDeploymentRow(record)).execute();
  const event = await appendEvent(w, record, {
    type: DeploymentEventType.CREATED,
    previousState: DeploymentState.UNSPECIFIED,
    message: record.rollbackOf ? `created to roll back deployments/${record.rollbackOf}` : "created",
    actor: record.creator,
    createTime: record.createTime,
  });
  if (idempotency) await recordRequest(w.trx, idempotency, record.id, record.createTime);
  return { deployment: record, events: [event], replayed: false };
}

function inProgress(running: DeploymentRecord, cause: unknown): DomainError {
  const name = `deployments/${running.id}`;
  return new DomainError(
    "aborted",
    "DEPLOYMENT_IN_PROGRESS",
    `${running.service} already has an unfinished deployment in ${running.environment}: ${name}`,
    { metadata: { deployment: name }, cause },
  );
}
