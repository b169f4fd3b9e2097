import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Status } from "nice-grpc";
import { expect } from "vitest";
import type { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { accessPolicy } from "../../services/kit/auth/access-policy.js";
import { roleGrants } from "../../services/kit/auth/permissions.js";
import { outcomeOf } from "./call-by-descriptor.js";

// The rules of the role × method access tables the service suites generate
// from the descriptors: what a caller may do, and what a refusal looks like.

/** What a call in an access table must come to. */
export type Expected = "allowed" | "denied" | "refused without credentials";

/**
 * What a role (undefined: nobody signed in) may do with a method, from its
 * declared access policy alone. Acting on their `"own"` resource, a policy's
 * self_field lets the call through where the permission alone would not.
 */
export function expectedFor(method: DescMethod, role: Role | undefined, acting: "other" | "own" = "other"): Expected {
  const policy = accessPolicy(method);
  switch (policy?.rule.case) {
    case "public":
      return "allowed";
    case "authenticated":
      return role === undefined ? "refused without credentials" : "allowed";
    case "permission":
      if (role === undefined) return "refused without credentials";
      if (roleGrants(role, policy.rule.value)) return "allowed";
      return acting === "own" && policy.selfField !== "" ? "allowed" : "denied";
    default:
      throw new Error(`${method.name} declares no access policy`);
  }
}

/** A caller of an access table: nobody (no role) or a signed-in user of one role. */
export interface TableCaller {
  label: string;
  role: Role | undefined;
}

/** One cell of an access table: a caller calling a method, and what that must come to. */
export interface AccessCell<Caller extends TableCaller> {
  title: string;
  caller: Caller;
  method: DescMethod;
  expected: Expected;
}

/** The cells of every caller × every method, titled "ROLE_VIEWER → GetUser is allowed". */
export function accessCells<Caller extends TableCaller>(callers: readonly Caller[], methods: readonly DescMethod[]): AccessCell<Caller>[] {
  return callers.flatMap((caller) =>
    methods.map((method) => {
      const expected = expectedFor(method, caller.role);
      return { title: `${caller.label} → ${method.name} is ${expected}`, caller, method, expected };
    }),
  );
}

/** Whether a method only reads, so table cells may share one target. */
export const onlyReads = (method: DescMethod): boolean => method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;

/**
 * Makes a call and asserts it came to `expected`: allowed calls may fail for
 * other reasons but never PERMISSION_DENIED or UNAUTHENTICATED; refused ones
 * carry the stable reason and leave `snapshot()` as it was before the call.
 */
export async function expectAccess(expected: Expected, call: () => Promise<unknown>, snapshot: () => Promise<unknown>): Promise<void> {
  const before = expected === "allowed" ? undefined : await snapshot();
  const outcome = await outcomeOf(call());
  switch (expected) {
    case "allowed":
      if (outcome !== "ok") expect([Status.PERMISSION_DENIED, Status.UNAUTHENTICATED], `${outcome.reason}: ${outcome.message}`).not.toContain(outcome.code);
      break;
    case "denied":
      expect(outcome === "ok" ? "ok" : { code: outcome.code, reason: outcome.reason }).toEqual({
        code: Status.PERMISSION_DENIED,
        reason: "PERMISSION_DENIED",
      });
      break;
    case "refused without credentials":
      expect(outcome === "ok" ? "ok" : { code: outcome.code, reason: outcome.reason }).toEqual({
        code: Status.UNAUTHENTICATED,
        reason: "CREDENTIALS_REQUIRED",
      });
      break;
  }
  if (before) expect(await snapshot()).toEqual(before);
}
