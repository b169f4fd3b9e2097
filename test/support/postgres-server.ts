import pg from "pg";

const explicitUrl = process.env.LAUNCHPAD_TEST_POSTGRES_URL || undefined;
const postgresUrl = explicitUrl ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * The PostgreSQL at LAUNCHPAD_TEST_POSTGRES_URL (default
 * postgres://postgres@127.0.0.1:5432/test), for tests that need a server
 * rather than a store. Same rules as storeTargets(): unreachable is
 * undefined with a warning on a developer machine, and throws (failing the
 * suite) when CI is set or the URL was given explicitly.
 *
 *     const url = await reachablePostgresUrl();
 *     describe.skipIf(url === undefined)("… on PostgreSQL", () => { … });
 */
export async function reachablePostgresUrl(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 });
  let unreachable: string | undefined;
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    // A refused connection is an AggregateError with an empty message and a code.
    unreachable = error instanceof Error ? error.message || String((error as NodeJS.ErrnoException).code) : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
  if (unreachable === undefined) return postgresUrl;
  const why = `PostgreSQL at ${postgresUrl} is unreachable (${unreachable})`;
  if (process.env.CI || explicitUrl !== undefined) throw new Error(why);
  console.warn(`${why}: skipping. Set CI or LAUNCHPAD_TEST_POSTGRES_URL to make this fail.`);
  return undefined;
}
