import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, exportJWK, generateKeyPair, type JWK } from "jose";
import { createChannel, Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { Role, UserKind } from "../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { openDatabase } from "../../services/kit/database/open-database.js";
import { migrations } from "../../services/users/store/migrations.js";
import { bearer } from "../support/bearer.js";
import { expectGrpcError } from "../support/grpc-errors.js";
import { runLaunchpad, startLaunchpad, type StartedProgram } from "../support/program.js";
import { cheapPasswordHashing, ephemeralEnv, programSandbox } from "../support/program-sandbox.js";
import { typedClient } from "../support/typed-client.js";

// Finding 2: users.db was 0644 in a 0755 directory and held the Ed25519
// signing key as a plain JWK; a local user copied it and forged an ADMIN
// token that DeploymentService accepted.

const admin = { email: "admin@example.com", password: "correct horse battery staple" };
const { newDataDir, channels } = programSandbox("launchpad-keys-at-rest-");

/** A program on ephemeral ports; a cheaper password hash keeps its many starts quick. */
function envFor(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...ephemeralEnv(dataDir),
    LAUNCHPAD_ADMIN_EMAIL: admin.email,
    LAUNCHPAD_ADMIN_PASSWORD: admin.password,
    ...cheapPasswordHashing,
    ...extra,
  };
}

function clientsOf(program: StartedProgram) {
  const users = createChannel(`127.0.0.1:${program.usersPort}`);
  channels.push(users);
  const deploymentsPort = /deployments\s+gRPC\s+[\w.:[\]-]+:(\d+)\s/.exec(program.stdout())?.[1];
  const deployments = deploymentsPort ? createChannel(`127.0.0.1:${deploymentsPort}`) : undefined;
  if (deployments) channels.push(deployments);
  return {
    users: typedClient(UserService, users),
    deployments: deployments && typedClient(DeploymentService, deployments),
  };
}

/** Each test starts whole programs, up to three; a loaded machine makes a start take seconds. */
const startsTimeoutMs = 90_000;

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** Every file of the data directory with its mode, as [name, mode] pairs. */
function modesIn(dataDir: string): Array<[string, number]> {
  return readdirSync(dataDir).map((name) => [name, modeOf(join(dataDir, name))]);
}

/** The bytes a local user could copy: the users database and, if present, its WAL. */
function usersDatabaseBytes(dataDir: string): Buffer {
  const files = ["users.db", "users.db-wal"].map((name) => join(dataDir, name)).filter(existsSync);
  return Buffer.concat(files.map((file) => readFileSync(file)));
}

/**
 * What an attacker with those bytes tries: every 43-character base64url run
 * (a 32-byte Ed25519 "d" in a JWK) that, as a private key, has the public
 * key of a published signing key. Returns those keys, ready to sign.
 */
function privateKeysIn(bytes: Buffer, published: JWK[]): Array<{ kid: string; d: string }> {
  const text = bytes.toString("latin1");
  const found: Array<{ kid: string; d: string }> = [];
  for (const [d] of text.matchAll(/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g)) {
    const x = createPublicKey(privateKeyOf(d)).export({ format: "jwk" }).x;
    const match = published.find((key) => key.x === x);
    if (match) found.push({ kid: match.kid!, d });
  }
  return found;
}

/** The Ed25519 private key whose 32-byte seed (a JWK's "d") is `d`. */
function privateKeyOf(d: string): KeyObject {
  const pkcs8Prefix = Buffer.from("302e020100300506032b657004220420", "hex");
  return createPrivateKey({ key: Buffer.concat([pkcs8Prefix, Buffer.from(d, "base64url")]), format: "der", type: "pkcs8" });
}

/** An ADMIN access token signed with the private key `d`, claiming the published key `kid`. */
async function forgedAdminToken(d: string, kid: string): Promise<string> {
  return new SignJWT({ email: "mallory@example.com", kind: UserKind.HUMAN, role: Role.ADMIN, envs: [], sid: "forged" })
    .setProtectedHeader({ alg: "EdDSA", kid, typ: "JWT" })
    .setSubject("users/mallory")
    .setIssuer("launchpad")
    .setAudience("launchpad")
    .setJti(randomBytes(8).toString("hex"))
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(privateKeyOf(d));
}

/** The kind of signing_keys row versions before sealing wrote: the private JWK in plain JSON. */
async function writePlaintextKeyDatabase(path: string): Promise<{ kid: string; d: string; publicJwk: JWK }> {
  const database = await openDatabase<any>({ sqlitePath: path, migrations: { "0001-create-tables": migrations["0001-create-tables"]! } });
  try {
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const kid = "pre-sealing-key";
    const privateJwk = { ...(await exportJWK(privateKey)), kid };
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" };
    await database.db
      .insertInto("signing_keys")
      .values({
        kid,
        algorithm: "EdDSA",
        public_jwk: JSON.stringify(publicJwk),
        private_jwk: JSON.stringify(privateJwk),
        create_time: new Date().toISOString(),
      })
      .execute();
    return { kid, d: privateJwk.d!, publicJwk };
  } finally {
    await database.close();
  }
}

describe("the data directory", () => {
  it("is 0700 after a first start, and every file in it 0600: both databases with their -wal and -shm, secret.key, demo-agent.key", async () => {
    const dataDir = join(newDataDir(), "data");
    await startLaunchpad([], envFor(dataDir));
    const modes = modesIn(dataDir);
    expect(modes.map(([name]) => name).sort()).toEqual(
      expect.arrayContaining(["demo-agent.key", "deployments.db", "deployments.db-shm", "deployments.db-wal", "secret.key", "users.db", "users.db-shm", "users.db-wal"]),
    );
    expect(modeOf(dataDir)).toBe(0o700);
    for (const [name, mode] of modes) expect([name, mode.toString(8)]).toEqual([name, "600"]);
  }, startsTimeoutMs);

  it("and its files, left open to others by an older version (0755, 0644), are tightened at start, saying so", async () => {
    const dataDir = newDataDir();
    const first = await startLaunchpad([], envFor(dataDir));
    first.child.kill("SIGKILL");
    await first.waitForExit();
    chmodSync(dataDir, 0o755);
    for (const name of readdirSync(dataDir)) chmodSync(join(dataDir, name), 0o644);
    expect(modesIn(dataDir).some(([name]) => name === "users.db-wal")).toBe(true);

    const second = await startLaunchpad([], envFor(dataDir));
    expect(modeOf(dataDir)).toBe(0o700);
    for (const [name, mode] of modesIn(dataDir)) expect([name, mode.toString(8)]).toEqual([name, "600"]);
    expect(second.stderr()).toMatch(/users\.db was mode 644, open to other users; made it 600/);
    expect(second.stderr()).toMatch(/was mode 755, open to other users; made it 700/);
  }, startsTimeoutMs);
});

describe("a copy of users.db and its WAL", () => {
  it("holds no private signing key: nothing in it signs for a published key, and a token forged with what is there is refused", async () => {
    const dataDir = newDataDir();
    const program = await startLaunchpad([], envFor(dataDir, { LAUNCHPAD_DEMO_AGENT: "off" }));
    const { users, deployments } = clientsOf(program);
    const token = (await users.login(admin)).tokens!.accessToken;
    const { deployment } = await deployments!.createDeployment(
      { deployment: { service: "search", version: "1.0.0", environment: "staging" } },
      bearer(token),
    );
    expect(deployment?.name).toBeTruthy();
    const published = (await users.getJwks({})).keys as unknown as JWK[];

    const bytes = usersDatabaseBytes(dataDir);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.toString("latin1")).not.toMatch(/"d"\s*:\s*"/);
    expect(privateKeysIn(bytes, published)).toEqual([]);

    // Whatever 43-character run the attacker takes for "d", signed as the published kid.
    const guess = /[A-Za-z0-9_-]{43}/.exec(bytes.toString("latin1"))?.[0] ?? randomBytes(32).toString("base64url");
    const forged = await forgedAdminToken(guess, published[0]!.kid!);
    await expectGrpcError(
      deployments!.createDeployment({ deployment: { service: "search", version: "6.6.6", environment: "production" } }, bearer(forged)),
      Status.UNAUTHENTICATED,
    );
  }, startsTimeoutMs);

  it("no longer holds a key an older version stored in plain text: start-up seals it, keeps signing with it, and purges the plain copy", async () => {
    const dataDir = newDataDir();
    mkdirSync(dataDir, { recursive: true });
    const plain = await writePlaintextKeyDatabase(join(dataDir, "users.db"));
    // The attacker's extraction finds the key in a database of that version.
    expect(privateKeysIn(usersDatabaseBytes(dataDir), [plain.publicJwk])).toEqual([{ kid: plain.kid, d: plain.d }]);

    const program = await startLaunchpad(["--target=users"], envFor(dataDir));
    const { users } = clientsOf(program);
    const published = (await users.getJwks({})).keys as unknown as JWK[];
    expect(published.map((key) => key.kid)).toEqual([plain.kid]);
    const token = (await users.login(admin)).tokens!.accessToken;
    expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()).kid).toBe(plain.kid);

    const after = usersDatabaseBytes(dataDir);
    expect(after.toString("latin1")).not.toContain(plain.d);
    expect(privateKeysIn(after, published)).toEqual([]);
  }, startsTimeoutMs);
});

describe("a users service given another secret key than the one that sealed its keys", () => {
  it("refuses to start with a clear message (no stack, no new key) and starts again with the right one", async () => {
    const dataDir = newDataDir();
    const key = randomBytes(32).toString("base64");
    const env = envFor(dataDir, { LAUNCHPAD_SECRET_KEY: key });
    const first = await startLaunchpad(["--target=users"], env);
    const kids = (await clientsOf(first).users.getJwks({})).keys.map((k) => k.kid);
    first.child.kill("SIGKILL");
    await first.waitForExit();

    const wrong = runLaunchpad(["--target=users"], { ...env, LAUNCHPAD_SECRET_KEY: randomBytes(32).toString("base64") });
    const exit = await wrong.waitForExit();
    expect(exit.code).not.toBe(0);
    expect(wrong.stderr()).toMatch(/sealed with another secret key.*LAUNCHPAD_SECRET_KEY/);
    expect(wrong.stderr()).not.toMatch(/^\s+at /m);

    const again = await startLaunchpad(["--target=users"], env);
    expect((await clientsOf(again).users.getJwks({})).keys.map((k) => k.kid)).toEqual(kids);
  }, startsTimeoutMs);

  it("on PostgreSQL, where replicas share the keys, must be configured: a generated key is refused before the database is touched", async () => {
    const run = runLaunchpad(["--target=users"], envFor(newDataDir(), { LAUNCHPAD_USERS_DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" }));
    const exit = await run.waitForExit();
    expect(exit.code).toBe(2);
    expect(run.stderr()).toMatch(/LAUNCHPAD_SECRET_KEY or LAUNCHPAD_SECRET_KEY_FILE: required with LAUNCHPAD_USERS_DATABASE_URL/);
  }, startsTimeoutMs);
});
