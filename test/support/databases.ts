import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { reachablePostgresUrl } from "./postgres-server.js";

/** Where a store under test keeps its data: the options every openXStore takes. */
export interface StoreLocation {
  url?: string;
  sqlitePath: string;
}

/** A database backend a store suite runs against. */
export interface StoreTarget {
  name: "sqlite" | "postgres";
  /** A new, empty location: a new temp dir, or a new random schema (created on first open). */
  fresh(): StoreLocation;
  /** Deletes every location fresh() made. Call it in afterAll. */
  cleanup(): Promise<void>;
}

/**
 * The backends a store suite runs against: SQLite always, and PostgreSQL at
 * LAUNCHPAD_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
 * An unreachable PostgreSQL is skipped with a message on a developer machine,
 * and throws (failing the suite) when CI is set or the URL was given explicitly.
 *
 *     describe.each(await storeTargets())("store on $name", (target) => {
 *       afterAll(() => target.cleanup());
 *       beforeEach(async () => { store = await openUserStore(target.fresh()); });
 *     });
 */
export async function storeTargets(): Promise<StoreTarget[]> {
  const postgresUrl = await reachablePostgresUrl("skipping the PostgreSQL variant");
  return postgresUrl === undefined ? [sqliteTarget()] : [sqliteTarget(), postgresTarget(postgresUrl)];
}

function sqliteTarget(): StoreTarget {
  const dirs: string[] = [];
  return {
    name: "sqlite",
    fresh() {
      const dir = mkdtempSync(join(tmpdir(), "launchpad-store-"));
      dirs.push(dir);
      return { sqlitePath: join(dir, "store.sqlite") };
    },
    async cleanup() {
      await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}

function postgresTarget(postgresUrl: string): StoreTarget {
  const schemas: string[] = [];
  return {
    name: "postgres",
    fresh() {
      const schema = `lp_test_${randomBytes(6).toString("hex")}`;
      schemas.push(schema);
      const url = new URL(postgresUrl);
      url.searchParams.set("schema", schema);
      // The SQLite path is never used while the URL is PostgreSQL.
      return { url: url.toString(), sqlitePath: join(tmpdir(), "unused.sqlite") };
    },
    async cleanup() {
      const dropped = schemas.splice(0);
      if (dropped.length === 0) return;
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${dropped.map((s) => client.escapeIdentifier(s)).join(", ")} cascade`);
      } finally {
        await client.end();
      }
    },
  };
}
