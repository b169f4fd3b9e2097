import { Kysely, sql } from "kysely";
import { Migrator, type Migration } from "kysely/migration";
import { allowImmediateReads } from "./compiled-read.js";
import { createPostgresDialect, isPostgresUrl } from "./postgres-dialect.js";
import { createSqliteDialect } from "./sqlite-dialect.js";

/** Which SQL dialect a database speaks. */
export type DialectName = "sqlite" | "postgres";

/** An open, migrated database of one service. */
export interface Database<Schema> {
  db: Kysely<Schema>;
  dialect: DialectName;
  /** Closes the pool or file; the database is unusable afterwards. */
  close(): Promise<void>;
}

/** Where a service keeps its data and how to bring it up to date. */
export interface OpenDatabaseOptions {
  /** A `postgres://` or `postgresql://` URL (optionally `?schema=name`); else SQLite is used. */
  url?: string;
  /** The SQLite file, used when `url` is not a PostgreSQL URL. */
  sqlitePath: string;
  /** Versioned migrations, applied in name order. */
  migrations: Record<string, Migration>;
}

/**
 * Opens PostgreSQL when `url` is a PostgreSQL URL, else the SQLite file, and
 * applies the migrations not applied yet. Replicas starting together on one
 * PostgreSQL wait for each other: Kysely's migrator holds an advisory lock
 * while it migrates.
 */
export async function openDatabase<Schema>(options: OpenDatabaseOptions): Promise<Database<Schema>> {
  const postgres = isPostgresUrl(options.url) ? createPostgresDialect(options.url) : undefined;
  const sqlite = postgres ? undefined : createSqliteDialect(options.sqlitePath);
  const db = new Kysely<Schema>({ dialect: postgres?.dialect ?? sqlite!.dialect });
  try {
    // Without an explicit schema the migrator looks for its tables in every
    // schema of the database and may find another service's; name ours.
    const schema = postgres ? (postgres.schema ?? (await currentSchema(db))) : undefined;
    await migrate(db, options.migrations, schema);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  if (sqlite) allowImmediateReads(db, sqlite.readNow);
  return { db, dialect: postgres ? "postgres" : "sqlite", close: () => db.destroy() };
}

async function currentSchema<Schema>(db: Kysely<Schema>): Promise<string> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (schema === undefined) throw new Error("PostgreSQL has no current schema; set ?schema= on the URL");
  return schema;
}

async function migrate<Schema>(db: Kysely<Schema>, migrations: Record<string, Migration>, schema: string | undefined) {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // Also creates the schema when missing, tolerating replicas that race to do it.
    migrationTableSchema: schema,
  });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (error === undefined) return;
    // Kysely's migrator lists the tables and columns of every schema; a
    // schema, table or column that someone else drops or renames meanwhile
    // fails that listing, not us. Only a listing fails before any result.
    if (results === undefined && isListingRace(error) && attempt < 5) continue;
    const failed = results?.find((result) => result.status === "Error")?.migrationName;
    throw new Error(failed ? `migration ${failed} failed` : "migrating the database failed", { cause: error });
  }
}

/** PostgreSQL's undefined schema, table and column errors. */
const listingRaceCodes = new Set(["3F000", "42P01", "42703"]);

function isListingRace(error: unknown): boolean {
  return typeof error === "object" && error !== null && listingRaceCodes.has((error as { code?: unknown }).code as string);
}
