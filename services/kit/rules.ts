import type { FieldViolation } from "./errors.js";

/** Building blocks of per-method request rules (see middleware/validation.ts). */

/** One field violation. */
export const violation = (field: string, reason: string, description: string): FieldViolation => ({ field, reason, description });

/** No violation when `ok`, else one. */
export const check = (ok: boolean, field: string, reason: string, description: string): FieldViolation[] =>
  ok ? [] : [violation(field, reason, description)];

/** A resource name of the given form; empty is left to REQUIRED. */
export function nameRule(field: string, value: string, isName: (v: string) => boolean, form: string): FieldViolation[] {
  return value === "" ? [] : check(isName(value), field, "INVALID_NAME", `must be a resource name of the form ${form}`);
}

/** page_size may be 0 (the default) but never negative. */
export function pageSizeRule(pageSize: number): FieldViolation[] {
  return check(pageSize >= 0, "page_size", "INVALID_PAGE_SIZE", "must not be negative");
}

/** order_by: one of `fields`, optionally followed by " desc". */
export function orderByRule(orderBy: string, fields: readonly string[]): FieldViolation[] {
  return check(
    orderBy === "" || new RegExp(`^(${fields.join("|")})( desc)?$`).test(orderBy.trim()),
    "order_by",
    "INVALID_ORDER_BY",
    `must be one of ${fields.join(", ")}, optionally followed by " desc"`,
  );
}

/** Environment names: lower-case letters, digits and dashes, at most 63. */
export const environmentPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
