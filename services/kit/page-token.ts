import { createHash } from "node:crypto";
import { DomainError } from "./errors.js";

/**
 * Opaque page tokens (AIP-158): the keyset position of the last row served,
 * bound to a fingerprint of the query so a token cannot be replayed against
 * a different filter or order.
 */
export interface PageTokenCodec<Position> {
  encode(position: Position, query: unknown): string;
  /** The position in a token, or undefined for an empty token; INVALID_ARGUMENT for a bad or foreign one. */
  decode(token: string, query: unknown): Position | undefined;
}

/** A page-token codec; `isPosition` checks a decoded position's shape. */
export function pageTokens<Position>(isPosition: (value: unknown) => value is Position): PageTokenCodec<Position> {
  return {
    encode(position, query) {
      return Buffer.from(JSON.stringify({ p: position, q: fingerprint(query) })).toString("base64url");
    },
    decode(token, query) {
      if (token === "") return undefined;
      let parsed: { p?: unknown; q?: unknown };
      try {
        parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
      } catch {
        throw invalidToken("page_token is not a token this API issued");
      }
      if (typeof parsed !== "object" || parsed === null) throw invalidToken("page_token is not a token this API issued");
      if (parsed.q !== fingerprint(query)) {
        throw invalidToken("page_token was issued for a different query; send the same filter and order_by, or start over");
      }
      if (!isPosition(parsed.p)) throw invalidToken("page_token is not a token this API issued");
      return parsed.p;
    },
  };
}

function fingerprint(query: unknown): string {
  return createHash("sha256").update(JSON.stringify(query)).digest("base64url").slice(0, 16);
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

/** Page tokens carrying a KeysetPosition. */
export const keysetPageTokens = pageTokens(
  (p): p is KeysetPosition =>
    typeof p === "object" && p !== null && typeof (p as KeysetPosition).value === "string" && typeof (p as KeysetPosition).id === "string",
);

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
