import pg from "pg";

/** Undefined when PostgreSQL answers a `select 1` at `url` within 3 s, else why not. */
export async function postgresUnreachable(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return undefined;
  } catch (error) {
    // A refused connection is an AggregateError with an empty message and a code.
    return error instanceof Error ? error.message || String((error as NodeJS.ErrnoException).code) : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}
