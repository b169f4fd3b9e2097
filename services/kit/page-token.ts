import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { DomainError } from "./errors.js";

/** The longest page token a request may carry (validation enforces it); every token this API issues is shorter. */
export const maxPageTokenLength = 2048;

const macBytes = 32;
const base64url = /^[A-Za-z0-9_-]+$/;

/**
 * Opaque page tokens (AIP-158): the keyset position of the last row served,
 * bound to a fingerprint of the query so a token cannot be replayed against
 * a different filter, order or parent, and authenticated with an HMAC under
 * a server key so a client can neither forge nor edit one.
 */
export interface PageTokenCodec<Position> {
  encode(position: Position, query: unknown): string;
  /** The position in a token, or undefined for an empty token; INVALID_ARGUMENT INVALID_PAGE_TOKEN for any other. */
  decode(token: string, query: unknown): Position | undefined;
}

/**
 * A page-token codec for one list method (`purpose`, e.g. "ListUsers") under
 * `key`. The key comes from the server's secret, so tokens survive restarts
 * and work on every replica; `isPosition` checks a decoded position is one
 * the store can use.
 */
export function pageTokens<Position>(
  key: Buffer,
  purpose: string,
  isPosition: (value: unknown) => value is Position,
): PageTokenCodec<Position> {
  const mac = (payload: Buffer) => createHmac("sha256", key).update(payload).digest();
  const fingerprint = (query: unknown) =>
    createHash("sha256").update(purpose).update("\n").update(JSON.stringify(query)).digest("base64url").slice(0, 16);
  return {
    encode(position, query) {
      const payload = Buffer.from(JSON.stringify({ p: position, q: fingerprint(query) }));
      return Buffer.concat([mac(payload), payload]).toString("base64url");
    },
    decode(token, query) {
      if (token === "") return undefined;
      if (!base64url.test(token)) throw invalidToken(notIssued);
      const bytes = Buffer.from(token, "base64url");
      const payload = bytes.subarray(macBytes);
      if (payload.length === 0 || !timingSafeEqual(bytes.subarray(0, macBytes), mac(payload))) throw invalidToken(notIssued);
      const parsed = parse(payload);
      if (parsed.q !== fingerprint(query)) {
        throw invalidToken("page_token was issued for a different query; send the same filter, order_by and parent, or start over");
      }
      if (!isPosition(parsed.p)) throw invalidToken(notIssued);
      return parsed.p;
    },
  };
}

const notIssued = "page_token is not a token this API issued";

/** An authenticated payload is ours, so this fails only if the key leaked or a bug issued it. */
function parse(payload: Buffer): { p?: unknown; q?: unknown } {
  try {
    const parsed: unknown = JSON.parse(payload.toString("utf8"));
    if (typeof parsed === "object" && parsed !== null) return parsed;
  } catch {
    // Falls through to the refusal below.
  }
  throw invalidToken(notIssued);
}

function invalidToken(description: string): DomainError {
  return new DomainError("invalid-argument", "INVALID_PAGE_TOKEN", `page_token: ${description}`, {
    violations: [{ field: "page_token", description, reason: "INVALID_PAGE_TOKEN" }],
  });
}

/** A keyset position: the sort value and id of the last row served. */
export interface KeysetPosition {
  value: string;
  id: string;
}

const storedTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Whether `text` is a time as the stores keep it (ISO-8601 UTC, years 0000–9999), so a query can use it. */
export function isStoredTime(text: unknown): text is string {
  if (typeof text !== "string" || !storedTime.test(text)) return false;
  const time = new Date(text);
  return !Number.isNaN(time.getTime()) && time.toISOString() === text;
}

/** A keyset position sorted by text (an email, a display name). */
export function isTextKeyset(p: unknown): p is KeysetPosition {
  return typeof p === "object" && p !== null && typeof (p as KeysetPosition).value === "string" && typeof (p as KeysetPosition).id === "string";
}

/** A keyset position sorted by a time: its value must be a storable time. */
export function isTimeKeyset(p: unknown): p is KeysetPosition {
  return isTextKeyset(p) && isStoredTime(p.value);
}

/**
 * Parses an AIP-132 order_by of one field, optionally followed by " desc";
 * validation has already checked the field. Empty means newest first.
 */
export function parseOrderBy<Field extends string>(orderBy: string, defaultField: Field): { field: Field; descending: boolean } {
  if (orderBy.trim() === "") return { field: defaultField, descending: true };
  const [field, direction] = orderBy.trim().split(/\s+/);
  return { field: field as Field, descending: direction === "desc" };
}

/** The page size to use: `fallback` for 0, at most `max`. Negative sizes are refused by validation. */
export function pageSize(requested: number, fallback = 50, max = 1000): number {
  return requested === 0 ? fallback : Math.min(requested, max);
}
