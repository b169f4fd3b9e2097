import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../services/kit/config.js";
import { deriveKey, loadSecretKey } from "../../services/kit/secret-key.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "launchpad-secret-"));
  dirs.push(dir);
  return dir;
}

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe("the server's secret key", () => {
  it("is LAUNCHPAD_SECRET_KEY when set (base64 or base64url), before any file", () => {
    const key = randomBytes(32);
    const dataDir = newDir();
    expect(loadSecretKey({ secretKey: key.toString("base64"), secretKeyFile: "/nonexistent", dataDir })).toEqual(key);
    expect(loadSecretKey({ secretKey: key.toString("base64url"), secretKeyFile: "", dataDir })).toEqual(key);
  });

  it("is read from LAUNCHPAD_SECRET_KEY_FILE when set", () => {
    const key = randomBytes(48);
    const file = join(newDir(), "key");
    writeFileSync(file, `${key.toString("base64")}\n`);
    expect(loadSecretKey({ secretKey: "", secretKeyFile: file, dataDir: newDir() })).toEqual(key);
  });

  it("refuses a key shorter than 32 bytes, saying how to make one", () => {
    expect(() => loadSecretKey({ secretKey: randomBytes(16).toString("base64"), secretKeyFile: "", dataDir: newDir() })).toThrow(
      /shorter than 32 bytes.*openssl rand -base64 32/,
    );
  });

  it("is generated on first start into <data dir>/secret.key, mode 0600 in a 0700 directory, and the same on the next start", () => {
    const dataDir = join(newDir(), "data");
    const first = loadSecretKey({ secretKey: "", secretKeyFile: "", dataDir });
    expect(first).toHaveLength(32);
    expect(modeOf(dataDir)).toBe(0o700);
    expect(modeOf(join(dataDir, "secret.key"))).toBe(0o600);
    expect(loadSecretKey({ secretKey: "", secretKeyFile: "", dataDir })).toEqual(first);
  });

  it("tightens an existing secret.key and data directory that others could read", () => {
    const dataDir = newDir();
    chmodSync(dataDir, 0o755);
    const key = randomBytes(32);
    writeFileSync(join(dataDir, "secret.key"), key.toString("base64url"), { mode: 0o644 });
    chmodSync(join(dataDir, "secret.key"), 0o644);
    expect(loadSecretKey({ secretKey: "", secretKeyFile: "", dataDir })).toEqual(key);
    expect(modeOf(dataDir)).toBe(0o700);
    expect(modeOf(join(dataDir, "secret.key"))).toBe(0o600);
  });

  it("must be configured when replicas share a database: a generated one is refused and none is written", () => {
    const dataDir = join(newDir(), "data");
    expect(() => loadSecretKey({ secretKey: "", secretKeyFile: "", dataDir }, "LAUNCHPAD_USERS_DATABASE_URL")).toThrow(ConfigError);
    expect(() => loadSecretKey({ secretKey: "", secretKeyFile: "", dataDir }, "LAUNCHPAD_USERS_DATABASE_URL")).toThrow(
      /LAUNCHPAD_SECRET_KEY.*required with LAUNCHPAD_USERS_DATABASE_URL/,
    );
    expect(() => statSync(dataDir)).toThrow(/ENOENT/);
    const key = randomBytes(32);
    expect(loadSecretKey({ secretKey: key.toString("base64"), secretKeyFile: "", dataDir }, "LAUNCHPAD_USERS_DATABASE_URL")).toEqual(key);
  });

  it("refuses a shared directory such as /tmp as the data directory rather than closing it", () => {
    const shared = newDir();
    chmodSync(shared, 0o1777);
    expect(() => loadSecretKey({ secretKey: "", secretKeyFile: "", dataDir: shared })).toThrow(/shared directory/);
    expect(modeOf(shared)).toBe(0o777);
  });
});

describe("deriveKey", () => {
  it("gives the same key for the same secret and purpose, and unrelated keys otherwise", () => {
    const secret = randomBytes(32);
    const pageTokens = deriveKey(secret, "page-token");
    expect(pageTokens).toHaveLength(32);
    expect(deriveKey(secret, "page-token")).toEqual(pageTokens);
    expect(deriveKey(secret, "signing-keys")).not.toEqual(pageTokens);
    expect(deriveKey(randomBytes(32), "page-token")).not.toEqual(pageTokens);
    expect(deriveKey(secret, "page-token", 64)).toHaveLength(64);
  });
});
