import { postgresUnreachable } from "./postgres-probe.js";

const explicitUrl = process.env.LAUNCHPAD_TEST_POSTGRES_URL || undefined;
const postgresUrl = explicitUrl ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * The PostgreSQL at LAUNCHPAD_TEST_POSTGRES_URL (default
 * postgres://postgres@127.0.0.1:5432/test), for tests that need a server
 * (and for storeTargets()): unreachable is undefined with a warning on a
 * developer machine, and throws (failing the suite) when CI is set or the
 * URL was given explicitly. `skipping` says in the warning what is skipped.
 *
 *     const url = await reachablePostgresUrl();
 *     describe.skipIf(url === undefined)("… on PostgreSQL", () => { … });
 */
export async function reachablePostgresUrl(skipping = "skipping"): Promise<string | undefined> {
  const unreachable = await postgresUnreachable(postgresUrl);
  if (unreachable === undefined) return postgresUrl;
  const why = `PostgreSQL at ${postgresUrl} is unreachable (${unreachable})`;
  if (process.env.CI || explicitUrl !== undefined) throw new Error(why);
  console.warn(`${why}: ${skipping}. Set CI or LAUNCHPAD_TEST_POSTGRES_URL to make this fail.`);
  return undefined;
}
