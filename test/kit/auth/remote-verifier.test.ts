import { createServer, type Server, type Socket } from "node:net";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { isAbortError } from "abort-controller-x";
import { SignJWT, decodeJwt, generateKeyPair } from "jose";
import { Status } from "nice-grpc";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Role, UserKind } from "../../../gen/launchpad/user/v1/user_pb.js";
import { createRemoteVerifier, type RemoteVerifier, type RemoteVerifierOptions } from "../../../services/kit/auth/remote-verifier.js";
import { DomainError, type ErrorKind } from "../../../services/kit/errors.js";
import { expectGrpcError } from "../../support/grpc-errors.js";
import { createTestUser, uniqueEmail } from "../../support/test-users.js";
import { admin, startTestUsers, type TestUsersService } from "../../support/users-service.js";

const rules = { issuer: "launchpad", audience: "launchpad" };

let service: TestUsersService;
let adminToken: string;
const opened: RemoteVerifier[] = [];

beforeAll(async () => {
  service = await startTestUsers();
  adminToken = await service.login(admin.email, admin.password);
});
afterEach(() => {
  for (const verifier of opened.splice(0)) verifier.close();
});
afterAll(async () => {
  await service?.stop();
});

/** A clock the test moves by hand. */
function manualClock() {
  let now = Date.now();
  return {
    clock: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}

/** A remote verifier of `on` (the shared users service unless given), closed after the test. */
function remoteVerifier(options: Partial<RemoteVerifierOptions> = {}, on = service): RemoteVerifier {
  const verifier = createRemoteVerifier({ users: on.address, rules, ...options });
  opened.push(verifier);
  return verifier;
}

/** How many calls of a UserService method the users service has answered, by its /metrics. */
async function handled(method: "GetJwks" | "AuthenticateApiKey", on = service): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${on.running.metricsPort}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("grpc_server_handled_total{") && line.includes(`grpc_method="${method}"`))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** A new service account holding a new API key. */
async function newRobot(label: string) {
  return createTestUser(service, adminToken, Role.AGENT, label);
}

/** Awaits a verification that must fail with a DomainError of this kind and reason. */
async function expectRefused(verification: Promise<unknown>, kind: ErrorKind, reason: string): Promise<DomainError> {
  const error = await verification.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(DomainError);
  expect({ kind: (error as DomainError).kind, reason: (error as DomainError).reason }).toEqual({ kind, reason });
  return error as DomainError;
}

/** Verifies until the credential is refused as unauthenticated with `reason`; fails when it still passes after `ms`. */
async function expectRefusedWithin(verify: () => Promise<unknown>, reason: string, ms: number): Promise<void> {
  const outcome = async () =>
    verify().then(
      () => "accepted",
      (error: unknown) => (error instanceof DomainError ? `${error.kind} ${error.reason}` : String(error)),
    );
  await expect.poll(outcome, { timeout: ms, interval: 50 }).toBe(`unauthenticated ${reason}`);
}

/** An access token with the right issuer and audience, signed by a key users never published. */
async function tokenOfUnknownKey(kid: string): Promise<string> {
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  return new SignJWT({ email: "mallory@example.com", kind: UserKind.HUMAN, role: Role.ADMIN, envs: [], sid: "s" })
    .setProtectedHeader({ alg: "EdDSA", kid })
    .setSubject("users/mallory")
    .setIssuer(rules.issuer)
    .setAudience(rules.audience)
    .setJti(kid)
    .setExpirationTime("10m")
    .sign(privateKey);
}

/** A TCP server that accepts connections and never says a word: a users service that hangs. */
async function silentServer(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => void sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs a verification that must fail, and how many milliseconds it took to. */
async function failureWithin<T>(verification: Promise<T>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await verification.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  return { error, ms: Date.now() - started };
}

describe("access tokens are verified locally, against the JWKS fetched from users", () => {
  it("a Login access token is accepted, and the principal comes from its claims", async () => {
    const password = "password of the staging deployer";
    const email = uniqueEmail("staging deployer");
    const { user } = await service.client.createUser(
      { user: { email, role: Role.DEPLOYER, environments: ["staging"] }, password },
      service.auth(adminToken),
    );
    const token = await service.login(email, password);

    const principal = await remoteVerifier().verifyAccessToken(token);

    expect(principal).toEqual({
      user: user!.name,
      email,
      kind: UserKind.HUMAN,
      role: Role.DEPLOYER,
      environments: ["staging"],
      credential: "access-token",
      sessionId: decodeJwt(token).sid,
    });
    expect(principal.sessionId).not.toBe("");
  });

  it("the JWKS is fetched once, on first use, for any number of tokens and concurrent verifications", async () => {
    const people = await Promise.all([1, 2, 3].map((n) => createTestUser(service, adminToken, Role.VIEWER, `jwks reader ${n}`)));
    const tokens = [adminToken, ...people.map((person) => person.credential)];
    const verifier = remoteVerifier();
    const before = await handled("GetJwks");

    await Promise.all(tokens.flatMap((token) => [verifier.verifyAccessToken(token), verifier.verifyAccessToken(token)]));
    for (const token of tokens) await verifier.verifyAccessToken(token);

    expect(await handled("GetJwks")).toBe(before + 1);
  });

  it("a token naming an unknown key is refused with INVALID_TOKEN after one refetch, and refetches are rate-limited", async () => {
    const { clock, advance } = manualClock();
    const verifier = remoteVerifier({ clock, jwksRefreshIntervalMs: 5_000 });
    await verifier.verifyAccessToken(adminToken);
    const afterFirstFetch = await handled("GetJwks");
    advance(5_000);

    await expectRefused(verifier.verifyAccessToken(await tokenOfUnknownKey("unknown-1")), "unauthenticated", "INVALID_TOKEN");
    expect(await handled("GetJwks")).toBe(afterFirstFetch + 1);

    const flood = await Promise.all([2, 3, 4, 5, 6, 7, 8, 9].map((n) => tokenOfUnknownKey(`unknown-${n}`)));
    for (const token of flood) await expectRefused(verifier.verifyAccessToken(token), "unauthenticated", "INVALID_TOKEN");
    expect(await handled("GetJwks"), "no refetch within the interval").toBe(afterFirstFetch + 1);

    advance(5_000);
    await expectRefused(verifier.verifyAccessToken(await tokenOfUnknownKey("unknown-10")), "unauthenticated", "INVALID_TOKEN");
    expect(await handled("GetJwks")).toBe(afterFirstFetch + 2);
    await expect(verifier.verifyAccessToken(adminToken)).resolves.toMatchObject({ credential: "access-token" });
  });

  it("a disabled user's access token is refused within about a second, as users itself refuses it", async () => {
    const person = await createTestUser(service, adminToken, Role.VIEWER, "soon disabled");
    const verifier = remoteVerifier();
    await verifier.verifyAccessToken(person.credential);

    await service.client.deleteUser({ name: person.user.name }, service.auth(adminToken));

    await expectRefusedWithin(() => verifier.verifyAccessToken(person.credential), "SESSION_ENDED", 2_000);
    await expectGrpcError(service.client.getCurrentUser({}, service.auth(person.credential)), Status.UNAUTHENTICATED, "SESSION_ENDED");
  });

  it("a demoted user's old access token carries the new role within about a second", async () => {
    const person = await createTestUser(service, adminToken, Role.DEPLOYER, "soon demoted");
    const verifier = remoteVerifier();
    await expect(verifier.verifyAccessToken(person.credential)).resolves.toMatchObject({ role: Role.DEPLOYER });

    await service.client.updateUser(
      { user: { name: person.user.name, role: Role.VIEWER }, updateMask: { paths: ["role"] } },
      service.auth(adminToken),
    );

    await expect.poll(async () => (await verifier.verifyAccessToken(person.credential)).role, { timeout: 2_000, interval: 50 }).toBe(Role.VIEWER);
  });
});

describe("API keys are checked with AuthenticateApiKey, and accepted ones remembered briefly", () => {
  it("an API key is accepted with its service account's principal, and a second verification makes no call", async () => {
    const robot = await newRobot("cached robot");
    const verifier = remoteVerifier();
    const before = await handled("AuthenticateApiKey");

    const first = await verifier.verifyApiKey(robot.credential);
    const second = await verifier.verifyApiKey(robot.credential);

    expect(first).toEqual({
      user: robot.user.name,
      email: robot.user.email,
      kind: UserKind.SERVICE_ACCOUNT,
      role: Role.AGENT,
      environments: [],
      credential: "api-key",
      sessionId: "",
    });
    expect(second).toEqual(first);
    expect(await handled("AuthenticateApiKey")).toBe(before + 1);
  });

  it("concurrent verifications of one key share one call", async () => {
    const robot = await newRobot("popular robot");
    const verifier = remoteVerifier();
    const before = await handled("AuthenticateApiKey");

    const principals = await Promise.all(Array.from({ length: 20 }, () => verifier.verifyApiKey(robot.credential)));

    expect(new Set(principals.map((p) => p.user))).toEqual(new Set([robot.user.name]));
    expect(await handled("AuthenticateApiKey")).toBe(before + 1);
  });

  it("a deleted key is refused with INVALID_API_KEY within about a second, long before the cache TTL", async () => {
    const robot = await newRobot("revoked robot");
    const verifier = remoteVerifier({ apiKeyCacheTtlMs: 60_000 });
    await verifier.verifyApiKey(robot.credential);

    await service.client.deleteApiKey({ name: robot.apiKeyName }, service.auth(adminToken));

    await expectRefusedWithin(() => verifier.verifyApiKey(robot.credential), "INVALID_API_KEY", 2_000);
  });

  it("a key that expires before the TTL is trusted only until it expires", async () => {
    const robot = await newRobot("expiring robot");
    const expireTime = new Date(Date.now() + 1_000);
    const { secret } = await service.client.createApiKey(
      { parent: robot.user.name, apiKey: { displayName: "short key", expireTime: timestampFromDate(expireTime) } },
      service.auth(adminToken),
    );
    const { clock, advance } = manualClock();
    const verifier = remoteVerifier({ clock, apiKeyCacheTtlMs: 60_000 });
    await verifier.verifyApiKey(secret);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expireTime.getTime() - Date.now()) + 100));
    advance(expireTime.getTime() - clock().getTime() + 100);

    await expectRefused(verifier.verifyApiKey(secret), "unauthenticated", "INVALID_API_KEY");
  });

  it("an unknown key is refused with INVALID_API_KEY, and refusals are not remembered", async () => {
    const verifier = remoteVerifier();
    const unknown = `lpk_0123456789abcdef_${"A".repeat(43)}`;
    const before = await handled("AuthenticateApiKey");

    await expectRefused(verifier.verifyApiKey(unknown), "unauthenticated", "INVALID_API_KEY");
    await expectRefused(verifier.verifyApiKey(unknown), "unauthenticated", "INVALID_API_KEY");

    expect(await handled("AuthenticateApiKey")).toBe(before + 2);
  });

  it("a key created after refusals works at once", async () => {
    const verifier = remoteVerifier();
    await expectRefused(verifier.verifyApiKey(`lpk_fedcba9876543210_${"B".repeat(43)}`), "unauthenticated", "INVALID_API_KEY");

    const robot = await newRobot("brand-new robot");

    await expect(verifier.verifyApiKey(robot.credential)).resolves.toMatchObject({ user: robot.user.name });
  });
});

describe("when users cannot answer, verification fails with UNAVAILABLE AUTH_SERVICE_UNAVAILABLE, never hangs", () => {
  it("users stopped: uncached credentials are UNAVAILABLE, already cached ones keep working", async () => {
    const doomed = await startTestUsers();
    const token = await doomed.login(admin.email, admin.password);
    const robot = await createTestUser(doomed, token, Role.AGENT, "orphan robot");
    const other = await createTestUser(doomed, token, Role.AGENT, "unseen robot");
    const warm = remoteVerifier({}, doomed);
    const cold = remoteVerifier({}, doomed);
    await warm.verifyAccessToken(token);
    await warm.verifyApiKey(robot.credential);

    await doomed.stop();

    await expect(warm.verifyAccessToken(token)).resolves.toMatchObject({ credential: "access-token" });
    await expect(warm.verifyApiKey(robot.credential)).resolves.toMatchObject({ user: robot.user.name });
    const uncached = [() => warm.verifyApiKey(other.credential), () => cold.verifyAccessToken(token), () => cold.verifyApiKey(robot.credential)];
    for (const verify of uncached) {
      const { error, ms } = await failureWithin(verify());
      await expectRefused(Promise.reject(error), "unavailable", "AUTH_SERVICE_UNAVAILABLE");
      expect((error as DomainError).message).toBe("cannot verify credentials right now; retry");
      expect(ms, "hang guard").toBeLessThan(5_000);
    }
  });

  it("users not answering: the call deadline ends the wait", async () => {
    const silent = await silentServer();
    try {
      const verifier = createRemoteVerifier({ users: silent.address, rules, callTimeoutMs: 300 });
      opened.push(verifier);
      for (const verify of [() => verifier.verifyApiKey(`lpk_0123456789abcdef_${"C".repeat(43)}`), () => verifier.verifyAccessToken(adminToken)]) {
        const { error, ms } = await failureWithin(verify());
        await expectRefused(Promise.reject(error), "unavailable", "AUTH_SERVICE_UNAVAILABLE");
        expect(ms, "hang guard").toBeLessThan(5_000);
      }
    } finally {
      await silent.close();
    }
  });

  it("the caller's abort ends its own wait for users", async () => {
    const silent = await silentServer();
    try {
      const verifier = createRemoteVerifier({ users: silent.address, rules, callTimeoutMs: 60_000 });
      opened.push(verifier);
      const controller = new AbortController();
      const verification = failureWithin(verifier.verifyApiKey(`lpk_0123456789abcdef_${"D".repeat(43)}`, { signal: controller.signal }));
      setTimeout(() => controller.abort(), 100);
      const { error, ms } = await verification;
      expect(isAbortError(error), String(error)).toBe(true);
      expect(ms, "hang guard").toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });
});
