import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { compiledRead } from "../../services/kit/database/compiled-read.js";
import { containsIgnoringCase } from "../../services/kit/database/contains.js";
import { filterCondition } from "../../services/kit/database/filter-condition.js";
import { keysetAfter } from "../../services/kit/database/keyset.js";
import { openDatabase, type Database } from "../../services/kit/database/open-database.js";
import { fromStoredTime, toStoredTime } from "../../services/kit/database/times.js";
import { isUniqueViolation } from "../../services/kit/database/unique-violation.js";
import { storeTargets, type StoreLocation } from "../support/databases.js";

interface Schema {
  items: { id: string; name: string; rank: number; at: string };
}

/** Migrations that log the order they ran in; the second needs the first. */
function loggingMigrations(log: string[]): Record<string, Migration> {
  return {
    "0002-index-name": {
      async up(db: Kysely<any>) {
        log.push("0002");
        await db.schema.createIndex("items_name").on("items").column("name").unique().execute();
      },
    },
    "0001-create-items": {
      async up(db: Kysely<any>) {
        log.push("0001");
        await db.schema
          .createTable("items")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("rank", "integer", (c) => c.notNull())
          .addColumn("at", "text", (c) => c.notNull())
          .execute();
      },
    },
  };
}

describe("stored times", () => {
  it("are fixed-width ISO-8601 UTC text whose order is time order, and read back as the same Date", () => {
    const times = [new Date("0001-01-01T00:00:00Z"), new Date("2026-01-31T12:00:00.5Z"), new Date("9999-12-31T23:59:59.999Z")];
    const stored = times.map((time) => toStoredTime(time));
    expect(stored.map((text) => text.length)).toEqual([24, 24, 24]);
    expect([...stored].sort()).toEqual(stored);
    expect(stored.map((text) => fromStoredTime(text))).toEqual(times);
    expect([toStoredTime(null), fromStoredTime(null)]).toEqual([null, null]);
  });

  it("refuse years that would break the fixed width", () => {
    expect(() => toStoredTime(new Date("+010000-01-01T00:00:00Z"))).toThrow(RangeError);
  });
});

describe.each(await storeTargets())("openDatabase and query helpers on $name", (target) => {
  let location: StoreLocation;
  let log: string[];
  let database: Database<Schema>;

  beforeEach(async () => {
    location = target.fresh();
    log = [];
    database = await openDatabase<Schema>({ ...location, migrations: loggingMigrations(log) });
  });
  afterEach(() => database.close());
  afterAll(() => target.cleanup());

  async function insert(...items: [id: string, name: string, rank: number, minute: number][]) {
    const at = (minute: number) => toStoredTime(new Date(Date.UTC(2026, 0, 1, 0, minute)));
    await database.db
      .insertInto("items")
      .values(items.map(([id, name, rank, minute]) => ({ id, name, rank, at: at(minute) })))
      .execute();
  }

  const ids = (rows: { id: string }[]) => rows.map((row) => row.id);

  it("applies the migrations in name order, once", async () => {
    expect(database.dialect).toBe(target.name);
    expect(log).toEqual(["0001", "0002"]);
    await database.close();
    database = await openDatabase<Schema>({ ...location, migrations: loggingMigrations(log) });
    expect(log).toEqual(["0001", "0002"]);
  });

  it("filterCondition applies each operator to strings, numbers and stored times, ANDed", async () => {
    await insert(["a", "Alpha", 1, 10], ["b", "beta", 2, 20], ["c", "Gamma", 3, 30]);
    const columns = { name: "name", rank: "rank", time: "at" };
    const where = async (...terms: Parameters<typeof filterCondition>[0]) =>
      ids(await database.db.selectFrom("items").select("id").where(filterCondition(terms, columns)).orderBy("id").execute());
    const minute20 = new Date(Date.UTC(2026, 0, 1, 0, 20));

    expect(await where()).toEqual(["a", "b", "c"]);
    expect(await where({ field: "name", operator: "=", value: "beta" })).toEqual(["b"]);
    expect(await where({ field: "name", operator: "!=", value: "beta" })).toEqual(["a", "c"]);
    expect(await where({ field: "name", operator: ":", value: "MM" })).toEqual(["c"]);
    expect(await where({ field: "rank", operator: "<", value: 2 })).toEqual(["a"]);
    expect(await where({ field: "rank", operator: ">=", value: 2 })).toEqual(["b", "c"]);
    expect(await where({ field: "time", operator: "<=", value: minute20 })).toEqual(["a", "b"]);
    expect(await where({ field: "time", operator: ">", value: minute20 })).toEqual(["c"]);
    expect(
      await where({ field: "time", operator: ">=", value: minute20 }, { field: "name", operator: ":", value: "a" }),
    ).toEqual(["b", "c"]);
    await expect(where({ field: "secret", operator: "=", value: "x" })).rejects.toThrow(/no column/);
  });

  it("containsIgnoringCase takes %, _ and \\ literally", async () => {
    await insert(["pct", "50% off", 1, 0], ["under", "snake_case", 2, 0], ["slash", "a\\b", 3, 0], ["plain", "SNAKEXCASE 50", 4, 0]);
    const containing = async (text: string) =>
      ids(await database.db.selectFrom("items").select("id").where(containsIgnoringCase("name", text)).orderBy("id").execute());
    expect(await containing("%")).toEqual(["pct"]);
    expect(await containing("E_C")).toEqual(["under"]);
    expect(await containing("\\")).toEqual(["slash"]);
    expect(await containing("snake")).toEqual(["plain", "under"]);
  });

  it("keysetAfter pages through ties on the sort column in both directions", async () => {
    await insert(["d", "d", 1, 0], ["b", "b", 2, 0], ["a", "a", 2, 0], ["c", "c", 2, 0], ["e", "e", 3, 0]);
    const page = async (after: [number, string], descending: boolean) => {
      const direction = descending ? "desc" : "asc";
      const rows = await database.db
        .selectFrom("items")
        .select("id")
        .where(keysetAfter(["rank", "id"], after, descending))
        .orderBy("rank", direction)
        .orderBy("id", direction)
        .execute();
      return ids(rows);
    };
    expect(await page([2, "a"], false)).toEqual(["b", "c", "e"]);
    expect(await page([2, "c"], true)).toEqual(["b", "a", "d"]);
    expect(() => keysetAfter(["rank", "id"], [2], false)).toThrow();
  });

  it("isUniqueViolation recognises duplicate keys and nothing else", async () => {
    await insert(["a", "one", 1, 0]);
    const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);
    expect(isUniqueViolation(await failure(insert(["a", "two", 1, 0])))).toBe(true);
    expect(isUniqueViolation(await failure(insert(["b", "one", 1, 0])))).toBe(true);
    expect(isUniqueViolation(await failure(sql`select * from missing_table`.execute(database.db)))).toBe(false);
    expect(isUniqueViolation(new Error("duplicate"))).toBe(false);
  });

  it("compiledRead runs one compiled query with each call's arguments, in their places among fixed parameters", async () => {
    await insert(["a", "one", 1, 0], ["b", "two", 2, 0], ["c", "three", 3, 0], ["d", "four", 4, 0]);
    const { db } = database;
    const ranked = compiledRead(db, (above: string, notNamed: string) =>
      db.selectFrom("items").select("id").where("rank", ">", 1).where("id", ">", above).where("name", "!=", notNamed).orderBy("id"));
    expect(ids(await ranked("a", "three"))).toEqual(["b", "d"]);
    expect(ids(await ranked("b", "four"))).toEqual(["c"]);
    expect(ids(await ranked("", "one"))).toEqual(["b", "c", "d"]);
    expect(() => compiledRead(db, (column: string) => db.selectFrom("items").select(sql.ref(column).as("x")))).toThrow(/bound parameters/);
  });

  if (target.name === "sqlite") it("a compiled read started during a transaction on the one SQLite connection waits for its end", async () => {
    await insert(["a", "one", 1, 0]);
    const { db } = database;
    const after = compiledRead(db, (id: string) => db.selectFrom("items").select("id").where("id", ">", id).orderBy("id"));
    const readDuring = async (outcome: "commit" | "rollback") => {
      let read: Promise<{ id: string }[]> | undefined;
      await db
        .transaction()
        .execute(async (trx) => {
          await trx.insertInto("items").values({ id: `b-${outcome}`, name: outcome, rank: 1, at: toStoredTime(new Date(0)) }).execute();
          read = after("");
          if (outcome === "rollback") throw new Error("rolled back");
        })
        .catch(() => undefined);
      return ids(await read!);
    };
    // Read at once, it would see the transaction's rows before they are committed or rolled back.
    expect(await readDuring("rollback")).toEqual(["a"]);
    expect(await readDuring("commit")).toEqual(["a", "b-commit"]);
    expect(ids(await after(""))).toEqual(["a", "b-commit"]);
  });

  if (target.name === "sqlite") it("SQLite runs with WAL, synchronous FULL, a busy timeout and foreign keys", async () => {
    const pragma = async (name: string) => {
      const { rows } = await sql<Record<string, unknown>>`select * from ${sql.raw(`pragma_${name}`)}`.execute(database.db);
      return Object.values(rows[0] ?? {})[0];
    };
    expect(await pragma("journal_mode")).toBe("wal");
    expect(await pragma("synchronous")).toBe(2);
    expect(await pragma("busy_timeout")).toBeGreaterThan(0);
    expect(await pragma("foreign_keys")).toBe(1);
  });

  if (target.name === "postgres") it("PostgreSQL keeps the tables in the URL's schema and returns bigints as numbers", async () => {
    const schema = new URL(location.url ?? "").searchParams.get("schema");
    const { rows } = await sql<{ schema: string; count: number }>`
      select table_schema as schema, count(*) as count from information_schema.tables
      where table_name = 'items' and table_schema = current_schema() group by table_schema`.execute(database.db);
    expect(rows).toEqual([{ schema, count: 1 }]);
  });

  if (target.name === "postgres") it("replicas opening one PostgreSQL database together migrate it once", async () => {
    const replicaLocation = target.fresh();
    const replicaLog: string[] = [];
    const replicas = await Promise.all(
      Array.from({ length: 4 }, () =>
        openDatabase<Schema>({ ...replicaLocation, migrations: loggingMigrations(replicaLog) }),
      ),
    );
    await Promise.all(replicas.map((replica) => replica.close()));
    expect(replicaLog).toEqual(["0001", "0002"]);
  });
});

describe("an SQLite database's files", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const modeOf = (path: string) => statSync(path).mode & 0o777;
  const migrations = loggingMigrations([]);

  it("are readable by their owner only: the directory 0700, the database and its -wal and -shm 0600", async () => {
    const root = mkdtempSync(join(tmpdir(), "launchpad-modes-"));
    dirs.push(root);
    const path = join(root, "data", "items.db");
    const database = await openDatabase<Schema>({ sqlitePath: path, migrations });
    try {
      await database.db.insertInto("items").values({ id: "1", name: "a", rank: 1, at: toStoredTime(new Date()) }).execute();
      expect(modeOf(join(root, "data"))).toBe(0o700);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) expect([file, modeOf(file)]).toEqual([file, 0o600]);
    } finally {
      await database.close();
    }
  });

  it("are tightened when an older version left them open to others", async () => {
    const dir = mkdtempSync(join(tmpdir(), "launchpad-modes-"));
    dirs.push(dir);
    const path = join(dir, "items.db");
    await (await openDatabase<Schema>({ sqlitePath: path, migrations })).close();
    chmodSync(dir, 0o755);
    chmodSync(path, 0o644);
    const database = await openDatabase<Schema>({ sqlitePath: path, migrations });
    try {
      expect(modeOf(dir)).toBe(0o700);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) expect([file, modeOf(file)]).toEqual([file, 0o600]);
    } finally {
      await database.close();
    }
  });
});
