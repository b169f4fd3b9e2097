import { create, toBinary } from "@bufbuild/protobuf";
import { FieldMaskSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, UserKind, type User } from "../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import { andTerms, expectRefusedChangingNothing, forgedPageToken, raw, refused, year99999, type BadInput } from "../support/bad-inputs.js";
import { failureOf } from "../support/grpc-errors.js";
import { rawUnaryCall } from "../support/raw-grpc.js";
import { createTestUser } from "../support/test-users.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

let service: TestUsersService;
let adminToken: string;
let rootAdmin: User;
/** A person every bad request aims at; its etag moved on once, so `staleEtag` is a real, old one. */
let target: User;
let staleEtag: string;
let targetKeyName: string;

const asAdmin = () => service.auth(adminToken);
const client = () => service.client;
const fiveMegabytes = "x".repeat(5 * 1024 * 1024);
const invalidUtf8 = new Uint8Array([0x61, 0xff, 0xfe, 0x62]);

/** Reads a whole server stream. */
async function drain(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

/** A LoginRequest with an email made of these bytes, encoded by hand. */
function loginBytes(email: Uint8Array, password: string): Uint8Array {
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(email).tag(2, WireType.LengthDelimited).string(password).finish();
}

/** An UpdateUserRequest setting display_name to these bytes, encoded by hand. */
function updateDisplayNameBytes(name: string, displayName: Uint8Array): Uint8Array {
  const user = new BinaryWriter().tag(1, WireType.LengthDelimited).string(name).tag(3, WireType.LengthDelimited).bytes(displayName).finish();
  const mask = toBinary(FieldMaskSchema, create(FieldMaskSchema, { paths: ["display_name"] }));
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(user).tag(2, WireType.LengthDelimited).bytes(mask).finish();
}

/** Everything an admin can see that a bad request could have changed. */
async function storedState() {
  const users = await drain(client().streamUsers({ showDeleted: true }, asAdmin()));
  const { apiKeys } = await client().listApiKeys({ parent: target.name, showRevoked: true }, asAdmin());
  return { users, apiKeys };
}

const { INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, ABORTED, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, UNAUTHENTICATED } = Status;
const goodPassword = "a long enough password";

const badInputs: BadInput[] = [
  // CreateUser
  refused("CreateUser without user", () => client().createUser({ password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["user"]),
  refused("CreateUser without user.email", () => client().createUser({ user: { role: Role.VIEWER }, password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["user.email"]),
  refused("CreateUser without user.role", () => client().createUser({ user: { email: "norole@example.com" }, password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["user.role"]),
  refused("CreateUser with a malformed email", () => client().createUser({ user: { email: "not-an-email", role: Role.VIEWER }, password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "INVALID_EMAIL", ["user.email"]),
  refused("CreateUser with an email holding a space", () => client().createUser({ user: { email: "a b@example.com", role: Role.VIEWER }, password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "INVALID_EMAIL", ["user.email"]),
  refused("CreateUser with a password under 12 characters", () => client().createUser({ user: { email: "short@example.com", role: Role.VIEWER }, password: "too short" }, asAdmin()), INVALID_ARGUMENT, "INVALID_PASSWORD", ["password"]),
  refused("CreateUser of a service account with a password", () => client().createUser({ user: { email: "robot@example.com", role: Role.AGENT, kind: UserKind.SERVICE_ACCOUNT }, password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "PASSWORD_NOT_ALLOWED", ["password"]),
  refused("CreateUser with a bad environment name", () => client().createUser({ user: { email: "env@example.com", role: Role.DEPLOYER, environments: ["Prod!"] }, password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "INVALID_ENVIRONMENT", ["user.environments[0]"]),
  refused("CreateUser with a taken email in other letter case", () => client().createUser({ user: { email: target.email.toUpperCase(), role: Role.VIEWER }, password: goodPassword }, asAdmin()), ALREADY_EXISTS, "EMAIL_TAKEN"),
  refused("CreateUser with 1,001 environments", () => client().createUser({ user: { email: "envs@example.com", role: Role.DEPLOYER, environments: Array.from({ length: 1001 }, (_, i) => `env-${i}`) }, password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "TOO_MANY_ELEMENTS", ["user.environments"]),
  refused("CreateUser with a 1 MB display_name", () => client().createUser({ user: { email: "mega@example.com", role: Role.VIEWER, displayName: "d".repeat(1024 * 1024) }, password: goodPassword }, asAdmin()), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["user.display_name"]),
  refused("CreateUser of 5 MB", () => client().createUser({ user: { email: "big@example.com", role: Role.VIEWER, displayName: fiveMegabytes }, password: goodPassword }, asAdmin()), RESOURCE_EXHAUSTED),

  // Login
  refused("Login without password", () => client().login({ email: admin.email }), INVALID_ARGUMENT, "FIELD_REQUIRED", ["password"]),
  refused("Login without email", () => client().login({ password: admin.password }), INVALID_ARGUMENT, "FIELD_REQUIRED", ["email"]),
  refused("Login with a 3.9 MB email", () => client().login({ email: `${"e".repeat(4_000_000)}@example.com`, password: goodPassword }), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["email"]),
  refused("Login with a password over 4096 bytes", () => client().login({ email: admin.email, password: "p".repeat(4097) }), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["password"]),
  refused("Login with invalid UTF-8 in email", () => raw(rawUnaryCall(service.address, methodPath(UserService.method.login), loginBytes(invalidUtf8, admin.password))), INVALID_ARGUMENT, "MALFORMED_REQUEST"),

  // GetUser
  refused("GetUser without name", () => client().getUser({}, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["name"]),
  refused("GetUser of a name without the users/ collection", () => client().getUser({ name: "user/abc" }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  refused("GetUser of an API key name", () => client().getUser({ name: targetKeyName }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  refused("GetUser of a name with a path traversal", () => client().getUser({ name: "users/../users/x" }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  refused("GetUser of a user that does not exist", () => client().getUser({ name: "users/does-not-exist" }, asAdmin()), NOT_FOUND, "USER_NOT_FOUND"),

  // ListUsers and StreamUsers
  refused("ListUsers with page_size -1", () => client().listUsers({ pageSize: -1 }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_SIZE", ["page_size"]),
  refused("ListUsers ordered by an unknown field", () => client().listUsers({ orderBy: "password_hash" }, asAdmin()), INVALID_ARGUMENT, "INVALID_ORDER_BY", ["order_by"]),
  refused("ListUsers ordered by SQL", () => client().listUsers({ orderBy: "email; DROP TABLE users" }, asAdmin()), INVALID_ARGUMENT, "INVALID_ORDER_BY", ["order_by"]),
  refused("ListUsers filtered on an unknown field", () => client().listUsers({ filter: 'password_hash = "x"' }, asAdmin()), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  refused("ListUsers filtered with OR", () => client().listUsers({ filter: "role = ROLE_ADMIN OR role = ROLE_VIEWER" }, asAdmin()), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  refused("ListUsers filtered on an unknown enum value", () => client().listUsers({ filter: "role = ROLE_KING" }, asAdmin()), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  refused("ListUsers filtered with an unterminated string", () => client().listUsers({ filter: 'email = "abc' }, asAdmin()), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  refused("ListUsers filtered on a time that is not RFC 3339", () => client().listUsers({ filter: 'create_time > "yesterday"' }, asAdmin()), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  refused(
    "ListUsers with a page token issued for another filter",
    async () => {
      const first = await client().listUsers({ pageSize: 1, filter: "kind = USER_KIND_HUMAN", orderBy: "email" }, asAdmin());
      expect(first.nextPageToken).not.toBe("");
      return client().listUsers({ pageSize: 1, filter: "role = ROLE_VIEWER", orderBy: "email", pageToken: first.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused(
    "ListUsers with a page token issued for another order",
    async () => {
      const first = await client().listUsers({ pageSize: 1, orderBy: "email" }, asAdmin());
      expect(first.nextPageToken).not.toBe("");
      return client().listUsers({ pageSize: 1, orderBy: "email desc", pageToken: first.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused("ListUsers with a page token it never issued", () => client().listUsers({ pageToken: "bm90IGEgdG9rZW4", orderBy: "email" }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("StreamUsers filtered on an unknown field", () => drain(client().streamUsers({ filter: "secret = 1" }, asAdmin())), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  refused("ListUsers with the page token \"garbage\"", () => client().listUsers({ pageToken: "garbage" }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListUsers with a forged page token at the year 99999", () => client().listUsers({ pageToken: forgedPageToken({ value: year99999, id: "x" }, { filter: "", orderBy: "", showDeleted: false }) }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListUsers with a page token over 2048 characters", () => client().listUsers({ pageToken: "A".repeat(2049) }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListUsers filtered with 1,500 AND terms", () => client().listUsers({ filter: andTerms('email = "e"', 1500) }, asAdmin()), INVALID_ARGUMENT, "FILTER_TOO_COMPLEX", ["filter"]),
  refused("ListUsers filtered with 33 comparisons", () => client().listUsers({ filter: andTerms("role = ROLE_VIEWER", 33) }, asAdmin()), INVALID_ARGUMENT, "FILTER_TOO_COMPLEX", ["filter"]),
  refused("ListUsers filtered on a time a zone offset carries past 9999", () => client().listUsers({ filter: 'create_time < "9999-12-31T23:00:00-05:00"' }, asAdmin()), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  refused("StreamUsers filtered with 1,500 AND terms", () => drain(client().streamUsers({ filter: andTerms('email = "e"', 1500) }, asAdmin())), INVALID_ARGUMENT, "FILTER_TOO_COMPLEX", ["filter"]),

  // UpdateUser
  refused("UpdateUser without user", () => client().updateUser({ updateMask: { paths: ["display_name"] } }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["user"]),
  refused("UpdateUser without update_mask", () => client().updateUser({ user: { name: target.name, displayName: "x" } }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["update_mask"]),
  refused("UpdateUser with an empty update_mask", () => client().updateUser({ user: { name: target.name, displayName: "x" }, updateMask: { paths: [] } }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["update_mask"]),
  refused("UpdateUser with an unknown update_mask path", () => client().updateUser({ user: { name: target.name, displayName: "x" }, updateMask: { paths: ["nickname"] } }, asAdmin()), INVALID_ARGUMENT, "UNKNOWN_FIELD_MASK_PATH", ["update_mask"]),
  ...["kind", "email", "state", "create_time", "update_time", "delete_time", "etag", "name", "password_hash"].map((path) =>
    refused(
      `UpdateUser masking the non-updatable path ${path}`,
      () =>
        client().updateUser(
          { user: { name: target.name, email: "changed@example.com", kind: UserKind.SERVICE_ACCOUNT }, updateMask: { paths: ["display_name", path] } },
          asAdmin(),
        ),
      INVALID_ARGUMENT,
      "UNKNOWN_FIELD_MASK_PATH",
      ["update_mask"],
    ),
  ),
  refused("UpdateUser with a stale etag", () => client().updateUser({ user: { name: target.name, displayName: "x", etag: staleEtag }, updateMask: { paths: ["display_name"] } }, asAdmin()), ABORTED, "ETAG_MISMATCH"),
  refused("UpdateUser with an etag it never issued", () => client().updateUser({ user: { name: target.name, displayName: "x", etag: 'W/"abc"' }, updateMask: { paths: ["display_name"] } }, asAdmin()), ABORTED, "ETAG_MISMATCH"),
  refused("UpdateUser of a name of the wrong form", () => client().updateUser({ user: { name: target.name.replace("users/", ""), displayName: "x" }, updateMask: { paths: ["display_name"] } }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["user.name"]),
  refused("UpdateUser of a user that does not exist", () => client().updateUser({ user: { name: "users/does-not-exist", displayName: "x" }, updateMask: { paths: ["display_name"] } }, asAdmin()), NOT_FOUND, "USER_NOT_FOUND"),
  refused("UpdateUser masking role without a role", () => client().updateUser({ user: { name: target.name }, updateMask: { paths: ["role"] } }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["user.role"]),
  refused("UpdateUser with an unknown time zone", () => client().updateUser({ user: { name: target.name, preferences: { timeZone: "Mars/Olympus" } }, updateMask: { paths: ["preferences.time_zone"] } }, asAdmin()), INVALID_ARGUMENT, "INVALID_TIME_ZONE", ["user.preferences.time_zone"]),
  refused("UpdateUser with a bad environment name", () => client().updateUser({ user: { name: target.name, environments: ["ok", "NOT OK"] }, updateMask: { paths: ["environments"] } }, asAdmin()), INVALID_ARGUMENT, "INVALID_ENVIRONMENT", ["user.environments[1]"]),
  refused("UpdateUser with a display_name over 200 characters", () => client().updateUser({ user: { name: target.name, displayName: "x".repeat(201) }, updateMask: { paths: ["display_name"] } }, asAdmin()), INVALID_ARGUMENT, "INVALID_DISPLAY_NAME", ["user.display_name"]),
  refused("UpdateUser of 5 MB", () => client().updateUser({ user: { name: target.name, displayName: fiveMegabytes }, updateMask: { paths: ["display_name"] } }, asAdmin()), RESOURCE_EXHAUSTED),
  refused(
    "UpdateUser with invalid UTF-8 in display_name",
    () => raw(rawUnaryCall(service.address, methodPath(UserService.method.updateUser), updateDisplayNameBytes(target.name, invalidUtf8), { authorization: `Bearer ${adminToken}` })),
    INVALID_ARGUMENT,
    "MALFORMED_REQUEST",
  ),
  refused("UpdateUser with 1,001 update_mask paths", () => client().updateUser({ user: { name: target.name, displayName: "x" }, updateMask: { paths: Array.from({ length: 1001 }, () => "display_name") } }, asAdmin()), INVALID_ARGUMENT, "TOO_MANY_ELEMENTS", ["update_mask.paths"]),
  refused("UpdateUser demoting the last admin", () => client().updateUser({ user: { name: rootAdmin.name, role: Role.VIEWER }, updateMask: { paths: ["role"] } }, asAdmin()), FAILED_PRECONDITION, "LAST_ADMIN"),

  // DeleteUser
  refused("DeleteUser with a stale etag", () => client().deleteUser({ name: target.name, etag: staleEtag }, asAdmin()), ABORTED, "ETAG_MISMATCH"),
  refused("DeleteUser of an API key name", () => client().deleteUser({ name: targetKeyName }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  refused("DeleteUser of the last admin", () => client().deleteUser({ name: rootAdmin.name }, asAdmin()), FAILED_PRECONDITION, "LAST_ADMIN"),

  // ChangePassword
  refused("ChangePassword without new_password", () => client().changePassword({ name: target.name }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["new_password"]),
  refused("ChangePassword to a password under 12 characters", () => client().changePassword({ name: target.name, newPassword: "short" }, asAdmin()), INVALID_ARGUMENT, "INVALID_PASSWORD", ["new_password"]),
  refused("ChangePassword of a name of the wrong form", () => client().changePassword({ name: "people/x", newPassword: goodPassword }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),

  // API keys
  refused("CreateApiKey without api_key", () => client().createApiKey({ parent: target.name }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["api_key"]),
  refused("CreateApiKey without api_key.display_name", () => client().createApiKey({ parent: target.name, apiKey: {} }, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["api_key.display_name"]),
  refused("CreateApiKey expiring in the past", () => client().createApiKey({ parent: target.name, apiKey: { displayName: "old", expireTime: timestampFromDate(new Date(Date.now() - 60_000)) } }, asAdmin()), INVALID_ARGUMENT, "INVALID_EXPIRE_TIME", ["api_key.expire_time"]),
  refused("CreateApiKey under a parent of the wrong form", () => client().createApiKey({ parent: targetKeyName, apiKey: { displayName: "k" } }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["parent"]),
  refused("ListApiKeys with page_size -1", () => client().listApiKeys({ parent: target.name, pageSize: -1 }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_SIZE", ["page_size"]),
  refused(
    "ListApiKeys with a page token issued by ListUsers",
    async () => {
      const users = await client().listUsers({ pageSize: 1, orderBy: "email" }, asAdmin());
      return client().listApiKeys({ parent: target.name, pageToken: users.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused("ListApiKeys with the page token \"garbage\"", () => client().listApiKeys({ parent: target.name, pageToken: "garbage" }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListApiKeys with a forged page token at the year 99999", () => client().listApiKeys({ parent: target.name, pageToken: forgedPageToken({ createTime: year99999, id: "x" }, { parent: target.name, showRevoked: false }) }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused(
    "ListApiKeys with a page token issued for another user's keys",
    async () => {
      const keys = await client().listApiKeys({ parent: rootAdmin.name, pageSize: 1 }, asAdmin());
      expect(keys.nextPageToken).not.toBe("");
      return client().listApiKeys({ parent: target.name, pageToken: keys.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused("CreateApiKey with a display_name over 4096 bytes", () => client().createApiKey({ parent: target.name, apiKey: { displayName: "k".repeat(4097) } }, asAdmin()), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["api_key.display_name"]),
  refused("DeleteApiKey of a user name", () => client().deleteApiKey({ name: target.name }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  refused("DeleteApiKey of a key that does not exist", () => client().deleteApiKey({ name: `${target.name}/apiKeys/0123456789abcdef` }, asAdmin()), NOT_FOUND, "API_KEY_NOT_FOUND"),

  // Credentials in the body
  refused("RefreshToken with a token it never issued", () => client().refreshToken({ refreshToken: "lpr_not-a-token" }), UNAUTHENTICATED, "INVALID_REFRESH_TOKEN"),
  refused("AuthenticateApiKey with a key it never issued", () => client().authenticateApiKey({ apiKey: `lpk_0123456789abcdef_${"a".repeat(43)}` }), UNAUTHENTICATED, "INVALID_API_KEY"),
];

beforeAll(async () => {
  service = await startTestUsers();
  adminToken = await service.login(admin.email, admin.password);
  ({ user: rootAdmin } = (await client().getCurrentUser({}, asAdmin())) as { user: User });
  const person = await createTestUser(service, adminToken, Role.VIEWER, "target");
  staleEtag = person.user.etag;
  ({ user: target } = (await client().updateUser(
    { user: { name: person.user.name, displayName: "Target", etag: staleEtag }, updateMask: { paths: ["display_name"] } },
    asAdmin(),
  )) as { user: User });
  const key = await client().createApiKey({ parent: target.name, apiKey: { displayName: "target key" } }, asAdmin());
  targetKeyName = key.apiKey!.name;
  // Two keys of the admin's own, so listing them one per page issues a page token.
  for (const displayName of ["admin key 1", "admin key 2"]) await client().createApiKey({ parent: rootAdmin.name, apiKey: { displayName } }, asAdmin());
});
afterAll(() => service?.stop());

describe("bad requests are refused with a stable reason and change nothing", () => {
  it.each(badInputs)("$title", async (bad) => {
    await expectRefusedChangingNothing(bad, storedState);
  });
});

describe("the same requests, made well, are accepted", () => {
  it("ListUsers with every field left at its default lists users, newest first", async () => {
    const { users, totalSize } = await client().listUsers({}, asAdmin());
    expect(totalSize).toBe(users.length);
    expect(users.map((u) => u.name)).toEqual([target.name, rootAdmin.name]);
  });

  it("a hand-encoded Login with valid UTF-8 signs in, so the raw encoding above is sound", async () => {
    const outcome = await rawUnaryCall(service.address, methodPath(UserService.method.login), loginBytes(new TextEncoder().encode(admin.email), admin.password));
    expect("response" in outcome ? "ok" : outcome).toBe("ok");
  });

  it("the channel still works after a 5 MB request was refused", async () => {
    const { user } = await client().getUser({ name: target.name }, asAdmin());
    expect(user).toEqual(target);
  });

  it("a hand-encoded UpdateUser with valid UTF-8 changes display_name, so the raw encoding above is sound", async () => {
    const body = updateDisplayNameBytes(target.name, new TextEncoder().encode("Tärget ✓"));
    const outcome = await rawUnaryCall(service.address, methodPath(UserService.method.updateUser), body, { authorization: `Bearer ${adminToken}` });
    expect("response" in outcome ? "ok" : outcome).toBe("ok");
    const { user } = await client().getUser({ name: target.name }, asAdmin());
    expect(user?.displayName).toBe("Tärget ✓");
  });

  it("with a second admin either admin may be demoted, and then the last one may not", async () => {
    const second = await createTestUser(service, adminToken, Role.ADMIN, "second admin");
    const { user: demoted } = await client().updateUser(
      { user: { name: second.user.name, role: Role.VIEWER }, updateMask: { paths: ["role"] } },
      asAdmin(),
    );
    expect(demoted?.role).toBe(Role.VIEWER);
    const { user: before } = await client().getUser({ name: rootAdmin.name }, asAdmin());
    const failure = await failureOf(client().updateUser({ user: { name: rootAdmin.name, role: Role.DEPLOYER }, updateMask: { paths: ["role"] } }, asAdmin()));
    expect({ code: failure.code, reason: failure.reason }).toEqual({ code: FAILED_PRECONDITION, reason: "LAST_ADMIN" });
    const { user: after } = await client().getUser({ name: rootAdmin.name }, asAdmin());
    expect(after).toEqual(before);
  });
});
