import { AbortError } from "abort-controller-x";
import { ServerError, Status } from "nice-grpc-common";
import { describe, expect, it } from "vitest";
import { statusOf } from "../../../services/kit/grpc/call-status.js";

describe("statusOf", () => {
  it("keeps the code of a ServerError", () => {
    expect(statusOf(new ServerError(Status.NOT_FOUND, "gone"))).toBe(Status.NOT_FOUND);
  });

  it("reads an abort as CANCELLED", () => {
    expect(statusOf(new AbortError())).toBe(Status.CANCELLED);
  });

  it("reads anything else as UNKNOWN, as nice-grpc reports it", () => {
    expect(statusOf(new Error("boom"))).toBe(Status.UNKNOWN);
    expect(statusOf("a string")).toBe(Status.UNKNOWN);
  });
});
