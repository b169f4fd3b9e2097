import { Status } from "nice-grpc";
import { RetryInfo, RichClientError } from "nice-grpc-error-details";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { defaultThrottlePolicy } from "../../services/users/login-throttle.js";
import { expectGrpcError, outcomeOf } from "../support/grpc-errors.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

const { account, address, windowMs } = defaultThrottlePolicy;
const wrongPassword = "not the password at all";

// Every test gets its own service: the per-address count is shared by every
// call from 127.0.0.1, so tests must not see each other's failures.
let service: TestUsersService;
beforeEach(async () => {
  service = await startTestUsers();
});
afterEach(() => service?.stop());

/** The answers to `count` sign-ins with `password`, one after the other. */
async function attempts(email: string, password: string, count: number): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < count; i++) answers.push(await answerOf(service.client.login({ email, password })));
  return answers;
}

/** "OK", or the code, reason and message a failed call carried. */
const answerOf = (call: Promise<unknown>) => outcomeOf(call, { withMessage: true });

/** The retry delay, in seconds, of a call refused with RetryInfo. */
async function retryDelayOf(call: Promise<unknown>): Promise<number> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RichClientError);
  const retry = (error as RichClientError).extra.find((d): d is RetryInfo => d.$type === RetryInfo.$type);
  expect(retry?.retryDelay).toBeDefined();
  return retry!.retryDelay!.seconds;
}

async function createUser(email: string, password: string): Promise<void> {
  const token = await service.login(admin.email, admin.password);
  await service.client.createUser({ user: { email, role: Role.VIEWER }, password }, service.auth(token));
}

const invalid = expect.stringMatching(/^UNAUTHENTICATED INVALID_CREDENTIALS /);
const refused = expect.stringMatching(/^RESOURCE_EXHAUSTED TOO_MANY_SIGN_IN_ATTEMPTS /);

describe("sign-in throttling", () => {
  it(`refuses an account after ${account.refuseAfter} failed sign-ins with RESOURCE_EXHAUSTED and a RetryInfo`, async () => {
    const answers = await attempts(admin.email, wrongPassword, account.refuseAfter + 2);
    expect(answers).toEqual([...Array<unknown>(account.refuseAfter).fill(invalid), refused, refused]);

    const failure = await expectGrpcError(
      service.client.login({ email: admin.email, password: wrongPassword }),
      Status.RESOURCE_EXHAUSTED,
      "TOO_MANY_SIGN_IN_ATTEMPTS",
    );
    expect(failure.message).not.toMatch(/admin|exist|unknown/i);
    const seconds = await retryDelayOf(service.client.login({ email: admin.email, password: wrongPassword }));
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(windowMs / 1000);
  });

  it("refuses the correct password too while the account is locked", async () => {
    await attempts(admin.email, wrongPassword, account.refuseAfter);
    await expectGrpcError(service.client.login(admin), Status.RESOURCE_EXHAUSTED, "TOO_MANY_SIGN_IN_ATTEMPTS");
  });

  it("answers an email that does not exist exactly as a real one (no enumeration)", async () => {
    const count = account.refuseAfter + 2;
    const real = await attempts(admin.email, wrongPassword, count);
    const madeUp = await attempts("nobody-here@example.com", wrongPassword, count);
    expect(madeUp).toEqual(real);
    expect(real.at(-1)).toEqual(refused);
  });

  it("counts one account however its email is spelled", async () => {
    const spellings = [admin.email, admin.email.toUpperCase(), ` ${admin.email} `, "Admin@Example.com"];
    for (let i = 0; i < account.refuseAfter; i++) {
      expect(await answerOf(service.client.login({ email: spellings[i % spellings.length]!, password: wrongPassword }))).toEqual(invalid);
    }
    await expectGrpcError(service.client.login(admin), Status.RESOURCE_EXHAUSTED, "TOO_MANY_SIGN_IN_ATTEMPTS");
  });

  it("a successful sign-in before the limit clears the account's count", async () => {
    await createUser("clears@example.com", "the right password");
    const almost = account.refuseAfter - 1;
    expect(await attempts("clears@example.com", wrongPassword, almost)).toEqual(Array<unknown>(almost).fill(invalid));
    expect(await answerOf(service.client.login({ email: "clears@example.com", password: "the right password" }))).toBe("OK");
    // Without the reset these would pass the limit.
    expect(await attempts("clears@example.com", wrongPassword, almost)).toEqual(Array<unknown>(almost).fill(invalid));
    expect(await answerOf(service.client.login({ email: "clears@example.com", password: "the right password" }))).toBe("OK");
  });

  it("does not let one account's failures lock another account", async () => {
    await createUser("bystander@example.com", "the right password");
    await attempts(admin.email, wrongPassword, account.refuseAfter);
    await expectGrpcError(service.client.login(admin), Status.RESOURCE_EXHAUSTED, "TOO_MANY_SIGN_IN_ATTEMPTS");
    expect(await answerOf(service.client.login({ email: "bystander@example.com", password: "the right password" }))).toBe("OK");
  });

  it(`refuses an address after ${address.refuseAfter} failures across different emails, even with a correct password`, async () => {
    const emails = Array.from({ length: address.refuseAfter - 1 }, (_, i) => `guess${i}@example.com`);
    // Each email fails once, far below the per-account limit.
    const answers = await Promise.all(emails.map((email) => answerOf(service.client.login({ email, password: wrongPassword }))));
    expect(answers).toEqual(Array<unknown>(emails.length).fill(invalid));
    // Below the limit a correct password still signs in; it clears the account, not the address.
    expect(await answerOf(service.client.login(admin))).toBe("OK");
    expect(await answerOf(service.client.login({ email: "one-more@example.com", password: wrongPassword }))).toEqual(invalid);

    await expectGrpcError(service.client.login(admin), Status.RESOURCE_EXHAUSTED, "TOO_MANY_SIGN_IN_ATTEMPTS");
    expect(await answerOf(service.client.login({ email: "fresh@example.com", password: wrongPassword }))).toEqual(refused);
    const seconds = await retryDelayOf(service.client.login({ email: "fresh@example.com", password: wrongPassword }));
    expect(seconds).toBeGreaterThan(0);
  });
});
