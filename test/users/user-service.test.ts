import { randomBytes } from "node:crypto";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toJsonString } from "@bufbuild/protobuf";
import { Role, UserKind, UserState } from "../../gen/launchpad/user/v1/user_pb.js";
import { ListApiKeysResponseSchema } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";
import { storeTargets } from "../support/databases.js";
import { expectGrpcError } from "../support/grpc-errors.js";

describe.each(await storeTargets())("UserService over a real gRPC connection, on $name", (target) => {
  let service: TestUsersService;
  let adminToken: string;

  beforeAll(async () => {
    const location = target.fresh();
    // Replicas on PostgreSQL share a configured secret key.
    const onPostgres = { LAUNCHPAD_USERS_DATABASE_URL: location.url!, LAUNCHPAD_SECRET_KEY: randomBytes(32).toString("base64") };
    service = await startTestUsers(location.url ? onPostgres : {});
    adminToken = await service.login(admin.email, admin.password);
  });
  afterAll(async () => {
    await service?.stop();
    await target.cleanup();
  });

  it("Login returns an access token, a refresh token and the user", async () => {
    const response = await service.client.login({ email: admin.email.toUpperCase(), password: admin.password });
    expect(response.tokens?.accessToken.split(".")).toHaveLength(3);
    expect(response.tokens?.refreshToken).toMatch(/^lpr_/);
    expect(response.user?.role).toBe(Role.ADMIN);
  });

  it("GetCurrentUser returns the caller", async () => {
    const { user } = await service.client.getCurrentUser({}, service.auth(adminToken));
    expect(user?.email).toBe(admin.email);
    expect(user?.etag).not.toBe("");
  });

  it("CreateUser, GetUser, UpdateUser with an etag, DeleteUser keep one consistent user", async () => {
    const { user: created } = await service.client.createUser(
      { user: { email: "Dev@Example.com", displayName: "Dev", role: Role.DEPLOYER, environments: ["staging"] }, password: "a long enough password" },
      service.auth(adminToken),
    );
    expect(created?.email).toBe("dev@example.com");
    expect(created?.kind).toBe(UserKind.HUMAN);
    expect(created?.state).toBe(UserState.ACTIVE);

    const { user: fetched } = await service.client.getUser({ name: created!.name }, service.auth(adminToken));
    expect(fetched).toEqual(created);

    const { user: updated } = await service.client.updateUser(
      { user: { name: created!.name, displayName: "Developer", etag: created!.etag }, updateMask: { paths: ["display_name"] } },
      service.auth(adminToken),
    );
    expect(updated?.displayName).toBe("Developer");
    expect(updated?.role).toBe(Role.DEPLOYER);
    expect(updated?.etag).not.toBe(created?.etag);

    const { user: deleted } = await service.client.deleteUser({ name: created!.name }, service.auth(adminToken));
    expect(deleted?.state).toBe(UserState.DISABLED);
    await expectGrpcError(service.client.login({ email: "dev@example.com", password: "a long enough password" }), Status.UNAUTHENTICATED, "INVALID_CREDENTIALS");
  });

  it("ListUsers pages with opaque tokens and reports the total", async () => {
    for (let i = 0; i < 5; i++) {
      await service.client.createUser(
        { user: { email: `viewer${i}@example.com`, role: Role.VIEWER }, password: "a long enough password" },
        service.auth(adminToken),
      );
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await service.client.listUsers({ pageSize: 2, pageToken, filter: "role = ROLE_VIEWER" }, service.auth(adminToken));
      expect(page.totalSize).toBe(5);
      seen.push(...page.users.map((u) => u.email));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(new Set(seen).size).toBe(5);
  });

  it("StreamUsers streams every matching user", async () => {
    const emails: string[] = [];
    for await (const { user } of service.client.streamUsers({ filter: 'email : "viewer"' }, service.auth(adminToken))) {
      emails.push(user!.email);
    }
    expect(emails.sort()).toEqual(["viewer0@example.com", "viewer1@example.com", "viewer2@example.com", "viewer3@example.com", "viewer4@example.com"]);
  });

  it("an API key is shown once, authenticates calls, and stops working when revoked", async () => {
    const { user: robot } = await service.client.createUser(
      { user: { email: "robot@example.com", kind: UserKind.SERVICE_ACCOUNT, role: Role.AGENT } },
      service.auth(adminToken),
    );
    const created = await service.client.createApiKey({ parent: robot!.name, apiKey: { displayName: "ci" } }, service.auth(adminToken));
    expect(created.secret).toMatch(/^lpk_/);
    expect(created.apiKey?.prefix).toBe(created.secret.slice(0, 12));

    const listed = await service.client.listApiKeys({ parent: robot!.name }, service.auth(adminToken));
    expect(listed.apiKeys.map((k) => k.name)).toEqual([created.apiKey!.name]);
    expect(toJsonString(ListApiKeysResponseSchema, listed)).not.toContain(created.secret);

    const { user: me } = await service.client.getCurrentUser({}, service.auth(created.secret));
    expect(me?.name).toBe(robot!.name);
    const { principal } = await service.client.authenticateApiKey({ apiKey: created.secret });
    expect(principal?.role).toBe(Role.AGENT);

    await service.client.deleteApiKey({ name: created.apiKey!.name }, service.auth(adminToken));
    await expectGrpcError(service.client.getCurrentUser({}, service.auth(created.secret)), Status.UNAUTHENTICATED, "INVALID_API_KEY");
  });

  it("RefreshToken rotates, and reusing a rotated token revokes the sign-in", async () => {
    const { tokens } = await service.client.login({ email: admin.email, password: admin.password });
    const next = await service.client.refreshToken({ refreshToken: tokens!.refreshToken });
    expect(next.tokens?.refreshToken).not.toBe(tokens!.refreshToken);
    await service.client.getCurrentUser({}, service.auth(next.tokens!.accessToken));

    await expectGrpcError(service.client.refreshToken({ refreshToken: tokens!.refreshToken }), Status.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED");
    await expectGrpcError(service.client.refreshToken({ refreshToken: next.tokens!.refreshToken }), Status.UNAUTHENTICATED, "SESSION_ENDED");
    await expectGrpcError(service.client.getCurrentUser({}, service.auth(next.tokens!.accessToken)), Status.UNAUTHENTICATED, "SESSION_ENDED");
  });

  it("Logout ends the sign-in", async () => {
    const { tokens } = await service.client.login({ email: admin.email, password: admin.password });
    await service.client.logout({ refreshToken: tokens!.refreshToken });
    await expectGrpcError(service.client.getCurrentUser({}, service.auth(tokens!.accessToken)), Status.UNAUTHENTICATED, "SESSION_ENDED");
  });

  it("GetJwks publishes the public signing key only", async () => {
    const { keys } = await service.client.getJwks({});
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(JSON.stringify(keys)).not.toMatch(/"d"/);
  });

  it("ChangePassword needs the current password for one's own account and ends other sign-ins", async () => {
    const { user } = await service.client.createUser(
      { user: { email: "changer@example.com", role: Role.VIEWER }, password: "the first password" },
      service.auth(adminToken),
    );
    const other = await service.login("changer@example.com", "the first password");
    const token = await service.login("changer@example.com", "the first password");
    await expectGrpcError(
      service.client.changePassword({ name: user!.name, currentPassword: "wrong password!", newPassword: "the second password" }, service.auth(token)),
      Status.INVALID_ARGUMENT,
      "INCORRECT_PASSWORD",
    );
    await service.client.changePassword({ name: user!.name, currentPassword: "the first password", newPassword: "the second password" }, service.auth(token));
    await expectGrpcError(service.client.getCurrentUser({}, service.auth(other)), Status.UNAUTHENTICATED, "SESSION_ENDED");
    // The sign-in that changed the password goes on.
    expect((await service.client.getCurrentUser({}, service.auth(token))).user?.name).toBe(user!.name);
    await service.login("changer@example.com", "the second password");
  });

  it("GetUser and GetCurrentUser on oneself answer with the user as it is now: a change between two calls shows in the second", async () => {
    const { user } = await service.client.createUser(
      { user: { email: "self-reader@example.com", displayName: "Before", role: Role.VIEWER }, password: "a long enough password" },
      service.auth(adminToken),
    );
    const token = await service.login("self-reader@example.com", "a long enough password");
    const first = (await service.client.getUser({ name: user!.name }, service.auth(token))).user!;
    expect(first.displayName).toBe("Before");

    await service.client.updateUser(
      { user: { name: user!.name, displayName: "After", etag: first.etag }, updateMask: { paths: ["display_name"] } },
      service.auth(adminToken),
    );
    const again = (await service.client.getUser({ name: user!.name }, service.auth(token))).user!;
    expect(again.displayName).toBe("After");
    expect(again.etag).not.toBe(first.etag);
    expect((await service.client.getCurrentUser({}, service.auth(token))).user?.displayName).toBe("After");
  });
});
