import { randomUUID } from "node:crypto";
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { createTestUser } from "../support/test-users.js";
import { admin } from "../support/users-service.js";

// Finding 5: the edge took the principal for rate limiting from an
// unverified token's `sub`, so forged requests spent a real user's budget
// and junk tokens with random subs escaped the anonymous limit. Only a
// verified credential may name a principal's budget; anything else counts
// against the client address.

const stacks: TestEdgeStack[] = [];
afterEach(async () => {
  await Promise.all(stacks.splice(0).map((stack) => stack.stop()));
});

async function startStack(edge: Record<string, string>): Promise<TestEdgeStack> {
  const stack = await startTestEdgeStack({ edge });
  stacks.push(stack);
  return stack;
}

/** GET /v1/me through the edge with this bearer credential (none when undefined); resolves with the HTTP status. */
async function me(stack: TestEdgeStack, credential?: string): Promise<number> {
  const response = await fetch(`${stack.url}/v1/me`, { headers: credential ? { authorization: `Bearer ${credential}` } : {} });
  await response.arrayBuffer();
  return response.status;
}

/** Sends `count` requests, `concurrency` at a time, and tallies their statuses. */
async function burst(count: number, concurrency: number, send: (i: number) => Promise<number>): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const status = await send(next++);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

/** An access token as an attacker makes it: the victim's sub, the real kid, issuer and audience, signed with the attacker's own key. */
async function forgedTokenLike(realToken: string): Promise<string> {
  const { kid } = decodeProtectedHeader(realToken);
  const claims = decodeJwt(realToken);
  const { privateKey } = await generateKeyPair("EdDSA");
  return new SignJWT({ ...claims, jti: randomUUID(), role: Role.ADMIN })
    .setProtectedHeader({ alg: "EdDSA", kid: kid!, typ: "JWT" })
    .sign(privateKey);
}

/** An unsigned JWT with a random sub, like junk a client invents. */
function junkToken(): string {
  const part = (json: unknown) => Buffer.from(JSON.stringify(json)).toString("base64url");
  return `${part({ alg: "EdDSA", typ: "JWT" })}.${part({ sub: `users/${randomUUID()}`, exp: 4102444800 })}.${part("sig")}`;
}

/** What an anonymous budget of `perMinute` lets through from `startedAt` until now: the burst, the refill, and one for rounding. */
const anonymousAllowance = (perMinute: number, startedAt: number) => perMinute + Math.ceil(((Date.now() - startedAt) / 60_000) * perMinute) + 1;

/** How many calls the users service logged for this method. */
const callsTo = (stack: TestEdgeStack, method: string) => stack.users.logs.filter((line) => line.includes(`"method":"${method}"`)).length;
const authenticateApiKey = "/launchpad.user.v1.UserService/AuthenticateApiKey";

describe("the edge's rate-limit budgets (finding 5)", () => {
  it("620 forged tokens naming a real user do not make that user get 429", async () => {
    const stack = await startStack({});
    const victimToken = await stack.users.login(admin.email, admin.password);
    expect(await me(stack, victimToken)).toBe(200);
    const forged = await forgedTokenLike(victimToken);
    // The forgery really is refused by the service: it only ever spends the address's anonymous budget.
    expect(await me(stack, forged)).toBe(401);

    const startedAt = Date.now();
    const attack = await burst(620, 20, () => me(stack, forged));

    // The address's anonymous budget: a burst of 120, and 2 a second refilled while the attack runs; never a 200.
    expect(attack.get(200) ?? 0).toBe(0);
    expect(620 - (attack.get(429) ?? 0)).toBeLessThanOrEqual(anonymousAllowance(120, startedAt));
    const victim = await burst(20, 5, () => me(stack, victimToken));
    expect(victim).toEqual(new Map([[200, 20]]));
  });

  it("200 junk bearer tokens with random subs from one address get the anonymous limit, 120 of 200", async () => {
    const stack = await startStack({ LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "120" });

    const startedAt = Date.now();
    const junk = await burst(200, 10, () => me(stack, junkToken()));

    const passed = 200 - (junk.get(429) ?? 0);
    expect(passed).toBeGreaterThanOrEqual(120);
    expect(passed).toBeLessThanOrEqual(anonymousAllowance(120, startedAt));
    // The same address without any credential shares that spent budget.
    const anonymous = await burst(20, 1, () => me(stack));
    expect(anonymous.get(429) ?? 0).toBeGreaterThanOrEqual(10);
  });

  it("random API keys cost the users service no lookups once the address's anonymous budget is spent", async () => {
    const stack = await startStack({ LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "10" });
    const randomKey = () => `lpk_${randomUUID().replaceAll("-", "").slice(0, 16)}_${randomUUID().replaceAll("-", "")}`;
    await burst(10, 1, () => me(stack));
    const lookupsBefore = callsTo(stack, authenticateApiKey);

    const startedAt = Date.now();
    const attack = await burst(200, 10, () => me(stack, randomKey()));

    // Only the calls refilled while the attack ran were let through, and only their keys were looked up.
    const refilled = anonymousAllowance(10, startedAt) - 10;
    expect(200 - (attack.get(429) ?? 0)).toBeLessThanOrEqual(refilled);
    expect(callsTo(stack, authenticateApiKey) - lookupsBefore).toBeLessThanOrEqual(refilled);
  });

  it("a real token's and a real API key's requests are counted against their principal, not the address", async () => {
    const stack = await startStack({ LAUNCHPAD_RATE_LIMIT: "5", LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "100" });
    const adminToken = await stack.users.login(admin.email, admin.password);
    const viewer = await createTestUser(stack.users, adminToken, Role.VIEWER);
    const agent = await createTestUser(stack.users, adminToken, Role.AGENT);

    // The admin signed in twice (two tokens, one principal): together they get 5.
    const otherAdminToken = await stack.users.login(admin.email, admin.password);
    const adminCalls = await burst(8, 1, (i) => me(stack, i % 2 === 0 ? adminToken : otherAdminToken));
    expect(adminCalls).toEqual(new Map([[200, 5], [429, 3]]));

    // Another principal from the same address has its own budget, and so do anonymous calls.
    expect(await burst(5, 1, () => me(stack, viewer.credential))).toEqual(new Map([[200, 5]]));
    expect(await me(stack)).toBe(401);

    // An API key: its first call, while the key is looked up, counts as anonymous; then its principal's 5.
    const keyCalls = await burst(10, 1, () => me(stack, agent.credential));
    expect(keyCalls.get(200) ?? 0).toBeGreaterThanOrEqual(5);
    expect(keyCalls.get(429) ?? 0).toBeGreaterThanOrEqual(1);
    expect(callsTo(stack, authenticateApiKey)).toBeGreaterThanOrEqual(1);
    expect(await me(stack)).toBe(401);
  });
});
