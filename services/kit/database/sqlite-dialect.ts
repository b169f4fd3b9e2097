import { existsSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { SqliteDialect, type CompiledQuery, type SqliteDatabase } from "kysely";
import { ensurePrivateDirectory, ensurePrivateFile, tightenPrivateFile } from "../private-files.js";

/**
 * A Kysely dialect over one better-sqlite3 connection to the file at `path`.
 * The directory is made 0700 and the file 0600 before SQLite opens it
 * (SQLite gives its -wal and -shm files the main file's mode), tightening
 * existing ones. WAL lets readers run beside the writer; with
 * synchronous = FULL every commit is on disk before it is acknowledged, so
 * killing the process loses no acknowledged write.
 */
export function createSqliteDialect(path: string): SqliteConnection {
  ensurePrivateDirectory(dirname(path));
  ensurePrivateFile(path);
  const database = new SQLite(path);
  database.pragma("journal_mode = WAL");
  database.pragma("synchronous = FULL");
  // Deleted and overwritten rows (secrets among them) are zeroed, not left in free pages.
  database.pragma("secure_delete = ON");
  // Another process holding the write lock is waited for, not reported as SQLITE_BUSY.
  database.pragma("busy_timeout = 5000");
  database.pragma("foreign_keys = ON");
  // Files an older version left open to others.
  for (const file of [`${path}-wal`, `${path}-shm`]) if (existsSync(file)) tightenPrivateFile(file);
  const statements = withStatementCache(database);
  return {
    dialect: new SqliteDialect({ database: statements }),
    // Outside a transaction a statement sees committed rows only, whoever
    // holds Kysely's turn on the connection; inside one it could see the
    // transaction's uncommitted writes, so the read waits its turn instead.
    readNow: (query) => (database.inTransaction ? undefined : statements.prepare(query.sql).all(query.parameters)),
  };
}

/** The dialect of one SQLite file, and a way to run a read without queueing behind Kysely. */
export interface SqliteConnection {
  dialect: SqliteDialect;
  /**
   * The rows of a read, run at once, when no transaction is open on the
   * connection; undefined when one is (then run it through Kysely). Saves a
   * point read the promises and the connection lock of Kysely's executor.
   */
  readNow(query: CompiledQuery): unknown[] | undefined;
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
