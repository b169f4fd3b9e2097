import { create, createFileRegistry, setExtension, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, MethodOptionsSchema, type MethodOptions } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { access, AccessPolicySchema, type AccessPolicy } from "../../../gen/launchpad/auth/v1/policy_pb.js";
import { DeploymentService } from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { accessPolicy, assertEveryMethodHasPolicy, ownsResource } from "../../../services/kit/auth/access-policy.js";

function withPolicy(policy: Partial<Pick<AccessPolicy, "rule" | "selfField">>): MethodOptions {
  const options = create(MethodOptionsSchema);
  setExtension(options, access, create(AccessPolicySchema, policy));
  return options;
}

/**
 * A service built from a descriptor at run time, test.v1.Bare:
 * Declared (authenticated), Undeclared (no option at all) and RuleLess
 * (an access option with only a self_field).
 */
function bareService(): DescService {
  const ping = ".test.v1.Ping";
  const file = create(FileDescriptorProtoSchema, {
    name: "test/v1/bare.proto",
    package: "test.v1",
    syntax: "proto3",
    messageType: [{ name: "Ping" }],
    service: [
      {
        name: "Bare",
        method: [
          { name: "Declared", inputType: ping, outputType: ping, options: withPolicy({ rule: { case: "authenticated", value: true } }) },
          { name: "Undeclared", inputType: ping, outputType: ping },
          { name: "RuleLess", inputType: ping, outputType: ping, options: withPolicy({ selfField: "name" }) },
        ],
      },
    ],
  });
  return createFileRegistry(file, () => undefined).getService("test.v1.Bare")!;
}

const method = (service: DescService, name: string): DescMethod => service.methods.find((m) => m.name === name)!;

describe("accessPolicy", () => {
  it("reads the launchpad.auth.v1.access option of a method", () => {
    expect(accessPolicy(method(UserService, "GetUser"))).toMatchObject({
      rule: { case: "permission", value: "users.get" },
      selfField: "name",
    });
    expect(accessPolicy(method(UserService, "Login"))?.rule).toEqual({ case: "public", value: true });
    expect(accessPolicy(method(UserService, "GetCurrentUser"))?.rule).toEqual({ case: "authenticated", value: true });
  });

  it("is undefined for a method without the option", () => {
    expect(accessPolicy(method(bareService(), "Undeclared"))).toBeUndefined();
  });
});

describe("assertEveryMethodHasPolicy", () => {
  it("passes for UserService and DeploymentService", () => {
    expect(() => assertEveryMethodHasPolicy([...UserService.methods, ...DeploymentService.methods])).not.toThrow();
  });

  it("throws naming every method without a policy, including one whose policy has no rule", () => {
    expect(() => assertEveryMethodHasPolicy(bareService().methods)).toThrow(
      "methods without an access policy: /test.v1.Bare/Undeclared, /test.v1.Bare/RuleLess",
    );
  });

  it("passes for a method that declares a rule", () => {
    expect(() => assertEveryMethodHasPolicy([method(bareService(), "Declared")])).not.toThrow();
  });
});

describe("ownsResource", () => {
  it.each([
    ["users/a", "users/a", true],
    ["users/a", "users/a/apiKeys/k", true],
    ["users/a", "users/b", false],
    ["users/a", "users/ab", false],
    ["users/a", "users/ab/apiKeys/k", false],
    ["users/a", "", false],
    ["users/a", "users", false],
  ])("%s owns %j: %s", (user, resource, owns) => {
    expect(ownsResource(user, resource)).toBe(owns);
  });
});
