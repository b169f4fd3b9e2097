import { sql, type RawBuilder, type SqlBool } from "kysely";

/**
 * `column` contains `text`, ignoring case: the ":" filter operator. LIKE's
 * wildcards in `text` match themselves. Case is folded by the database's
 * lower(), which both dialects apply to ASCII letters (SQLite to no others).
 */
export function containsIgnoringCase(column: string, text: string): RawBuilder<SqlBool> {
  const pattern = `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}
