import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** The users service's migrations, applied in name order; never edit one once released. */
export const migrations: Record<string, Migration> = {
  "0001-create-tables": { up: createTables },
  "0002-signing-key-rotation": { up: sealAndScheduleSigningKeys },
  "0003-identity-changes": { up: createIdentityChanges },
};

// Kysely<any>: a migration must keep working after schema.ts has moved on.
async function createTables(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("id", "text", (c) => c.primaryKey())
    // The store lower-cases emails, so this also makes them unique ignoring case.
    .addColumn("email", "text", (c) => c.notNull().unique())
    .addColumn("display_name", "text", (c) => c.notNull())
    .addColumn("kind", "integer", (c) => c.notNull())
    .addColumn("role", "integer", (c) => c.notNull())
    .addColumn("environments", "text", (c) => c.notNull())
    .addColumn("state", "integer", (c) => c.notNull())
    .addColumn("preferences", "text", (c) => c.notNull())
    .addColumn("password_hash", "text")
    .addColumn("create_time", "text", (c) => c.notNull())
    .addColumn("update_time", "text", (c) => c.notNull())
    .addColumn("delete_time", "text")
    .addColumn("version", "integer", (c) => c.notNull())
    .execute();
  // Keyset pages in each sort order; role finds the active admins.
  await db.schema.createIndex("users_create_time_id").on("users").columns(["create_time", "id"]).execute();
  await db.schema.createIndex("users_display_name_id").on("users").columns(["display_name", "id"]).execute();
  await db.schema.createIndex("users_role").on("users").column("role").execute();

  await db.schema
    .createTable("api_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
    .addColumn("display_name", "text", (c) => c.notNull())
    .addColumn("prefix", "text", (c) => c.notNull())
    .addColumn("secret_hash", "text", (c) => c.notNull())
    .addColumn("create_time", "text", (c) => c.notNull())
    .addColumn("expire_time", "text")
    .addColumn("last_use_time", "text")
    .addColumn("revoke_time", "text")
    .execute();
  await db.schema
    .createIndex("api_keys_user_id_create_time_id")
    .on("api_keys")
    .columns(["user_id", "create_time", "id"])
    .execute();

  await db.schema
    .createTable("sessions")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
    .addColumn("create_time", "text", (c) => c.notNull())
    .addColumn("expire_time", "text", (c) => c.notNull())
    .addColumn("revoke_time", "text")
    .execute();
  await db.schema.createIndex("sessions_user_id").on("sessions").column("user_id").execute();

  await db.schema
    .createTable("refresh_tokens")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("session_id", "text", (c) => c.notNull().references("sessions.id"))
    .addColumn("secret_hash", "text", (c) => c.notNull())
    .addColumn("create_time", "text", (c) => c.notNull())
    .addColumn("expire_time", "text", (c) => c.notNull())
    .addColumn("rotate_time", "text")
    .execute();

  await db.schema
    .createTable("signing_keys")
    .addColumn("kid", "text", (c) => c.primaryKey())
    .addColumn("algorithm", "text", (c) => c.notNull())
    .addColumn("public_jwk", "text", (c) => c.notNull())
    .addColumn("private_jwk", "text", (c) => c.notNull())
    .addColumn("create_time", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("login_failures")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("failures", "integer", (c) => c.notNull())
    .addColumn("window_start", "text", (c) => c.notNull())
    .execute();
}

// The private JWK column now holds it sealed; the users service seals older
// plaintext rows at start, as only it has the key. Existing keys sign from
// the time they were made.
async function sealAndScheduleSigningKeys(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("signing_keys").renameColumn("private_jwk", "sealed_private_jwk").execute();
  await db.schema.alterTable("signing_keys").addColumn("activate_time", "text", (c) => c.notNull().defaultTo("")).execute();
  await db.updateTable("signing_keys").set((eb) => ({ activate_time: eb.ref("create_time") })).execute();
}

// The log WatchIdentityChanges serves, numbered by one counter row that
// writers lock (see store/identity-changes.ts).
async function createIdentityChanges(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("identity_revision")
    .addColumn("id", "integer", (c) => c.primaryKey())
    .addColumn("value", "integer", (c) => c.notNull())
    .execute();
  await db.insertInto("identity_revision").values({ id: 1, value: 0 }).execute();
  await db.schema
    .createTable("identity_changes")
    .addColumn("revision", "integer", (c) => c.primaryKey())
    .addColumn("subject", "text", (c) => c.notNull())
    .addColumn("change_time", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("identity_changes_change_time").on("identity_changes").column("change_time").execute();
}
