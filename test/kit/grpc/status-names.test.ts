import { Status } from "nice-grpc-common";
import { describe, expect, it } from "vitest";
import { goStatusName } from "../../../services/kit/grpc/status-names.js";

describe("goStatusName", () => {
  it.each([
    [Status.OK, "OK"],
    [Status.CANCELLED, "Canceled"],
    [Status.UNKNOWN, "Unknown"],
    [Status.INVALID_ARGUMENT, "InvalidArgument"],
    [Status.DEADLINE_EXCEEDED, "DeadlineExceeded"],
    [Status.NOT_FOUND, "NotFound"],
    [Status.ALREADY_EXISTS, "AlreadyExists"],
    [Status.PERMISSION_DENIED, "PermissionDenied"],
    [Status.RESOURCE_EXHAUSTED, "ResourceExhausted"],
    [Status.FAILED_PRECONDITION, "FailedPrecondition"],
    [Status.ABORTED, "Aborted"],
    [Status.OUT_OF_RANGE, "OutOfRange"],
    [Status.UNIMPLEMENTED, "Unimplemented"],
    [Status.INTERNAL, "Internal"],
    [Status.UNAVAILABLE, "Unavailable"],
    [Status.DATA_LOSS, "DataLoss"],
    [Status.UNAUTHENTICATED, "Unauthenticated"],
  ])("spells code %i as grpc-go does: %s", (code, name) => {
    expect(goStatusName(code)).toBe(name);
  });

  it("spells a code it does not know as Unknown", () => {
    expect(goStatusName(99 as Status)).toBe("Unknown");
  });
});
