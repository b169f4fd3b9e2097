import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { toJsonString } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import SQLite from "better-sqlite3";
import { SignJWT, base64url, decodeJwt, decodeProtectedHeader, generateKeyPair, type JWTHeaderParameters } from "jose";
import { Metadata, Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, UserKind, type User } from "../../gen/launchpad/user/v1/user_pb.js";
import {
  AuthenticateApiKeyResponseSchema,
  CreateUserResponseSchema,
  DeleteApiKeyResponseSchema,
  GetCurrentUserResponseSchema,
  GetUserResponseSchema,
  ListApiKeysResponseSchema,
  ListUsersResponseSchema,
  LoginResponseSchema,
  StreamUsersResponseSchema,
} from "../../gen/launchpad/user/v1/user_service_pb.js";
import { expectGrpcError } from "../support/grpc-errors.js";
import { createTestUser, uniqueEmail, type TestUser } from "../support/test-users.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

let service: TestUsersService;
/** A second service whose access tokens live three seconds. */
let shortLived: TestUsersService;
let adminToken: string;
let rootAdmin: User;

/** Every secret this file handled: none may show up in logs or at rest. */
const secrets = new Set<string>();

/** Remembers secrets, and for "lpk_…"/"lpr_…" secrets also their random part, which alone would leak them. */
function remember(...values: string[]): void {
  for (const value of values) {
    if (value === "") continue;
    secrets.add(value);
    const random = value.replace(/^lp[kr]_[0-9a-f]{16}_/, "");
    if (random !== value) secrets.add(random);
  }
}

async function signIn(target: TestUsersService, email: string, password: string) {
  const { tokens } = await target.client.login({ email, password });
  remember(password, tokens!.accessToken, tokens!.refreshToken);
  return tokens!;
}

async function newPerson(label: string): Promise<TestUser> {
  const person = await createTestUser(service, adminToken, Role.VIEWER, label);
  remember(person.password, person.credential, person.refreshToken);
  return person;
}

async function newApiKey(parent: string, expireTime?: Timestamp) {
  const created = await service.client.createApiKey({ parent, apiKey: { displayName: "test key", expireTime } }, service.auth(adminToken));
  remember(created.secret);
  return created;
}

/** The credential is accepted: GetCurrentUser answers with its user. */
async function expectAccepted(credential: string, user: string, on = service) {
  const response = await on.client.getCurrentUser({}, on.auth(credential));
  expect(response.user?.name).toBe(user);
}

/** The credential is refused with UNAUTHENTICATED and this reason. */
async function expectRefused(credential: string, reason: string, on = service) {
  await expectGrpcError(on.client.getCurrentUser({}, on.auth(credential)), Status.UNAUTHENTICATED, reason);
}

/** Waits until a moment has passed; never asserts on how long anything took. */
async function waitUntilPast(time: Timestamp) {
  const remaining = timestampDate(time).getTime() - Date.now();
  await sleep(Math.max(0, remaining) + 100);
}

const encodePart = (value: object) => base64url.encode(JSON.stringify(value));

/** Ways to forge an access token from a real one; each must be refused with INVALID_TOKEN. */
const forgeries: { title: string; forge: (token: string) => Promise<string> | string }[] = [
  {
    title: "an access token signed by another Ed25519 key, with the same claims and kid",
    async forge(token) {
      const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      return new SignJWT(decodeJwt(token)).setProtectedHeader(decodeProtectedHeader(token) as JWTHeaderParameters).sign(privateKey);
    },
  },
  {
    title: 'an access token with "alg": "none" and no signature',
    forge(token) {
      return `${encodePart({ ...decodeProtectedHeader(token), alg: "none" })}.${token.split(".")[1]}.`;
    },
  },
  {
    title: "an access token whose role claim was changed to admin, signature kept",
    forge(token) {
      const [header, , signature] = token.split(".");
      return `${header}.${encodePart({ ...decodeJwt(token), role: Role.ADMIN })}.${signature}`;
    },
  },
  {
    title: "an access token whose subject was changed to the admin, signature kept",
    forge(token) {
      const [header, , signature] = token.split(".");
      return `${header}.${encodePart({ ...decodeJwt(token), sub: rootAdmin.name, email: admin.email })}.${signature}`;
    },
  },
  {
    title: "an access token signed with HS256 using the published public key as the secret",
    async forge(token) {
      const { keys } = await service.client.getJwks({});
      const secret = new TextEncoder().encode(JSON.stringify(keys[0]));
      return new SignJWT(decodeJwt(token)).setProtectedHeader({ ...decodeProtectedHeader(token), alg: "HS256" }).sign(secret);
    },
  },
  {
    title: "an access token with its signature cut off",
    forge(token) {
      return token.split(".").slice(0, 2).join(".") + ".";
    },
  },
  {
    title: "a bearer value that is not a JWT at all",
    forge: () => "not-a-jwt",
  },
];

beforeAll(async () => {
  [service, shortLived] = await Promise.all([startTestUsers(), startTestUsers({ LAUNCHPAD_ACCESS_TOKEN_TTL: "3s" })]);
  remember(admin.password);
  adminToken = (await signIn(service, admin.email, admin.password)).accessToken;
  rootAdmin = (await service.client.getCurrentUser({}, service.auth(adminToken))).user!;
});
afterAll(async () => {
  await Promise.all([service?.stop(), shortLived?.stop()]);
});

describe("forged access tokens are refused with INVALID_TOKEN, while the real one works", () => {
  it.each(forgeries)("$title", async ({ forge }) => {
    const person = await newPerson("forgery victim");
    const forged = await forge(person.credential);
    expect(forged).not.toBe(person.credential);
    await expectAccepted(person.credential, person.user.name);
    await expectRefused(forged, "INVALID_TOKEN");
    await expectAccepted(person.credential, person.user.name);
  });
});

describe("credentials that have stopped being valid are refused with UNAUTHENTICATED", () => {
  it("an expired access token is refused with TOKEN_EXPIRED, and its refresh token still gets a working one", async () => {
    const tokens = await signIn(shortLived, admin.email, admin.password);
    const me = (await shortLived.client.getCurrentUser({}, shortLived.auth(tokens.accessToken))).user!;
    await waitUntilPast(tokens.accessTokenExpireTime!);
    await expectRefused(tokens.accessToken, "TOKEN_EXPIRED", shortLived);
    const { tokens: next } = await shortLived.client.refreshToken({ refreshToken: tokens.refreshToken });
    remember(next!.accessToken, next!.refreshToken);
    await expectAccepted(next!.accessToken, me.name, shortLived);
  });

  it("a revoked API key is refused with INVALID_API_KEY, by calls and by AuthenticateApiKey", async () => {
    const { user: robot } = await service.client.createUser(
      { user: { email: uniqueEmail("revoked-robot"), kind: UserKind.SERVICE_ACCOUNT, role: Role.AGENT } },
      service.auth(adminToken),
    );
    const key = await newApiKey(robot!.name);
    await expectAccepted(key.secret, robot!.name);
    await service.client.deleteApiKey({ name: key.apiKey!.name }, service.auth(adminToken));
    await expectRefused(key.secret, "INVALID_API_KEY");
    await expectGrpcError(service.client.authenticateApiKey({ apiKey: key.secret }), Status.UNAUTHENTICATED, "INVALID_API_KEY");
  });

  it("an expired API key is refused with INVALID_API_KEY, by calls and by AuthenticateApiKey", async () => {
    const person = await newPerson("expiring key owner");
    const key = await newApiKey(person.user.name, timestampFromDate(new Date(Date.now() + 1500)));
    await expectAccepted(key.secret, person.user.name);
    await waitUntilPast(key.apiKey!.expireTime!);
    await expectRefused(key.secret, "INVALID_API_KEY");
    await expectGrpcError(service.client.authenticateApiKey({ apiKey: key.secret }), Status.UNAUTHENTICATED, "INVALID_API_KEY");
  });

  it("a deleted (disabled) user's access token, refresh token, API key and password all stop working", async () => {
    const person = await newPerson("deleted person");
    const key = await newApiKey(person.user.name);
    await expectAccepted(person.credential, person.user.name);
    await expectAccepted(key.secret, person.user.name);

    await service.client.deleteUser({ name: person.user.name }, service.auth(adminToken));

    await expectRefused(person.credential, "SESSION_ENDED");
    await expectRefused(key.secret, "INVALID_API_KEY");
    await expectGrpcError(service.client.refreshToken({ refreshToken: person.refreshToken }), Status.UNAUTHENTICATED, "SESSION_ENDED");
    await expectGrpcError(service.client.login({ email: person.user.email, password: person.password }), Status.UNAUTHENTICATED, "INVALID_CREDENTIALS");
  });

  it("after Logout that sign-in's access and refresh tokens are refused with SESSION_ENDED; another sign-in keeps working", async () => {
    const person = await newPerson("logging out");
    const other = await signIn(service, person.user.email, person.password);
    await expectAccepted(person.credential, person.user.name);

    await service.client.logout({ refreshToken: person.refreshToken });

    await expectRefused(person.credential, "SESSION_ENDED");
    await expectGrpcError(service.client.refreshToken({ refreshToken: person.refreshToken }), Status.UNAUTHENTICATED, "SESSION_ENDED");
    await expectAccepted(other.accessToken, person.user.name);
  });

  it("an API key this service never issued is refused with INVALID_API_KEY", async () => {
    await expectRefused(`lpk_0123456789abcdef_${"A".repeat(43)}`, "INVALID_API_KEY");
  });

  it('an authorization header that is not "Bearer <credential>" is refused with MALFORMED_CREDENTIALS', async () => {
    await expectGrpcError(
      service.client.getCurrentUser({}, { metadata: Metadata({ authorization: `Basic ${btoa(`${admin.email}:${admin.password}`)}` }) }),
      Status.UNAUTHENTICATED,
      "MALFORMED_CREDENTIALS",
    );
  });
});

describe("secrets are shown once, stored only hashed and never logged", () => {
  it("an API key secret is returned by CreateApiKey only: never by ListApiKeys, DeleteApiKey or AuthenticateApiKey", async () => {
    const person = await newPerson("key holder");
    const key = await newApiKey(person.user.name);
    const asAdmin = service.auth(adminToken);
    const answers = [
      toJsonString(ListApiKeysResponseSchema, await service.client.listApiKeys({ parent: person.user.name }, asAdmin)),
      toJsonString(AuthenticateApiKeyResponseSchema, await service.client.authenticateApiKey({ apiKey: key.secret })),
      toJsonString(DeleteApiKeyResponseSchema, await service.client.deleteApiKey({ name: key.apiKey!.name }, asAdmin)),
      toJsonString(ListApiKeysResponseSchema, await service.client.listApiKeys({ parent: person.user.name, showRevoked: true }, asAdmin)),
    ];
    expect(answers[0]).toContain(key.apiKey!.name);
    const tail = key.secret.replace(/^lpk_[0-9a-f]{16}_/, "");
    for (const answer of answers) {
      expect(answer).not.toContain(tail);
      expect(answer).not.toMatch(/"secret/i);
    }
  });

  it("users are returned without their password or password hash, by every method that returns them", async () => {
    const password = "a password nobody may see again";
    remember(password);
    const asAdmin = service.auth(adminToken);
    const created = await service.client.createUser({ user: { email: uniqueEmail("hash-check"), role: Role.VIEWER }, password }, asAdmin);
    const name = created.user!.name;
    const login = await service.client.login({ email: created.user!.email, password });
    remember(login.tokens!.accessToken, login.tokens!.refreshToken);
    const streamed: string[] = [];
    for await (const item of service.client.streamUsers({}, asAdmin)) streamed.push(toJsonString(StreamUsersResponseSchema, item));
    const answers = [
      toJsonString(CreateUserResponseSchema, created),
      toJsonString(GetUserResponseSchema, await service.client.getUser({ name }, asAdmin)),
      toJsonString(GetCurrentUserResponseSchema, await service.client.getCurrentUser({}, service.auth(login.tokens!.accessToken))),
      toJsonString(ListUsersResponseSchema, await service.client.listUsers({}, asAdmin)),
      toJsonString(LoginResponseSchema, { ...login, tokens: undefined }),
      ...streamed,
    ];
    const hash = readTables(service).users!.find((row) => row.id === name.replace("users/", ""))!.password_hash as string;
    expect(hash).toMatch(/\S{20,}/);
    for (const answer of answers) {
      expect(answer).not.toContain(password);
      expect(answer).not.toContain(hash);
      expect(answer).not.toMatch(/password|scrypt/i);
    }
  });

  it("the database holds no password, API key secret, refresh token or access token in plain text, in any table", () => {
    for (const running of [service, shortLived]) {
      const tables = readTables(running);
      expect(tables.users?.length, "users were read").toBeGreaterThan(0);
      const dump = JSON.stringify(tables);
      const leaked = [...secrets].filter((secret) => dump.includes(secret));
      expect(leaked).toEqual([]);
    }
    expect(readTables(service).api_keys?.length, "API keys were read").toBeGreaterThan(0);
    expect(readTables(service).refresh_tokens?.length, "refresh tokens were read").toBeGreaterThan(0);
  });

  it("no log line names a password, API key secret, refresh token or access token", async () => {
    // One more round of everything that handles secrets, including failures.
    const person = await newPerson("log watcher");
    const key = await newApiKey(person.user.name);
    await expectAccepted(key.secret, person.user.name);
    await service.client.authenticateApiKey({ apiKey: key.secret });
    const wrong = "not the right password at all";
    remember(wrong);
    await expectGrpcError(service.client.login({ email: person.user.email, password: wrong }), Status.UNAUTHENTICATED, "INVALID_CREDENTIALS");
    const { tokens } = await service.client.refreshToken({ refreshToken: person.refreshToken });
    remember(tokens!.accessToken, tokens!.refreshToken);
    await expectGrpcError(service.client.refreshToken({ refreshToken: person.refreshToken }), Status.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED");
    const newPassword = "the next password of the watcher";
    remember(newPassword);
    await service.client.changePassword({ name: person.user.name, newPassword }, service.auth(adminToken));
    await service.client.deleteApiKey({ name: key.apiKey!.name }, service.auth(adminToken));
    await expectRefused(key.secret, "INVALID_API_KEY");

    for (const running of [service, shortLived]) {
      const logs = running.logs.join("");
      expect(logs).toContain("/launchpad.user.v1.UserService/Login");
      const leaked = [...secrets].filter((secret) => logs.includes(secret));
      expect(leaked).toEqual([]);
    }
  });
});

/** Every row of every table of a service's SQLite database, read-only. */
function readTables(running: TestUsersService): Record<string, Record<string, unknown>[]> {
  const db = new SQLite(join(running.dataDir, "users.db"), { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    return Object.fromEntries(tables.map(({ name }) => [name, db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]]));
  } finally {
    db.close();
  }
}
