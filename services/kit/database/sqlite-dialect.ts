import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { SqliteDialect, type SqliteDatabase } from "kysely";

/**
 * A Kysely dialect over one better-sqlite3 connection to the file at `path`,
 * creating its directory. WAL lets readers run beside the writer; with
 * synchronous = FULL every commit is on disk before it is acknowledged, so
 * killing the process loses no acknowledged write.
 */
export function createSqliteDialect(path: string): SqliteDialect {
  mkdirSync(dirname(path), { recursive: true });
  const database = new SQLite(path);
  database.pragma("journal_mode = WAL");
  database.pragma("synchronous = FULL");
  // Another process holding the write lock is waited for, not reported as SQLITE_BUSY.
  database.pragma("busy_timeout = 5000");
  database.pragma("foreign_keys = ON");
  return new SqliteDialect({ database: withStatementCache(database) });
}

/**
 * Kysely prepares every query anew; preparing is most of a point read's cost
 * in better-sqlite3. Statements are cached by SQL text (queries are
 * parameterised, so the set is small), and a fresh one is prepared while a
 * cached one is still being iterated.
 */
function withStatementCache(database: SQLite.Database, limit = 500): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(sql: string) {
      const cached = statements.get(sql);
      if (cached && !cached.busy) return cached;
      const statement = database.prepare(sql);
      if (!cached) {
        if (statements.size >= limit) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}
