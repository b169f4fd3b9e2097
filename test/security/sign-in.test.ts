import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { request } from "node:http";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Metadata, Status, createChannel } from "nice-grpc";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { proxySecretHeader } from "../../services/kit/proxy-secret.js";
import { usersSettings } from "../../services/users/config.js";
import { defaultThrottlePolicy } from "../../services/users/login-throttle.js";
import { storeTargets } from "../support/databases.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { expectGrpcError, outcomeOf as answerOf } from "../support/grpc-errors.js";
import { startLaunchpad } from "../support/program.js";
import { ephemeralEnv, programSandbox } from "../support/program-sandbox.js";
import { typedClient } from "../support/typed-client.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

// Findings 1, 4 (the users side), 10, 13 and 14 of the security review, and
// the scrypt parameters: each attack as it was made, against real services
// on 127.0.0.1, and what must happen instead.

const { account, address } = defaultThrottlePolicy;
const wrongPassword = "not the password at all";
const proxySecret = randomBytes(24).toString("base64url");

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((part) => part.stop()));
});

async function users(env: Record<string, string> = {}): Promise<TestUsersService> {
  const service = await startTestUsers(env);
  running.push(service);
  return service;
}

/** Users, deployments and the edge sharing a proxy secret; the edge's own anonymous limit is off so only the users service throttles. */
async function edgeStack(usersEnv: Record<string, string> = {}): Promise<TestEdgeStack> {
  const stack = await startTestEdgeStack({
    users: { LAUNCHPAD_PROXY_SECRET: proxySecret, ...usersEnv },
    edge: { LAUNCHPAD_PROXY_SECRET: proxySecret, LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "0" },
  });
  running.push(stack);
  return stack;
}


/** How many of the answers were each of the given kinds. */
function tally(answers: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) counts[answer] = (counts[answer] ?? 0) + 1;
  return counts;
}

const refused = "RESOURCE_EXHAUSTED TOO_MANY_SIGN_IN_ATTEMPTS";
const wrong = "UNAUTHENTICATED INVALID_CREDENTIALS";

/** A Connect JSON Login through the edge, from `localAddress` (any 127.x address is this machine). */
function edgeLogin(
  edge: { url: string },
  body: { email: string; password: string },
  localAddress = "127.0.0.1",
  headers: Record<string, string> = {},
): Promise<{ status: number; code?: string; violations?: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${edge.url}/launchpad.user.v1.UserService/Login`,
      {
        method: "POST",
        localAddress,
        agent: false,
        headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          const json = (text ? JSON.parse(text) : {}) as { code?: string; message?: string };
          resolve({ status: res.statusCode!, code: json.code, violations: json.message });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

describe("finding 1: concurrent wrong passwords are admitted atomically", () => {
  it(`40 simultaneous wrong passwords for one account: at most ${account.refuseAfter} are checked, the rest RESOURCE_EXHAUSTED`, async () => {
    const service = await users();
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => answerOf(service.client.login({ email: admin.email, password: wrongPassword }))),
    );
    const counts = tally(answers);
    expect(Object.keys(counts).sort()).toEqual([refused, wrong].sort());
    expect(counts[wrong]).toBeLessThanOrEqual(account.refuseAfter);
    expect(counts[refused]).toBeGreaterThanOrEqual(40 - account.refuseAfter);
    // The right password is refused too, now the account is locked.
    await expectGrpcError(service.client.login(admin), Status.RESOURCE_EXHAUSTED, "TOO_MANY_SIGN_IN_ATTEMPTS");
  });

  it("30 at once through the edge with the right password last: not signed in", async () => {
    // The default scrypt cost: each check takes long enough that all 30 are in flight together.
    const stack = await edgeStack({ LAUNCHPAD_PASSWORD_COST: "17" });
    let checkedBeforeLast = 0;
    let firstRefusal!: () => void;
    const refusedOnce = new Promise<void>((resolve) => (firstRefusal = resolve));
    const guesses = Array.from({ length: 29 }, () =>
      edgeLogin(stack, { email: admin.email, password: wrongPassword }).then((answer) => {
        if (answer.status === 401) checkedBeforeLast++;
        if (answer.status === 429) firstRefusal();
        return answer;
      }),
    );
    // The right password goes last: once the limit is reached, while admitted guesses are still being hashed.
    await Promise.race([refusedOnce, Promise.all(guesses)]);
    const checkedWhenLastSent = checkedBeforeLast;
    const last = await edgeLogin(stack, admin);
    const answers = await Promise.all(guesses);

    expect(checkedWhenLastSent).toBeLessThan(account.refuseAfter);
    expect(last).toMatchObject({ status: 429, code: "resource_exhausted" });
    expect(answers.filter((a) => a.status === 401).length).toBeLessThanOrEqual(account.refuseAfter);
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThanOrEqual(29 - account.refuseAfter);
    expect(answers.every((a) => a.status === 401 || a.status === 429)).toBe(true);
  });

  it(`60 simultaneous failures from one address across different emails: at most ${address.refuseAfter} are checked`, async () => {
    const service = await users();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => answerOf(service.client.login({ email: `burst${i}@example.com`, password: wrongPassword }))),
    );
    const counts = tally(answers);
    expect(counts[wrong]).toBeLessThanOrEqual(address.refuseAfter);
    expect(counts[refused]).toBeGreaterThanOrEqual(60 - address.refuseAfter);
  });
});

const postgres = (await storeTargets()).find((target) => target.name === "postgres");

describe.skipIf(postgres === undefined)("finding 1 on PostgreSQL: two users replicas on one database", () => {
  afterAll(() => postgres?.cleanup());

  it(`40 concurrent wrong passwords split across the replicas: at most ${account.refuseAfter} checked, the rest RESOURCE_EXHAUSTED`, async () => {
    const env = { LAUNCHPAD_USERS_DATABASE_URL: postgres!.fresh().url!, LAUNCHPAD_SECRET_KEY: randomBytes(32).toString("base64") };
    const first = await users(env);
    const second = await users(env);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => answerOf((i % 2 ? first : second).client.login({ email: admin.email, password: wrongPassword }))),
    );
    const counts = tally(answers);
    expect(counts[wrong]).toBeLessThanOrEqual(account.refuseAfter);
    expect(counts[refused]).toBeGreaterThanOrEqual(40 - account.refuseAfter);
    await expectGrpcError(first.client.login(admin), Status.RESOURCE_EXHAUSTED, "TOO_MANY_SIGN_IN_ATTEMPTS");
    await expectGrpcError(second.client.login(admin), Status.RESOURCE_EXHAUSTED, "TOO_MANY_SIGN_IN_ATTEMPTS");
  });
});

describe("finding 4: failed sign-ins with huge emails cannot fill the disk", () => {
  const hugeEmail = `${"x".repeat(3_900_000)}@example.com`;

  /** users.db with its WAL, in bytes. */
  function databaseBytes(dataDir: string): number {
    const size = (file: string) => {
      try {
        return statSync(join(dataDir, file)).size;
      } catch {
        return 0;
      }
    };
    return size("users.db") + size("users.db-wal");
  }

  it("six sign-ins with 3.9 MB emails, direct and through the edge, are INVALID_ARGUMENT and leave the database as it was", async () => {
    const stack = await edgeStack();
    const before = databaseBytes(stack.users.dataDir);
    for (let i = 0; i < 3; i++) {
      const failure = await expectGrpcError(stack.users.client.login({ email: hugeEmail, password: wrongPassword }), Status.INVALID_ARGUMENT);
      expect(failure.message).toMatch(/email/);
      const answer = await edgeLogin(stack, { email: hugeEmail, password: wrongPassword });
      expect(answer).toMatchObject({ status: 400, code: "invalid_argument" });
      expect(answer.violations).toMatch(/email/);
    }
    expect(databaseBytes(stack.users.dataDir) - before).toBeLessThan(256 * 1024);
  });

  it("a 1 MB password is INVALID_ARGUMENT before any hashing", async () => {
    const service = await users();
    const failure = await expectGrpcError(
      service.client.login({ email: admin.email, password: "p".repeat(1024 * 1024) }),
      Status.INVALID_ARGUMENT,
    );
    expect(failure.message).toMatch(/password/);
    // Not counted as a failed sign-in either: the account is not locked by it.
    expect(await answerOf(service.client.login(admin))).toBe("OK");
  });

  it("throttle rows hold hashes, never the email or the address", async () => {
    const service = await users();
    const email = "someone.to.find@example.com";
    await answerOf(service.client.login({ email, password: wrongPassword }));
    const db = new Database(join(service.dataDir, "users.db"), { readonly: true });
    try {
      const keys = (db.prepare("select key from login_failures").all() as { key: string }[]).map((row) => row.key);
      expect(keys).toHaveLength(2);
      for (const key of keys) {
        expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(key).not.toContain("someone");
      }
    } finally {
      db.close();
    }
  });
});

describe("finding 10: ChangePassword is throttled and ends the other sign-ins", () => {
  async function withUser(service: TestUsersService) {
    const adminToken = await service.login(admin.email, admin.password);
    const password = "the first password";
    const { user } = await service.client.createUser(
      { user: { email: "changer@example.com", role: Role.VIEWER }, password },
      service.auth(adminToken),
    );
    return { user: user!, password };
  }

  it(`30 parallel wrong current passwords from a token holder: at most ${account.refuseAfter} checked, the rest RESOURCE_EXHAUSTED`, async () => {
    const service = await users();
    const { user, password } = await withUser(service);
    const token = await service.login(user.email, password);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        answerOf(
          service.client.changePassword({ name: user.name, currentPassword: `guess number ${i}`, newPassword: "a brand new password" }, service.auth(token)),
        ),
      ),
    );
    const counts = tally(answers);
    expect(counts["INVALID_ARGUMENT INCORRECT_PASSWORD"]).toBeLessThanOrEqual(account.refuseAfter);
    expect(counts[refused]).toBeGreaterThanOrEqual(30 - account.refuseAfter);
    // The same budget as signing in: the right password is refused now, both ways.
    await expectGrpcError(
      service.client.changePassword({ name: user.name, currentPassword: password, newPassword: "a brand new password" }, service.auth(token)),
      Status.RESOURCE_EXHAUSTED,
      "TOO_MANY_SIGN_IN_ATTEMPTS",
    );
    await expectGrpcError(service.client.login({ email: user.email, password }), Status.RESOURCE_EXHAUSTED, "TOO_MANY_SIGN_IN_ATTEMPTS");
  });

  it("a successful change revokes the user's other sign-ins and keeps the caller's", async () => {
    const service = await users();
    const { user, password } = await withUser(service);
    const other = await service.client.login({ email: user.email, password });
    const mine = await service.login(user.email, password);
    await service.client.changePassword({ name: user.name, currentPassword: password, newPassword: "a brand new password" }, service.auth(mine));

    await expectGrpcError(service.client.getCurrentUser({}, service.auth(other.tokens!.accessToken)), Status.UNAUTHENTICATED, "SESSION_ENDED");
    await expectGrpcError(service.client.refreshToken({ refreshToken: other.tokens!.refreshToken }), Status.UNAUTHENTICATED, "SESSION_ENDED");
    expect((await service.client.getCurrentUser({}, service.auth(mine))).user?.name).toBe(user.name);
  });
});

describe("finding 13: look-alike emails and names", () => {
  async function asAdmin(service: TestUsersService) {
    return service.auth(await service.login(admin.email, admin.password));
  }

  it("refuses an email with a zero-width space, and names with invisible or bidirectional characters", async () => {
    const service = await users();
    const auth = await asAdmin(service);
    await service.client.createUser({ user: { email: "user@example.com", role: Role.VIEWER }, password: "a long password" }, auth);
    for (const email of ["user\u200b@example.com", "user\u00ad@example.com", "\u202euser@example.com"]) {
      const failure = await expectGrpcError(
        service.client.createUser({ user: { email, role: Role.VIEWER }, password: "a long password" }, auth),
        Status.INVALID_ARGUMENT,
        "INVALID_EMAIL",
      );
      expect(failure.message).toMatch(/user\.email/);
    }
    for (const displayName of ["Ada\u200dLovelace", "Ada \u202eecalevoL", "Ada\u2066 Lovelace"]) {
      await expectGrpcError(
        service.client.createUser({ user: { email: "ada@example.com", displayName, role: Role.VIEWER }, password: "a long password" }, auth),
        Status.INVALID_ARGUMENT,
        "INVALID_DISPLAY_NAME",
      );
    }
  });

  it("refuses emails with letters of other scripts that pass for Latin ones, and takes punycode domains", async () => {
    const service = await users();
    const auth = await asAdmin(service);
    // A Cyrillic а, a Greek ο, an ideographic full stop, a Cyrillic а in the domain.
    for (const email of ["\u0430dmin@launchpad.local", "depl\u03bfyer@example.com", "admin@launchpad.local\u3002", "deployer@ex\u0430mple.com"]) {
      const failure = await expectGrpcError(
        service.client.createUser({ user: { email, role: Role.VIEWER }, password: "a long password" }, auth),
        Status.INVALID_ARGUMENT,
        "INVALID_EMAIL",
      );
      expect(failure.message).toMatch(/user\.email.*ASCII/);
    }
    const punycode = await service.client.createUser({ user: { email: "ada@xn--bcher-kva.example", role: Role.VIEWER }, password: "a long password" }, auth);
    expect(punycode.user?.email).toBe("ada@xn--bcher-kva.example");
  });

  it("varİant@…, VARIANT@… and full-width spellings are the same email as variant@…", async () => {
    const service = await users();
    const auth = await asAdmin(service);
    await service.client.createUser({ user: { email: "variant@example.com", role: Role.VIEWER }, password: "a long password" }, auth);
    for (const email of ["varİant@example.com", "VARIANT@example.com", "ｖａｒｉａｎｔ@example.com"]) {
      await expectGrpcError(
        service.client.createUser({ user: { email, role: Role.VIEWER }, password: "a long password" }, auth),
        Status.ALREADY_EXISTS,
        "EMAIL_TAKEN",
      );
    }
    // And signing in with a look-alike spelling reaches the one account.
    expect(await answerOf(service.client.login({ email: "varİant@example.com", password: "a long password" }))).toBe("OK");
  });
});

describe("finding 14: only the edge may vouch for a client address", () => {
  it("55 failures sent straight to the users service with rotating x-forwarded-for are still refused past the address limit", async () => {
    const service = await users({ LAUNCHPAD_PROXY_SECRET: proxySecret });
    const answers: string[] = [];
    for (let i = 0; i < 55; i++) {
      // A local process, a trusted address, without the secret (or with a guess).
      const metadata = Metadata({ "x-forwarded-for": `198.51.100.${i}`, ...(i % 2 ? { [proxySecretHeader]: "a guessed secret" } : {}) });
      answers.push(await answerOf(service.client.login({ email: `rotating${i}@example.com`, password: wrongPassword }, { metadata })));
    }
    expect(answers.slice(0, address.refuseAfter)).toEqual(Array<string>(address.refuseAfter).fill(wrong));
    expect(answers.slice(address.refuseAfter)).toEqual(Array<string>(55 - address.refuseAfter).fill(refused));
  });

  it("a vouched IPv6 client is throttled by its /64, as the edge keys it: walking through the prefix earns no fresh budget", async () => {
    const service = await users({ LAUNCHPAD_PROXY_SECRET: proxySecret });
    const from = (client: string) => ({ metadata: Metadata({ "x-forwarded-for": client, [proxySecretHeader]: proxySecret }) });
    for (let i = 0; i < address.refuseAfter; i++) {
      expect(await answerOf(service.client.login({ email: `prefix${i}@example.com`, password: wrongPassword }, from("2001:db8:1:2::1")))).toBe(wrong);
    }
    expect(await answerOf(service.client.login({ email: "prefix-next@example.com", password: wrongPassword }, from("2001:db8:1:2::2")))).toBe(refused);
    // Another /64 is another client.
    expect(await answerOf(service.client.login({ email: "prefix-next@example.com", password: wrongPassword }, from("2001:db8:1:3::1")))).toBe(wrong);
  });

  it("through the edge, each client address keeps its own budget, whatever x-forwarded-for or secret a client sends", async () => {
    const stack = await edgeStack();
    // 127.0.0.2 spends its whole budget through the edge, naming other addresses and guessing the secret in vain...
    for (let i = 0; i < address.refuseAfter; i++) {
      const forged = { "x-forwarded-for": `198.51.100.${i}`, [proxySecretHeader]: "a guessed secret" };
      expect((await edgeLogin(stack, { email: `spender${i}@example.com`, password: wrongPassword }, "127.0.0.2", forged)).status).toBe(401);
    }
    expect(await edgeLogin(stack, admin, "127.0.0.2")).toMatchObject({ status: 429, code: "resource_exhausted" });
    // ...which is its own, not the edge's: another client still signs in.
    expect((await edgeLogin(stack, admin, "127.0.0.3")).status).toBe(200);
  });
});

describe("finding 14 in the program: --target=all vouches for client addresses with a secret of its own", () => {
  const sandbox = programSandbox("launchpad-sign-in-");

  it("with no proxy secret configured, the edge's forwarded address is honoured and a local caller's is not", async () => {
    const program = await startLaunchpad(["--target=all"], {
      ...ephemeralEnv(sandbox.newDataDir()),
      LAUNCHPAD_DEMO_AGENT: "off",
      LAUNCHPAD_ADMIN_EMAIL: admin.email,
      LAUNCHPAD_ADMIN_PASSWORD: admin.password,
      LAUNCHPAD_LOGIN_DELAY: "0ms",
      // Fifty failed checks: a cheap hash keeps this quick; the cost does not change what is counted.
      LAUNCHPAD_PASSWORD_COST: "12",
      LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "0",
    });
    const edge = { url: /edge\s+(http:\/\/[\d.]+:\d+)/.exec(program.stdout())![1]! };
    for (let i = 0; i < address.refuseAfter; i++) {
      expect((await edgeLogin(edge, { email: `spender${i}@example.com`, password: wrongPassword }, "127.0.0.2")).status).toBe(401);
    }
    expect(await edgeLogin(edge, admin, "127.0.0.2")).toMatchObject({ status: 429, code: "resource_exhausted" });
    expect((await edgeLogin(edge, admin, "127.0.0.3")).status).toBe(200);

    // Straight to the users service, a forwarded address is not believed: the caller's own budget is spent.
    const channel = createChannel(`127.0.0.1:${program.usersPort}`);
    try {
      const client = typedClient(UserService, channel);
      const answers: string[] = [];
      for (let i = 0; i <= address.refuseAfter; i++) {
        const metadata = Metadata({ "x-forwarded-for": `203.0.113.${i}` });
        answers.push(await answerOf(client.login({ email: `direct${i}@example.com`, password: wrongPassword }, { metadata })));
      }
      expect(answers.at(-1)).toBe(refused);
    } finally {
      channel.close();
    }
  });
});

describe("scrypt parameters", () => {
  /** The stored password hash of a user, read from the users database. */
  function storedHash(dataDir: string, email: string): string {
    const db = new Database(join(dataDir, "users.db"), { readonly: true });
    try {
      return (db.prepare("select password_hash from users where email = ?").get(email) as { password_hash: string }).password_hash;
    } finally {
      db.close();
    }
  }

  it("hashes at OWASP's minimum (N=2^17, r=8, p=1) by default, and rehashes an older hash at the next successful sign-in", async () => {
    expect(usersSettings.passwordCost.defaultValue).toBe(17);
    const dataDir = mkdtempSync(join(tmpdir(), "launchpad-rehash-"));
    running.push({ stop: async () => rmSync(dataDir, { recursive: true, force: true }) });
    // A user hashed with weaker parameters, as an older release stored it.
    const older = await users({ LAUNCHPAD_DATA_DIR: dataDir, LAUNCHPAD_PASSWORD_COST: "14" });
    const auth = older.auth(await older.login(admin.email, admin.password));
    await older.client.createUser({ user: { email: "old@example.com", role: Role.VIEWER }, password: "an old password" }, auth);
    expect(storedHash(dataDir, "old@example.com")).toMatch(/^scrypt\$16384\$8\$1\$/);
    await older.stop();
    running.splice(running.indexOf(older), 1);

    const current = await users({ LAUNCHPAD_DATA_DIR: dataDir, LAUNCHPAD_PASSWORD_COST: "17" });
    await expectGrpcError(current.client.login({ email: "old@example.com", password: "a wrong password" }), Status.UNAUTHENTICATED);
    expect(storedHash(dataDir, "old@example.com")).toMatch(/^scrypt\$16384\$/);
    await current.login("old@example.com", "an old password");
    expect(storedHash(dataDir, "old@example.com")).toMatch(/^scrypt\$131072\$8\$1\$/);
    await current.login("old@example.com", "an old password");
  });
});
