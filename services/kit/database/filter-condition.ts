import { sql, type RawBuilder, type SqlBool } from "kysely";
import type { FilterOperator, FilterTerm } from "../filter.js";
import { containsIgnoringCase } from "./contains.js";
import { toStoredTime } from "./times.js";

const comparisons: Readonly<Record<Exclude<FilterOperator, ":">, string>> = {
  "=": "=",
  "!=": "<>",
  "<": "<",
  "<=": "<=",
  ">": ">",
  ">=": ">=",
};

/**
 * The WHERE condition of parsed filter terms (all must hold), given which
 * column each filter field reads. Times compare as stored (see times.ts);
 * ":" is a case-insensitive "contains". No terms is a condition that holds.
 * parseFilter bounds the terms (filterLimits: 32 comparisons, 4 KiB in all),
 * so the condition stays far below SQLite's expression depth (1,000) and
 * LIKE pattern length (50,000 bytes), and any PostgreSQL limit.
 */
export function filterCondition(
  terms: readonly FilterTerm[],
  columns: Readonly<Record<string, string>>,
): RawBuilder<SqlBool> {
  if (terms.length === 0) return sql<SqlBool>`1 = 1`;
  return sql<SqlBool>`(${sql.join(terms.map((term) => termCondition(term, columns)), sql` and `)})`;
}

function termCondition(term: FilterTerm, columns: Readonly<Record<string, string>>): RawBuilder<SqlBool> {
  const column = columns[term.field];
  // parseFilter only lets through fields the service declared; reaching this is a bug.
  if (column === undefined) throw new Error(`filter field "${term.field}" has no column`);
  const value = term.value instanceof Date ? toStoredTime(term.value) : term.value;
  if (term.operator === ":") return containsIgnoringCase(column, String(value));
  return sql<SqlBool>`${sql.ref(column)} ${sql.raw(comparisons[term.operator])} ${value}`;
}
