import { randomBytes } from "node:crypto";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { Status } from "nice-grpc";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { storeTargets } from "../support/databases.js";
import { startTestStack, type TestStack } from "../support/deployments-service.js";
import { expectGrpcError } from "../support/grpc-errors.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

// Finding 2, rotation: a signing key that leaks keeps working forever unless
// keys change. With LAUNCHPAD_SIGNING_KEY_ROTATION a new key takes over on a
// schedule, is published before it signs, and the old one stays published
// exactly as long as tokens it signed may still be valid.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` returns a value; the deadline only guards against hangs. */
async function until<T>(probe: () => Promise<T | undefined>, what: string, deadlineMs = 30_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid!;
const kidsOf = async (users: TestUsersService) => (await users.client.getJwks({})).keys.map((key) => key.kid);

describe("signing keys rotating every 16 s, with 10 s access tokens", () => {
  let stack: TestStack;
  afterAll(() => stack?.stop());

  it("publish the next key before it signs, accept the old key's tokens until they expire, then drop the old key from the JWKS", async () => {
    stack = await startTestStack({ users: { LAUNCHPAD_SIGNING_KEY_ROTATION: "16s", LAUNCHPAD_ACCESS_TOKEN_TTL: "10s" } });
    const { users, deployments } = stack;
    const [first] = await kidsOf(users);
    expect(await kidsOf(users)).toEqual([first]);

    // The next key is published ahead (4 s before it signs).
    const next = await until(async () => (await kidsOf(users)).find((kid) => kid !== first), "the next key in the JWKS");
    const old = await users.login(admin.email, admin.password);
    expect(kidOf(old)).toBe(first);

    // Then it signs, and the old key's token still works where it is checked.
    const fresh = await until(async () => {
      const token = await users.login(admin.email, admin.password);
      return kidOf(token) === next ? token : undefined;
    }, "a token signed by the next key");
    expect(Date.now()).toBeLessThan(decodeJwt(old).exp! * 1000);
    expect(await kidsOf(users)).toEqual(expect.arrayContaining([first, next]));
    await deployments.client.listDeployments({}, stack.auth(old));
    await deployments.client.listDeployments({}, stack.auth(fresh));

    // Once it has expired it is refused, and soon after its key is no longer published.
    await sleep(decodeJwt(old).exp! * 1000 - Date.now() + 1_000);
    await expectGrpcError(deployments.client.listDeployments({}, stack.auth(old)), Status.UNAUTHENTICATED);
    await until(async () => ((await kidsOf(users)).includes(first) ? undefined : true), "the old key to leave the JWKS");
    expect(await kidsOf(users)).toContain(next);
    await deployments.client.listDeployments({}, stack.auth(await users.login(admin.email, admin.password)));
  }, 90_000);
});

const postgres = (await storeTargets()).find((target) => target.name === "postgres");

describe.skipIf(postgres === undefined)("two users replicas on one PostgreSQL, rotating every 8 s", () => {
  const replicas: TestUsersService[] = [];
  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await postgres?.cleanup();
  });

  it("make one key per rotation between them, and each verifies the tokens the other signs", async () => {
    const location = postgres!.fresh();
    const env = {
      LAUNCHPAD_USERS_DATABASE_URL: location.url!,
      LAUNCHPAD_SECRET_KEY: randomBytes(32).toString("base64"),
      LAUNCHPAD_SIGNING_KEY_ROTATION: "8s",
      LAUNCHPAD_ACCESS_TOKEN_TTL: "2s",
    };
    replicas.push(await startTestUsers(env), await startTestUsers(env));
    const [one, two] = replicas as [TestUsersService, TestUsersService];

    // Every key either replica made, read from the shared table for 20 s (two rotations).
    const activations = new Map<string, string>();
    const client = new pg.Client({ connectionString: location.url!.replace(/\?.*$/, "") });
    await client.connect();
    try {
      const schema = new URL(location.url!).searchParams.get("schema")!;
      const until = Date.now() + 20_000;
      while (Date.now() < until) {
        const { rows } = await client.query<{ kid: string; activate_time: string }>(
          `select kid, activate_time from ${client.escapeIdentifier(schema)}.signing_keys`,
        );
        for (const row of rows) activations.set(row.kid, row.activate_time);
        await sleep(200);
      }
    } finally {
      await client.end();
    }
    const times = [...activations.values()].map((time) => Date.parse(time)).sort((a, b) => a - b);
    expect(times.length).toBeGreaterThanOrEqual(3);
    // Replicas racing to rotate would leave two keys activating together.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(8_000);

    // A token from either replica is one the other accepts, whichever key signed it.
    for (const [signer, checker] of [[one, two], [two, one]] as const) {
      const token = await signer.login(admin.email, admin.password);
      expect((await kidsOf(checker)).includes(kidOf(token))).toBe(true);
      const { user } = await checker.client.getCurrentUser({}, checker.auth(token));
      expect(user?.email).toBe(admin.email);
    }
  }, 90_000);
});
