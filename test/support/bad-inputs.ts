import { createHash } from "node:crypto";
import { Status } from "nice-grpc";
import { expect } from "vitest";
import { failureOf, type CallFailure } from "./grpc-errors.js";
import type { rawUnaryCall } from "./raw-grpc.js";

/** One bad request of a bad-input table, and how it must be refused. */
export interface BadInput {
  title: string;
  call: () => Promise<unknown>;
  code: Status;
  /** The ErrorInfo reason; omitted when the transport answers before any Launchpad code runs. */
  reason?: string;
  /** The BadRequest field paths, each once. */
  fields?: string[];
}

/** A bad request, titled with what it does and the refusal it must get ("… → INVALID_ARGUMENT FIELD_REQUIRED [user]"). */
export function refused(what: string, call: () => Promise<unknown>, code: Status, reason?: string, fields?: string[]): BadInput {
  const detail = [Status[code], reason, fields && `[${fields.join(", ")}]`].filter(Boolean).join(" ");
  return { title: `${what} → ${detail}`, call, code, ...(reason === undefined ? {} : { reason }), ...(fields === undefined ? {} : { fields }) };
}

/** Turns a raw call's outcome into a rejected promise, as the typed client would. */
export async function raw(call: ReturnType<typeof rawUnaryCall>): Promise<unknown> {
  const outcome = await call;
  if ("response" in outcome) return outcome;
  throw Object.assign(new Error(outcome.message), { failure: outcome });
}

/** What a failed call carried, whether it went through the typed client or a raw one. */
async function failureOfAny(call: Promise<unknown>): Promise<CallFailure> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Error && "failure" in error) return error.failure as CallFailure;
    return failureOf(Promise.reject(error));
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** A failure message for people: no stack frames, no SQL, no runtime error names. */
function expectNothingInternal(message: string): void {
  expect(message).not.toMatch(/\n\s*at\s|\bat\s+\S+\s+\(|node_modules|\.[jt]s:\d+/);
  expect(message).not.toMatch(/\bselect\b[\s\S]*\bfrom\b|\binsert\s+into\b|\bupdate\s+"?\w+"?\s+set\b|\bdelete\s+from\b|sqlite|kysely|constraint failed/i);
  expect(message).not.toMatch(/TypeError|ReferenceError|Cannot read properties|undefined/);
}

/**
 * Makes a bad request and asserts it is refused as `bad` says (code, reason,
 * field paths), with a message that gives nothing internal away, and that
 * `storedState()` reads the same after it as before.
 */
export async function expectRefusedChangingNothing(bad: BadInput, storedState: () => Promise<unknown>): Promise<void> {
  const before = await storedState();
  const failure = await failureOfAny(bad.call());
  expect({ code: Status[failure.code], reason: failure.reason }).toEqual({
    code: Status[bad.code],
    reason: "reason" in bad ? bad.reason : failure.reason,
  });
  if (bad.fields) expect([...new Set(failure.fields)]).toEqual(bad.fields);
  expectNothingInternal(failure.message);
  expect(await storedState()).toEqual(before);
}

/**
 * A page token as an attacker forges one: base64url JSON of a position and
 * the query fingerprint the unsigned tokens once carried, which anyone could
 * compute. No server key seals it, so it must be refused.
 */
export function forgedPageToken(position: unknown, query: unknown): string {
  const fingerprint = createHash("sha256").update(JSON.stringify(query)).digest("base64url").slice(0, 16);
  return Buffer.from(JSON.stringify({ p: position, q: fingerprint })).toString("base64url");
}

/** A time no store can hold: the year 99999. */
export const year99999 = "+099999-01-01T00:00:00.000Z";

/** `count` copies of a filter comparison joined with AND. */
export function andTerms(term: string, count: number): string {
  return Array.from({ length: count }, () => term).join(" AND ");
}
