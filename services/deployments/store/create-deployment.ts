import { DeploymentEventType, DeploymentState } from "../../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DomainError } from "../../kit/errors.js";
import type { Database } from "../../kit/database/open-database.js";
import { isUniqueViolation } from "../../kit/database/unique-violation.js";
import { createMultiRowInsert } from "./compiled-queries.js";
import { findUnfinished, getDeployment } from "./deployments.js";
import { newEvent } from "./events.js";
import { createGroupCommit } from "./group-commit.js";
import { findEarlierRequests, replayedDeploymentId, requestRow, type EarlierRequest } from "./idempotency.js";
import { toDeploymentRow } from "./records.js";
import type { Write, WriteTransaction } from "./revisions.js";
import type { DeploymentSchema } from "./schema.js";
import type { DeploymentRecord, DeploymentStore, EventRecord, Idempotency, NewDeployment } from "./types.js";

// A create refused by the one-unfinished index whose blocker finished before
// it could be named is simply tried again; more than a few times in a row is a bug.
const maxAttempts = 5;

/** Most creates written in one transaction. */
const maxGroup = 64;

/** One call of create. */
interface Creation {
  deployment: NewDeployment;
  idempotency: Idempotency | undefined;
}

/** What create returns. */
interface Created {
  deployment: DeploymentRecord;
  events: EventRecord[];
  replayed: boolean;
}

/**
 * Creating deployments: the one-unfinished-per-service-and-environment rule
 * and AIP-155 request ids. Creates that arrive while others are being written
 * are written together, in one transaction with one counter update (group
 * commit); each is still checked on its own, and one that breaks the group
 * is found by writing the group's creates one by one.
 */
export function createDeploymentCreation(
  database: Database<DeploymentSchema>,
  write: WriteTransaction,
): Pick<DeploymentStore, "create"> {
  const { db, dialect } = database;
  const insertDeployments = createMultiRowInsert(db, "deployments", maxGroup);
  const insertEvents = createMultiRowInsert(db, "deployment_events", maxGroup);
  const insertRequests = createMultiRowInsert(db, "idempotent_requests", maxGroup);

  // SQLite's driver runs a whole transaction without waiting for I/O, so no
  // create arrives while one is written: a group waits a turn of the event
  // loop for the creates the network brings meanwhile (on PostgreSQL they
  // arrive during the round trips). It waits holding the connection, so a
  // reader looping on promises alone cannot hold that turn back.
  const gather = dialect === "sqlite" ? () => db.connection().execute(nextTurn) : undefined;
  const submit = createGroupCommit<Creation, Created>(
    async (creations) => {
      const outcomes: PromiseSettledResult<Created>[] = [];
      for (const round of conflictFree(creations)) outcomes.push(...(await writeRound(round)));
      return outcomes;
    },
    maxGroup,
    gather,
  );

  return { create: (deployment, idempotency) => submit({ deployment, idempotency }) };

  async function writeRound(round: Creation[]): Promise<PromiseSettledResult<Created>[]> {
    if (round.length > 1) {
      try {
        return await write((w) => insertAll(w, round));
      } catch {
        // One create broke the group (a deployment of its service and
        // environment committed by another replica, say), and took the
        // others' writes with it: each is written alone, so only it fails.
      }
    }
    const outcomes: PromiseSettledResult<Created>[] = [];
    for (const creation of round) outcomes.push(await settle(createAlone(creation)));
    return outcomes;
  }

  async function createAlone(creation: Creation): Promise<Created> {
    const { deployment } = creation;
    for (let attempt = 1; ; attempt++) {
      try {
        const [outcome] = await write((w) => insertAll(w, [creation]));
        if (outcome!.status === "rejected") throw outcome!.reason;
        return outcome!.value;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        // The partial unique index refused a second unfinished deployment:
        // name the one that holds the place, now that the transaction is over.
        const running = await findUnfinished(db, deployment.service, deployment.environment);
        if (running) throw inProgress(running, error);
        if (attempt === maxAttempts || (await getDeployment(db, deployment.id))) throw error;
      }
    }
  }

  // Writes the creates that are new, each at its own next revision, with
  // three statements whatever their number; settles the others as replays
  // or refusals.
  async function insertAll(w: Write, creations: Creation[]): Promise<PromiseSettledResult<Created>[]> {
    // Read after the revision counter was locked: no other create is in
    // flight, so a request id committed by another replica is seen here.
    const earlier = await findEarlierRequests(w.trx, creations.flatMap(({ idempotency }) => (idempotency ? [idempotency.requestId] : [])));
    const deployments: Record<string, unknown>[] = [];
    const events: Record<string, unknown>[] = [];
    const requests: Record<string, unknown>[] = [];
    const outcomes: PromiseSettledResult<Created>[] = [];
    for (const { deployment, idempotency } of creations) {
      const known = idempotency && earlier.get(idempotency.requestId);
      if (known) {
        outcomes.push(await settle(replay(w, idempotency, known)));
        continue;
      }
      const record = newDeploymentRecord(deployment, w.nextRevision());
      const event = newEvent(record, {
        type: DeploymentEventType.CREATED,
        previousState: DeploymentState.UNSPECIFIED,
        message: record.rollbackOf ? `created to roll back deployments/${record.rollbackOf}` : "created",
        actor: record.creator,
        createTime: record.createTime,
      });
      deployments.push(toDeploymentRow(record));
      events.push(event.row);
      if (idempotency) requests.push(requestRow(idempotency, record.id, record.createTime));
      outcomes.push({ status: "fulfilled", value: { deployment: record, events: [event.record], replayed: false } });
    }
    if (deployments.length > 0) {
      await insertDeployments(w.trx, deployments);
      await insertEvents(w.trx, events);
      if (requests.length > 0) await insertRequests(w.trx, requests);
    }
    return outcomes;
  }
}

async function replay(w: Write, idempotency: Idempotency, earlier: EarlierRequest): Promise<Created> {
  const id = replayedDeploymentId(idempotency, earlier);
  const original = await getDeployment(w.trx, id);
  if (!original) throw new Error(`request ${idempotency.requestId} names a missing deployment ${id}`);
  return { deployment: original, events: [], replayed: true };
}

function newDeploymentRecord(deployment: NewDeployment, revision: number): DeploymentRecord {
  return {
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
    revision,
    generation: 1,
  };
}

// One turn of the event loop.
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// Creates with one request id, or for one service and environment, go to
// separate transactions, in order: the later one sees what the earlier
// committed (a replay, or DEPLOYMENT_IN_PROGRESS) instead of breaking the group.
function conflictFree(creations: Creation[]): Creation[][] {
  const rounds: Creation[][] = [[]];
  let taken = new Set<string>();
  for (const creation of creations) {
    const { deployment, idempotency } = creation;
    const keys = [JSON.stringify([deployment.service, deployment.environment]), ...(idempotency ? [idempotency.requestId] : [])];
    if (keys.some((key) => taken.has(key))) {
      rounds.push([]);
      taken = new Set();
    }
    rounds.at(-1)!.push(creation);
    for (const key of keys) taken.add(key);
  }
  return rounds;
}

function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return promise.then(
    (value) => ({ status: "fulfilled", value }),
    (reason: unknown) => ({ status: "rejected", reason }),
  );
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
