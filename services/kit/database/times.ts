const storedLength = "2026-01-31T12:00:00.000Z".length;

/**
 * Times are stored as ISO-8601 UTC text with milliseconds, always 24
 * characters, so text order is time order on SQLite and PostgreSQL alike.
 * Throws RangeError for years outside 0000–9999, which would break that.
 */
export function toStoredTime(time: Date): string;
export function toStoredTime(time: Date | null): string | null;
export function toStoredTime(time: Date | null): string | null {
  if (time === null) return null;
  const text = time.toISOString();
  if (text.length !== storedLength) throw new RangeError(`${text} cannot be stored: years must be 0000–9999`);
  return text;
}

/** Reads a time written by toStoredTime. */
export function fromStoredTime(text: string): Date;
export function fromStoredTime(text: string | null): Date | null;
export function fromStoredTime(text: string | null): Date | null {
  return text === null ? null : new Date(text);
}
