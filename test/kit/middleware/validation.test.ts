import { create, toBinary } from "@bufbuild/protobuf";
import { createServer, Status } from "nice-grpc";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Role, UserKind } from "../../../gen/launchpad/user/v1/user_pb.js";
import {
  GetUserRequestSchema,
  UserService,
  type CreateUserRequest,
  type ListUsersRequest,
} from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { indexMethods } from "../../../services/kit/grpc/service-definition.js";
import { createErrorMappingMiddleware } from "../../../services/kit/middleware/error-mapping.js";
import { validationCheck, missingRequiredFields, type RequestRule } from "../../../services/kit/middleware/validation.js";
import { checksMiddleware } from "../../../services/kit/middleware/call-checks.js";
import { defaultFieldLimits, fieldLimitViolations, type FieldLimits } from "../../../services/kit/field-limits.js";
import { CreateDeploymentRequestSchema, WatchDeploymentsResponseSchema } from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { CreateApiKeyRequestSchema } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import {
  badRequest,
  callError,
  errorInfo,
  rawUnaryCall,
  serve,
  stubRequestContext,
  userClient,
  userDefinition,
  userHandlers,
  wireReason,
  type Served,
} from "../../support/grpc.js";

const rules: Record<string, RequestRule<any>> = {
  "/launchpad.user.v1.UserService/ListUsers": ((request: ListUsersRequest) =>
    request.pageSize < 0 ? [{ field: "page_size", description: "must not be negative", reason: "INVALID_PAGE_SIZE" }] : []) satisfies RequestRule<ListUsersRequest>,
  // Like the users service's own rules, this one relies on the REQUIRED user being there.
  "/launchpad.user.v1.UserService/CreateUser": ((request: CreateUserRequest) => {
    const user = request.user!;
    return [
      ...(user.kind === UserKind.SERVICE_ACCOUNT && request.password !== ""
        ? [{ field: "password", description: "service accounts have no password", reason: "PASSWORD_NOT_ALLOWED" }]
        : []),
      ...(user.displayName.length > 10 ? [{ field: "user.display_name", description: "is too long", reason: "INVALID_DISPLAY_NAME" }] : []),
    ];
  }) satisfies RequestRule<CreateUserRequest>,
};

const password = "correct horse battery";

describe("validation middleware", () => {
  let served: Served;
  let client: ReturnType<typeof userClient>;
  let reached: string[] = [];

  beforeAll(async () => {
    const server = createServer()
      .use(stubRequestContext())
      .use(createErrorMappingMiddleware())
      .use(checksMiddleware(validationCheck(indexMethods([UserService]), rules)));
    const record = (name: string) => async () => {
      reached.push(name);
      return {};
    };
    server.add(
      userDefinition,
      userHandlers({
        createUser: record("CreateUser"),
        updateUser: record("UpdateUser"),
        listUsers: record("ListUsers"),
        getUser: record("GetUser"),
        changePassword: record("ChangePassword"),
      }),
    );
    served = await serve(server);
    client = userClient(served.channel);
  });

  afterAll(() => served?.close());

  beforeEach(() => {
    reached = [];
  });

  async function violations(call: Promise<unknown>) {
    const error = await callError(call);
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    return { reason: errorInfo(error)?.reason, fields: badRequest(error)?.fieldViolations.map((v) => v.field) ?? [] };
  }

  it("refuses a request missing a REQUIRED field with INVALID_ARGUMENT FIELD_REQUIRED, before the handler", async () => {
    expect(await violations(client.getUser({}))).toEqual({ reason: "FIELD_REQUIRED", fields: ["name"] });
    expect(await violations(client.changePassword({ newPassword: password }))).toEqual({ reason: "FIELD_REQUIRED", fields: ["name"] });
    expect(reached).toEqual([]);
  });

  it("descends into a set REQUIRED message and names nested fields by dotted path", async () => {
    expect(await violations(client.createUser({ user: {}, password }))).toEqual({ reason: "FIELD_REQUIRED", fields: ["user.email", "user.role"] });
    expect(await violations(client.createUser({ user: { role: Role.VIEWER }, password }))).toEqual({ reason: "FIELD_REQUIRED", fields: ["user.email"] });
  });

  it("treats a blank string as missing", async () => {
    expect((await violations(client.createUser({ user: { email: "   ", role: Role.VIEWER }, password }))).fields).toEqual(["user.email"]);
  });

  it("describes each missing field for people", async () => {
    const error = await callError(client.createUser({ user: {}, password }));
    expect(error.details).toBe("user.email: is required; user.role: is required");
  });

  it("lets a complete request through to the handler", async () => {
    await client.createUser({ user: { email: "a@example.com", role: Role.VIEWER }, password });
    await client.getUser({ name: "users/a" });
    expect(reached).toEqual(["CreateUser", "GetUser"]);
  });

  it("does not descend into the resource of an update (UpdateUserRequest has an update_mask)", async () => {
    await client.updateUser({ user: { name: "users/a" }, updateMask: { paths: ["display_name"] } });
    expect(reached).toEqual(["UpdateUser"]);
  });

  it("still requires the top-level fields of an update", async () => {
    expect((await violations(client.updateUser({}))).fields).toEqual(["user", "update_mask"]);
  });

  it("reports a per-method rule's violations with the rule's reason", async () => {
    expect(await violations(client.listUsers({ pageSize: -1 }))).toEqual({ reason: "INVALID_PAGE_SIZE", fields: ["page_size"] });
    await client.listUsers({ pageSize: 10 });
    expect(reached).toEqual(["ListUsers"]);
  });

  it("reports all of a rule's violations at once, with the first one's reason", async () => {
    const request = { user: { email: "bot@example.com", role: Role.AGENT, kind: UserKind.SERVICE_ACCOUNT, displayName: "a very long name" }, password };
    expect(await violations(client.createUser(request))).toEqual({
      reason: "PASSWORD_NOT_ALLOWED",
      fields: ["password", "user.display_name"],
    });
    expect(reached).toEqual([]);
  });

  it("runs a method's rule only once its REQUIRED fields are present, so the rule may rely on them", async () => {
    // The CreateUser rule reads request.user!; without a user it must not run (it would throw: INTERNAL).
    expect(await violations(client.createUser({ password }))).toEqual({ reason: "FIELD_REQUIRED", fields: ["user"] });
  });

  it("checks every REQUIRED field of a method (ChangePassword new_password)", async () => {
    expect((await violations(client.changePassword({ name: "users/a" }))).fields).toEqual(["new_password"]);
  });

  it("refuses bytes that are not valid UTF-8 in a string field with INVALID_ARGUMENT MALFORMED_REQUEST, not INTERNAL", async () => {
    // GetUserRequest.name (field 1, length-delimited) holding 0xff 0xfe.
    const outcome = await rawUnaryCall(served.address, "/launchpad.user.v1.UserService/GetUser", new Uint8Array([0x0a, 0x02, 0xff, 0xfe]));
    expect(outcome.code).toBe(Status.INVALID_ARGUMENT);
    expect(wireReason(outcome.status)).toBe("MALFORMED_REQUEST");
    expect(reached).toEqual([]);
  });

  it("refuses truncated protobuf with INVALID_ARGUMENT MALFORMED_REQUEST", async () => {
    const outcome = await rawUnaryCall(served.address, "/launchpad.user.v1.UserService/GetUser", new Uint8Array([0x0a, 0x10, 0x61]));
    expect(outcome.code).toBe(Status.INVALID_ARGUMENT);
    expect(wireReason(outcome.status)).toBe("MALFORMED_REQUEST");
  });

  it("refuses a string over 4096 UTF-8 bytes with FIELD_TOO_LONG naming it, before REQUIRED fields and rules", async () => {
    // 1366 three-byte characters are 4098 bytes: the limit counts bytes, not characters.
    const long = "€".repeat(1366);
    expect(await violations(client.createUser({ user: { displayName: long }, password }))).toEqual({ reason: "FIELD_TOO_LONG", fields: ["user.display_name"] });
    expect(await violations(client.getUser({ name: "x".repeat(4097) }))).toEqual({ reason: "FIELD_TOO_LONG", fields: ["name"] });
    expect(reached).toEqual([]);
  });

  it("lets a string of exactly 4096 bytes through to the method's own rule", async () => {
    expect(await violations(client.createUser({ user: { email: "a@example.com", role: Role.VIEWER, displayName: "x".repeat(4096) }, password }))).toEqual({
      reason: "INVALID_DISPLAY_NAME",
      fields: ["user.display_name"],
    });
  });

  it("names every oversized field, and list elements by index", async () => {
    const error = await callError(client.createUser({ user: { email: "e".repeat(5000), environments: ["ok", "y".repeat(5000)] }, password: "p".repeat(5000) }));
    expect(errorInfo(error)?.reason).toBe("FIELD_TOO_LONG");
    expect(badRequest(error)?.fieldViolations.map((v) => [v.field, v.description])).toEqual([
      ["user.email", "must be at most 4096 bytes"],
      ["user.environments[1]", "must be at most 4096 bytes"],
      ["password", "must be at most 4096 bytes"],
    ]);
    expect(error.details).not.toContain("eeee");
  });

  it("refuses a string holding NUL (U+0000), which PostgreSQL cannot store, with NUL_CHARACTER", async () => {
    expect(await violations(client.getUser({ name: "users/a\u0000b" }))).toEqual({ reason: "NUL_CHARACTER", fields: ["name"] });
    expect(await violations(client.createUser({ user: { email: "a@example.com", role: Role.VIEWER, environments: ["ok", "n\u0000"] }, password }))).toEqual({
      reason: "NUL_CHARACTER",
      fields: ["user.environments[1]"],
    });
    expect(reached).toEqual([]);
  });

  it("refuses a repeated field of more than 1000 elements with TOO_MANY_ELEMENTS", async () => {
    const paths = Array.from({ length: 1001 }, () => "display_name");
    expect(await violations(client.updateUser({ user: { name: "users/a" }, updateMask: { paths } }))).toEqual({ reason: "TOO_MANY_ELEMENTS", fields: ["update_mask.paths"] });
  });

  it("bounds filters and page tokens tighter, with their own reasons", async () => {
    expect(await violations(client.listUsers({ filter: `email = "${"a".repeat(4090)}"` }))).toEqual({ reason: "FILTER_TOO_COMPLEX", fields: ["filter"] });
    expect(await violations(client.listUsers({ pageToken: "A".repeat(2049) }))).toEqual({ reason: "INVALID_PAGE_TOKEN", fields: ["page_token"] });
    await client.listUsers({ filter: "f".repeat(4096), pageToken: "A".repeat(2048) });
    expect(reached).toEqual(["ListUsers"]);
  });

  it("accepts the same request sent raw when its bytes are valid", async () => {
    const bytes = toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { name: "users/a" }));
    const outcome = await rawUnaryCall(served.address, "/launchpad.user.v1.UserService/GetUser", bytes);
    expect(outcome.code).toBe(Status.OK);
    expect(reached).toEqual(["GetUser"]);
  });
});

describe("missingRequiredFields", () => {
  it("is empty for a message whose REQUIRED fields are all set", () => {
    const request = create(UserService.method.createUser.input, { user: { email: "a@example.com", role: Role.ADMIN } });
    expect(missingRequiredFields(UserService.method.createUser.input, request)).toEqual([]);
  });

  it("ignores fields that are not REQUIRED (OUTPUT_ONLY, IDENTIFIER, plain)", () => {
    const request = create(UserService.method.createUser.input, { user: { email: "a@example.com", role: Role.ADMIN } });
    const fields = missingRequiredFields(UserService.method.createUser.input, request).map((v) => v.field);
    expect(fields).not.toContain("user.name");
    expect(fields).not.toContain("password");
  });
});

describe("fieldLimitViolations", () => {
  const limits: FieldLimits = {
    value: { maxBytes: 8, reason: "FIELD_TOO_LONG" },
    maxElements: 2,
    overrides: { "launchpad.deployment.v1.Deployment.description": { maxBytes: 3, reason: "DESCRIPTION_TOO_LONG" }, service: { maxBytes: 20, reason: "FIELD_TOO_LONG" } },
  };

  it("checks map keys (on the map) and values (by key), and map sizes", () => {
    const request = create(CreateDeploymentRequestSchema, { deployment: { labels: { short: "123456789", ["k".repeat(9)]: "v" } } });
    expect(fieldLimitViolations(CreateDeploymentRequestSchema, request, limits).map((v) => v.field)).toEqual(["deployment.labels[short]", "deployment.labels"]);
    const many = create(CreateDeploymentRequestSchema, { deployment: { labels: { a: "1", b: "2", c: "3" } } });
    expect(fieldLimitViolations(CreateDeploymentRequestSchema, many, limits)).toEqual([
      { field: "deployment.labels", reason: "TOO_MANY_ELEMENTS", description: "must have at most 2 elements" },
    ]);
  });

  it("prefers an override by full name, then by field name, then the default", () => {
    const request = create(CreateDeploymentRequestSchema, { deployment: { description: "abcd", service: "a-long-service-name", version: "123456789" } });
    expect(fieldLimitViolations(CreateDeploymentRequestSchema, request, limits)).toEqual([
      { field: "deployment.version", reason: "FIELD_TOO_LONG", description: "must be at most 8 bytes" },
      { field: "deployment.description", reason: "DESCRIPTION_TOO_LONG", description: "must be at most 3 bytes" },
    ]);
  });

  it("reads the set member of a oneof and descends into it", () => {
    const message = create(WatchDeploymentsResponseSchema, { kind: { case: "snapshot", value: { deployments: [{ service: "s" }, { environment: "production" }] } } });
    expect(fieldLimitViolations(WatchDeploymentsResponseSchema, message, limits).map((v) => v.field)).toEqual(["snapshot.deployments[1].environment"]);
  });

  it("refuses a Timestamp outside years 0001–9999 or with nanos out of range, naming it, and accepts both ends", () => {
    const at = (seconds: bigint, nanos = 0) =>
      fieldLimitViolations(CreateApiKeyRequestSchema, create(CreateApiKeyRequestSchema, { apiKey: { displayName: "k", expireTime: { seconds, nanos } } }), defaultFieldLimits);
    for (const [seconds, nanos] of [[253_402_300_800n, 0], [-62_135_596_801n, 0], [0n, -1], [0n, 1_000_000_000]] as const) {
      expect(at(seconds, nanos)).toEqual([{ field: "api_key.expire_time", reason: "INVALID_TIMESTAMP", description: expect.stringContaining("9999-12-31") }]);
    }
    expect(at(253_402_300_799n, 999_999_999)).toEqual([]);
    expect(at(-62_135_596_800n)).toEqual([]);
  });

  it("finds nothing in an empty request under the defaults", () => {
    expect(fieldLimitViolations(CreateDeploymentRequestSchema, create(CreateDeploymentRequestSchema), defaultFieldLimits)).toEqual([]);
  });
});
