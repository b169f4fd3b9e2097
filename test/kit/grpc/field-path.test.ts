import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Theme } from "../../../gen/launchpad/user/v1/user_pb.js";
import { UpdateUserRequestSchema } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { readFieldPath } from "../../../services/kit/grpc/field-path.js";

const request = create(UpdateUserRequestSchema, {
  user: { name: "users/a", displayName: "Ada", preferences: { theme: Theme.DARK, timeZone: "Europe/Berlin" } },
  updateMask: { paths: ["display_name"] },
});

describe("readFieldPath", () => {
  it("reads a dotted path of proto field names", () => {
    expect(readFieldPath(UpdateUserRequestSchema, request, "user.name")).toBe("users/a");
    expect(readFieldPath(UpdateUserRequestSchema, request, "user.display_name")).toBe("Ada");
    expect(readFieldPath(UpdateUserRequestSchema, request, "user.preferences.time_zone")).toBe("Europe/Berlin");
  });

  it("is undefined when a message on the way is unset", () => {
    expect(readFieldPath(UpdateUserRequestSchema, create(UpdateUserRequestSchema), "user.name")).toBeUndefined();
  });

  it("is undefined for an unknown name, including JSON and local names", () => {
    expect(readFieldPath(UpdateUserRequestSchema, request, "user.nickname")).toBeUndefined();
    expect(readFieldPath(UpdateUserRequestSchema, request, "user.displayName")).toBeUndefined();
  });

  it("does not descend into scalars", () => {
    expect(readFieldPath(UpdateUserRequestSchema, request, "user.name.length")).toBeUndefined();
  });
});
