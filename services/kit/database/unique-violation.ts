const uniqueViolationCodes = new Set([
  "23505", // PostgreSQL unique_violation
  "SQLITE_CONSTRAINT_UNIQUE",
  "SQLITE_CONSTRAINT_PRIMARYKEY",
]);

/**
 * True when a query failed because a row would duplicate a unique key, on
 * either dialect. Stores turn this into a DomainError with their own words;
 * the driver's message, which quotes SQL, never reaches a client.
 */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && uniqueViolationCodes.has(String(error.code));
}
