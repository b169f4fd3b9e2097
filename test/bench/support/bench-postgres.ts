import pg from "pg";

/**
 * The PostgreSQL benchmarks use: LAUNCHPAD_BENCH_POSTGRES_URL, else
 * LAUNCHPAD_TEST_POSTGRES_URL, else the local test database.
 */
export const benchPostgresUrl =
  process.env.LAUNCHPAD_BENCH_POSTGRES_URL || process.env.LAUNCHPAD_TEST_POSTGRES_URL || "postgres://postgres@127.0.0.1:5432/test";

/** `url` with Launchpad's `schema` parameter set: the service creates and migrates the schema at start. */
export function withSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("schema", schema);
  return parsed.toString();
}

/** A connection for bookkeeping: finding a service's backends and dropping its schema afterwards. */
export interface PostgresAdmin {
  /** Process ids of the server backends whose application_name is `name` (set with PGAPPNAME). */
  backendPids(name: string): Promise<number[]>;
  dropSchema(schema: string): Promise<void>;
  close(): Promise<void>;
}

/** Connects for bookkeeping. */
export async function connectPostgresAdmin(url: string): Promise<PostgresAdmin> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    async backendPids(name) {
      const { rows } = await client.query<{ pid: number }>("select pid from pg_stat_activity where application_name = $1", [name]);
      return rows.map((row) => row.pid);
    },
    async dropSchema(schema) {
      await client.query(`drop schema if exists ${client.escapeIdentifier(schema)} cascade`);
    },
    close: () => client.end(),
  };
}
