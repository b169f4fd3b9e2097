import { PostgresDialect } from "kysely";
import pg from "pg";

const int8Oid = 20;
const identifier = /^[a-z_][a-z0-9_]*$/;

/** A Kysely dialect over a pg pool, and the schema its connections work in. */
export interface PostgresConnection {
  dialect: PostgresDialect;
  /** The `schema` query parameter of the URL, if it had one. */
  schema: string | undefined;
}

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(?:ql)?:\/\//.test(url);
}

/**
 * A pooled PostgreSQL dialect for `url`. A `schema` query parameter (lower-case
 * letters, digits and underscores) becomes every connection's search_path, set
 * as a startup option so no query can run before it; pg never sees the parameter.
 * The schema itself is created by the migrator (see openDatabase).
 */
export function createPostgresDialect(url: string): PostgresConnection {
  const { connectionString, schema } = parsePostgresUrl(url);
  const pool = new pg.Pool({
    connectionString,
    options: schema === undefined ? undefined : `-c search_path=${schema}`,
    types: int8AsNumber(),
  });
  // pg emits errors of idle connections (a server restart, say) on the pool and
  // crashes the process when nobody listens. The pool drops that connection
  // and opens another when needed; queries in flight report their own errors.
  pool.on("error", () => undefined);
  return { dialect: new PostgresDialect({ pool }), schema };
}

/** Splits Launchpad's `schema` query parameter off a PostgreSQL URL; pg never sees it. */
export function parsePostgresUrl(url: string): { connectionString: string; schema: string | undefined } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema") ?? undefined;
  parsed.searchParams.delete("schema");
  if (schema !== undefined && !identifier.test(schema)) {
    throw new Error(`schema "${schema}" must be lower-case letters, digits and underscores`);
  }
  return { connectionString: parsed.toString(), schema };
}

// count(*) and other bigint results arrive as strings by default; numbers are
// what both dialects' callers expect. Values beyond 2^53 stay strings rather
// than silently losing precision.
function int8AsNumber(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  types.setTypeParser(int8Oid, (text: string) => {
    const value = Number(text);
    return Number.isSafeInteger(value) ? value : text;
  });
  return types;
}
