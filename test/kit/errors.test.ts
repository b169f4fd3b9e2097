import { describe, expect, it } from "vitest";
import { DomainError, invalidArgument } from "../../services/kit/errors.js";

describe("DomainError", () => {
  it("carries its kind, reason, message and optional details", () => {
    const cause = new Error("socket hang up");
    const error = new DomainError("unavailable", "DATABASE_UNAVAILABLE", "try again", {
      metadata: { database: "users" },
      retryAfterSeconds: 5,
      cause,
    });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: "DomainError",
      kind: "unavailable",
      reason: "DATABASE_UNAVAILABLE",
      message: "try again",
      metadata: { database: "users" },
      retryAfterSeconds: 5,
      violations: [],
    });
    expect(error.cause).toBe(cause);
  });

  it("defaults to no violations, no metadata and no retry delay", () => {
    expect(new DomainError("not-found", "USER_NOT_FOUND", "no such user")).toMatchObject({
      violations: [],
      metadata: {},
      retryAfterSeconds: undefined,
    });
  });
});

describe("invalidArgument", () => {
  it("builds an INVALID_ARGUMENT error whose message lists every violation", () => {
    const violations = [
      { field: "user.email", description: "is required", reason: "FIELD_REQUIRED" },
      { field: "page_size", description: "must not be negative" },
    ];
    const error = invalidArgument("FIELD_REQUIRED", violations);
    expect(error).toMatchObject({ kind: "invalid-argument", reason: "FIELD_REQUIRED", violations });
    expect(error.message).toBe("user.email: is required; page_size: must not be negative");
  });
});
