import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK } from "jose";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Role, UserKind } from "../../../gen/launchpad/user/v1/user_pb.js";
import { createAccessTokenVerifier, type KeySetSource } from "../../../services/kit/auth/access-token.js";
import { domainError } from "../../support/domain-errors.js";

// jwtVerify is spied on (and still verifies), to count signature checks.
vi.mock("jose", async (original) => {
  const jose = await original<typeof import("jose")>();
  return { ...jose, jwtVerify: vi.fn(jose.jwtVerify) };
});

const rules = { issuer: "https://launchpad.test", audience: "launchpad" };
const claims = {
  email: "ada@example.com",
  kind: UserKind.HUMAN,
  role: Role.DEPLOYER,
  envs: ["staging"],
  sid: "session-1",
};

interface KeyPair {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function keyPair(kid: string): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" } };
}

/** A key-set source that serves `published` and, once refreshed, `afterRefresh`; it counts its calls. */
function keySource(published: JWK[], afterRefresh: JWK[] = published) {
  const calls = { cached: 0, refreshed: 0 };
  const source: KeySetSource = {
    async keySet({ refresh }): Promise<JSONWebKeySet> {
      if (refresh) calls.refreshed++;
      else calls.cached++;
      return { keys: calls.refreshed > 0 ? afterRefresh : published };
    },
  };
  return { source, calls };
}

interface TokenOptions {
  key: KeyPair;
  issuer?: string;
  audience?: string;
  expiresAt?: number;
  subject?: string;
  jti?: string | null;
}

function sign({ key, issuer = rules.issuer, audience = rules.audience, expiresAt, subject = "users/ada", jti = "jti-1" }: TokenOptions) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "JWT" })
    .setSubject(subject)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime(expiresAt ?? Math.floor(Date.now() / 1000) + 600);
  if (jti !== null) jwt.setJti(jti);
  return jwt.sign(key.privateKey);
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("createAccessTokenVerifier", () => {
  let current: KeyPair;
  let other: KeyPair;

  beforeAll(async () => {
    current = await keyPair("key-1");
    other = await keyPair("key-1");
  });

  it("accepts a token signed by a published key and returns its principal", async () => {
    const { source } = keySource([current.publicJwk]);
    const principal = await createAccessTokenVerifier(source, rules).verify(await sign({ key: current }));
    expect(principal).toEqual({
      user: "users/ada",
      email: "ada@example.com",
      kind: UserKind.HUMAN,
      role: Role.DEPLOYER,
      environments: ["staging"],
      credential: "access-token",
      sessionId: "session-1",
    });
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.mocked(jwtVerify).mockClear();
  });

  it("remembers a verified token, so reusing it checks its signature once and never refreshes the keys", async () => {
    const { source, calls } = keySource([current.publicJwk]);
    const verifier = createAccessTokenVerifier(source, rules);
    const token = await sign({ key: current });
    const first = await verifier.verify(token);
    expect(await verifier.verify(token)).toEqual(first);
    expect(vi.mocked(jwtVerify)).toHaveBeenCalledTimes(1);
    expect(calls.refreshed).toBe(0);
  });

  it("forgets a remembered token once the key that signed it is no longer published: the token is then INVALID_TOKEN", async () => {
    const next = await keyPair("key-2");
    let published = [current.publicJwk];
    const verifier = createAccessTokenVerifier({ keySet: async () => ({ keys: published }) }, rules);
    const token = await sign({ key: current });
    await verifier.verify(token);
    published = [next.publicJwk];
    expect(await domainError(verifier.verify(token))).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
  });

  it("forgets a remembered token at its exp: the token is then TOKEN_EXPIRED", async () => {
    const { source } = keySource([current.publicJwk]);
    const verifier = createAccessTokenVerifier(source, rules);
    const token = await sign({ key: current, expiresAt: Math.floor(Date.now() / 1000) + 60 });
    await verifier.verify(token);
    vi.useFakeTimers({ now: Date.now() + 61_000, toFake: ["Date"] });
    expect(await domainError(verifier.verify(token))).toMatchObject({ kind: "unauthenticated", reason: "TOKEN_EXPIRED" });
  });

  it("remembers at most cacheSize tokens, forgetting the oldest first", async () => {
    const { source } = keySource([current.publicJwk]);
    const verifier = createAccessTokenVerifier(source, rules, 2);
    const [a, b, c] = await Promise.all(["jti-a", "jti-b", "jti-c"].map((jti) => sign({ key: current, jti })));
    for (const token of [a!, b!, c!, c!, b!]) await verifier.verify(token);
    expect(vi.mocked(jwtVerify)).toHaveBeenCalledTimes(3);
    await verifier.verify(a!);
    expect(vi.mocked(jwtVerify)).toHaveBeenCalledTimes(4);
  });

  it("refuses a token signed by another key under the same kid with INVALID_TOKEN, without refreshing", async () => {
    const { source, calls } = keySource([current.publicJwk]);
    const error = await domainError(createAccessTokenVerifier(source, rules).verify(await sign({ key: other })));
    expect(error).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
    expect(calls.refreshed).toBe(0);
  });

  it("refuses an expired token with TOKEN_EXPIRED", async () => {
    const { source } = keySource([current.publicJwk]);
    const token = await sign({ key: current, expiresAt: Math.floor(Date.now() / 1000) - 60 });
    const error = await domainError(createAccessTokenVerifier(source, rules).verify(token));
    expect(error).toMatchObject({ kind: "unauthenticated", reason: "TOKEN_EXPIRED" });
    expect(error.message).toMatch(/expired/);
  });

  it('refuses an unsigned token (alg "none") with INVALID_TOKEN', async () => {
    const { source } = keySource([current.publicJwk]);
    const valid = await sign({ key: current });
    const payload = valid.split(".")[1];
    const token = `${base64url({ alg: "none", typ: "JWT", kid: current.kid })}.${payload}.`;
    const error = await domainError(createAccessTokenVerifier(source, rules).verify(token));
    expect(error).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
  });

  it("refuses an HS256 token that uses the public key as its HMAC secret with INVALID_TOKEN", async () => {
    const { source } = keySource([current.publicJwk]);
    const verifier = createAccessTokenVerifier(source, rules);
    for (const secret of [JSON.stringify(current.publicJwk), current.publicJwk.x!]) {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", kid: current.kid })
        .setSubject("users/ada")
        .setIssuer(rules.issuer)
        .setAudience(rules.audience)
        .setJti("jti-1")
        .setExpirationTime("10m")
        .sign(new TextEncoder().encode(secret));
      expect(await domainError(verifier.verify(token))).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
    }
  });

  it("refuses a token whose payload was changed after signing with INVALID_TOKEN", async () => {
    const { source } = keySource([current.publicJwk]);
    const [header, , signature] = (await sign({ key: current })).split(".");
    const payload = base64url({ ...claims, role: Role.ADMIN, sub: "users/ada", iss: rules.issuer, aud: rules.audience, jti: "jti-1", exp: Math.floor(Date.now() / 1000) + 600 });
    const error = await domainError(createAccessTokenVerifier(source, rules).verify(`${header}.${payload}.${signature}`));
    expect(error).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
  });

  it.each([
    ["issuer", { issuer: "https://evil.test" }],
    ["audience", { audience: "someone-else" }],
  ])("refuses a token for another %s with INVALID_TOKEN", async (_, wrong) => {
    const { source } = keySource([current.publicJwk]);
    const error = await domainError(createAccessTokenVerifier(source, rules).verify(await sign({ key: current, ...wrong })));
    expect(error).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
  });

  it("refuses a token without a jti with INVALID_TOKEN", async () => {
    const { source } = keySource([current.publicJwk]);
    const error = await domainError(createAccessTokenVerifier(source, rules).verify(await sign({ key: current, jti: null })));
    expect(error).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
  });

  it("refuses text that is not a JWT with INVALID_TOKEN", async () => {
    const { source } = keySource([current.publicJwk]);
    const error = await domainError(createAccessTokenVerifier(source, rules).verify("not-a-jwt"));
    expect(error).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
  });

  it("refreshes the key set exactly once for an unknown kid, then accepts a token of a newly published key", async () => {
    const rotated = await keyPair("key-2");
    const { source, calls } = keySource([current.publicJwk], [current.publicJwk, rotated.publicJwk]);
    const principal = await createAccessTokenVerifier(source, rules).verify(await sign({ key: rotated }));
    expect(principal.user).toBe("users/ada");
    expect(calls).toEqual({ cached: 1, refreshed: 1 });
  });

  it("refreshes the key set exactly once for a kid that is never published, then refuses with INVALID_TOKEN", async () => {
    const stranger = await keyPair("key-unknown");
    const { source, calls } = keySource([current.publicJwk]);
    const error = await domainError(createAccessTokenVerifier(source, rules).verify(await sign({ key: stranger })));
    expect(error).toMatchObject({ kind: "unauthenticated", reason: "INVALID_TOKEN" });
    expect(calls).toEqual({ cached: 1, refreshed: 1 });
  });

  it("keeps the underlying jose error as the cause, for logs", async () => {
    const { source } = keySource([current.publicJwk]);
    const error = await domainError(createAccessTokenVerifier(source, rules).verify(await sign({ key: other })));
    expect(error.cause).toBeInstanceOf(Error);
  });
});
