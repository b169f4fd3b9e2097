import type { Kysely } from "kysely";
import { DeploymentState } from "../../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { FilterTerm } from "../../kit/filter.js";
import { filterCondition } from "../../kit/database/filter-condition.js";
import { keysetAfter } from "../../kit/database/keyset.js";
import type { Database } from "../../kit/database/open-database.js";
import { toStoredTime } from "../../kit/database/times.js";
import { unfinishedStates } from "../state-machine.js";
import { toDeploymentRecord } from "./records.js";
import { readRevision } from "./revisions.js";
import type { DeploymentSchema } from "./schema.js";
import type { DeploymentRecord, DeploymentStore } from "./types.js";

/** The column each filterable field of ListDeployments reads. */
const filterColumns = {
  service: "service",
  environment: "environment",
  creator: "creator",
  state: "state",
  create_time: "create_time",
} as const;

/** Reading deployments: one, a page, a consistent snapshot, and the queries of the service's rules. */
export function createDeploymentReads(
  database: Database<DeploymentSchema>,
): Pick<DeploymentStore, "get" | "list" | "lastSuccess" | "staleCancellations" | "snapshot" | "latestRevision"> {
  const { db } = database;
  return {
    get: (id) => getDeployment(db, id),

    list(query) {
      const { field, descending } = query.order;
      const direction = descending ? "desc" : "asc";
      // One snapshot, so totalSize counts the same rows the page was cut from.
      return db
        .transaction()
        .setIsolationLevel("repeatable read")
        .execute(async (trx) => {
          const page = matching(trx, query.filter);
          const after = query.after;
          const rows = await (after
            ? page.where(keysetAfter([field, "id"], [toStoredTime(new Date(after.value)), after.id], descending))
            : page)
            .orderBy(field, direction)
            .orderBy("id", direction)
            .limit(query.limit)
            .selectAll()
            .execute();
          const { count } = await matching(trx, query.filter)
            .select((eb) => eb.fn.countAll<number>().as("count"))
            .executeTakeFirstOrThrow();
          return { deployments: rows.map(toDeploymentRecord), totalSize: count };
        });
    },

    async lastSuccess(service, environment, before, version) {
      const row = await db
        .selectFrom("deployments")
        .selectAll()
        .where("service", "=", service)
        .where("environment", "=", environment)
        .where("state", "in", [DeploymentState.SUCCEEDED, DeploymentState.SUPERSEDED])
        .where("create_time", "<", toStoredTime(before))
        .$if(version !== undefined, (q) => q.where("version", "=", version!))
        .orderBy("create_time", "desc")
        .orderBy("id", "desc")
        .limit(1)
        .executeTakeFirst();
      return row && toDeploymentRecord(row);
    },

    async staleCancellations(before) {
      const rows = await db
        .selectFrom("deployments")
        .select("id")
        .where("state", "=", DeploymentState.CANCELLING)
        .where("update_time", "<", toStoredTime(before))
        .orderBy("update_time")
        .orderBy("id")
        .execute();
      return rows.map((row) => row.id);
    },

    // Both reads see one snapshot. Revisions are taken in commit order, so the
    // revision read is exactly the last change the deployments read reflect.
    snapshot(filter, limit) {
      return db
        .transaction()
        .setIsolationLevel("repeatable read")
        .execute(async (trx) => {
          const rows = await matching(trx, filter)
            .selectAll()
            .orderBy("create_time", "desc")
            .orderBy("id", "desc")
            .limit(limit)
            .execute();
          return { deployments: rows.map(toDeploymentRecord), revision: await readRevision(trx) };
        });
    },

    latestRevision: () => readRevision(db),
  };
}

/** One deployment, or undefined. */
export async function getDeployment(db: Kysely<DeploymentSchema>, id: string): Promise<DeploymentRecord | undefined> {
  const row = await db.selectFrom("deployments").selectAll().where("id", "=", id).executeTakeFirst();
  return row && toDeploymentRecord(row);
}

/** The unfinished deployment of a service and environment, if any. */
export async function findUnfinished(
  db: Kysely<DeploymentSchema>,
  service: string,
  environment: string,
): Promise<DeploymentRecord | undefined> {
  const row = await db
    .selectFrom("deployments")
    .selectAll()
    .where("service", "=", service)
    .where("environment", "=", environment)
    .where("state", "in", unfinishedStates)
    .executeTakeFirst();
  return row && toDeploymentRecord(row);
}

function matching(db: Kysely<DeploymentSchema>, filter: FilterTerm[]) {
  return db.selectFrom("deployments").where(filterCondition(filter, filterColumns));
}
