import { sql, type Kysely, type SqlBool } from "kysely";
import type { Migration } from "kysely/migration";

/** The deployments service's migrations, applied in name order; never edit one once released. */
export const migrations: Record<string, Migration> = {
  "0001-create-tables": { up: createTables },
};

// Kysely<any>: a migration must keep working after schema.ts has moved on.
async function createTables(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("revision_counter")
    .addColumn("id", "integer", (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn("value", "bigint", (c) => c.notNull())
    .execute();
  await db.insertInto("revision_counter").values({ id: 1, value: 0 }).execute();

  await db.schema
    .createTable("deployments")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("service", "text", (c) => c.notNull())
    .addColumn("version", "text", (c) => c.notNull())
    .addColumn("environment", "text", (c) => c.notNull())
    .addColumn("description", "text", (c) => c.notNull())
    .addColumn("labels", "text", (c) => c.notNull())
    .addColumn("state", "integer", (c) => c.notNull())
    .addColumn("progress_percent", "integer", (c) => c.notNull())
    .addColumn("status_message", "text", (c) => c.notNull())
    .addColumn("log_url", "text", (c) => c.notNull())
    .addColumn("creator", "text", (c) => c.notNull())
    .addColumn("rollback_of", "text")
    .addColumn("create_time", "text", (c) => c.notNull())
    .addColumn("update_time", "text", (c) => c.notNull())
    .addColumn("start_time", "text")
    .addColumn("end_time", "text")
    .addColumn("revision", "bigint", (c) => c.notNull())
    .addColumn("generation", "integer", (c) => c.notNull())
    .execute();
  // At most one PENDING (1), IN_PROGRESS (2) or CANCELLING (5) deployment per
  // service and environment, whatever the number of replicas.
  await db.schema
    .createIndex("deployments_one_unfinished")
    .unique()
    .on("deployments")
    .columns(["service", "environment"])
    .where(sql<SqlBool>`state in (1, 2, 5)`)
    .execute();
  // Keyset pages in each sort order; lastSuccess and staleCancellations.
  await db.schema.createIndex("deployments_create_time_id").on("deployments").columns(["create_time", "id"]).execute();
  await db.schema.createIndex("deployments_update_time_id").on("deployments").columns(["update_time", "id"]).execute();
  await db.schema
    .createIndex("deployments_service_environment_state")
    .on("deployments")
    .columns(["service", "environment", "state", "create_time"])
    .execute();
  await db.schema.createIndex("deployments_state_update_time").on("deployments").columns(["state", "update_time"]).execute();

  await db.schema
    .createTable("deployment_events")
    .addColumn("revision", "bigint", (c) => c.primaryKey())
    .addColumn("deployment_id", "text", (c) => c.notNull().references("deployments.id"))
    .addColumn("sequence", "integer", (c) => c.notNull())
    .addColumn("type", "integer", (c) => c.notNull())
    .addColumn("state", "integer", (c) => c.notNull())
    .addColumn("previous_state", "integer", (c) => c.notNull())
    .addColumn("progress_percent", "integer", (c) => c.notNull())
    .addColumn("message", "text", (c) => c.notNull())
    .addColumn("actor", "text", (c) => c.notNull())
    .addColumn("create_time", "text", (c) => c.notNull())
    .addColumn("deployment", "text", (c) => c.notNull())
    .addUniqueConstraint("deployment_events_deployment_id_sequence", ["deployment_id", "sequence"])
    .execute();

  await db.schema
    .createTable("idempotent_requests")
    .addColumn("request_id", "text", (c) => c.primaryKey())
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("deployment_id", "text", (c) => c.notNull().references("deployments.id"))
    .addColumn("create_time", "text", (c) => c.notNull())
    .execute();
}
