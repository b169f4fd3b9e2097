import { DeploymentEventType, DeploymentState } from "../../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DomainError } from "../../kit/errors.js";
import { forUpdate } from "../../kit/database/locks.js";
import type { Database } from "../../kit/database/open-database.js";
import { appendEvent } from "./events.js";
import { toDeploymentRecord, toDeploymentRow } from "./records.js";
import type { Write, WriteTransaction } from "./revisions.js";
import type { DeploymentSchema } from "./schema.js";
import type { DeploymentChange, DeploymentRecord, DeploymentStore, EventRecord } from "./types.js";

/** Changing deployments: one decided change and its event, and superseding on success. */
export function createDeploymentUpdate(
  database: Database<DeploymentSchema>,
  write: WriteTransaction,
): Pick<DeploymentStore, "update"> {
  const { dialect } = database;
  return {
    update(id, decide, expectedVersion, now) {
      return write(async (w) => {
        const row = await w.trx
          .selectFrom("deployments")
          .selectAll()
          .where("id", "=", id)
          .$call(forUpdate(dialect))
          .executeTakeFirst();
        if (!row) throw new DomainError("not-found", "DEPLOYMENT_NOT_FOUND", `deployment deployments/${id} does not exist`);
        const current = toDeploymentRecord(row);
        if (expectedVersion !== undefined && current.generation !== expectedVersion) {
          throw new DomainError(
            "aborted",
            "ETAG_MISMATCH",
            `deployment deployments/${id} was changed since it was read; read it again`,
          );
        }
        // A throw rolls everything back; undefined takes no revision, so nothing is committed.
        const change = decide(current);
        if (change === undefined) return { deployment: current, events: [] };

        const { deployment, event } = await apply(w, current, change.patch, { ...change.event, createTime: now });
        const events = [event];
        if (deployment.state === DeploymentState.SUCCEEDED && current.state !== DeploymentState.SUCCEEDED) {
          events.push(...(await supersedeOthers(w, deployment, now)));
        }
        return { deployment, events };
      });
    },
  };

  // Marks every other SUCCEEDED deployment of the winner's service and
  // environment (normally one) SUPERSEDED, each with its own event.
  async function supersedeOthers(w: Write, winner: DeploymentRecord, now: Date): Promise<EventRecord[]> {
    const rows = await w.trx
      .selectFrom("deployments")
      .selectAll()
      .where("service", "=", winner.service)
      .where("environment", "=", winner.environment)
      .where("state", "=", DeploymentState.SUCCEEDED)
      .where("id", "!=", winner.id)
      .orderBy("id")
      .$call(forUpdate(dialect))
      .execute();
    const events: EventRecord[] = [];
    for (const row of rows) {
      const { event } = await apply(w, toDeploymentRecord(row), { state: DeploymentState.SUPERSEDED }, {
        type: DeploymentEventType.SUPERSEDED,
        message: `superseded by deployments/${winner.id}`,
        actor: "system",
        createTime: now,
      });
      events.push(event);
    }
    return events;
  }
}

// Writes one change at the next revision, with its event.
async function apply(
  w: Write,
  current: DeploymentRecord,
  patch: DeploymentChange["patch"],
  event: DeploymentChange["event"] & { createTime: Date },
): Promise<{ deployment: DeploymentRecord; event: EventRecord }> {
  const deployment: DeploymentRecord = {
    ...current,
    ...definedOnly(patch),
    updateTime: event.createTime,
    generation: current.generation + 1,
    revision: w.nextRevision(),
  };
  const { id, ...columns } = toDeploymentRow(deployment);
  await w.trx.updateTable("deployments").set(columns).where("id", "=", id).execute();
  const written = await appendEvent(w, deployment, { ...event, previousState: current.state });
  return { deployment, event: written };
}

// A patch field left undefined keeps its value; null clears it.
function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as Partial<T>;
}
