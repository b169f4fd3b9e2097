import { hkdfSync, randomBytes } from "node:crypto";
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "./config.js";
import { ensurePrivateDirectory, tightenPrivateFile } from "./private-files.js";

/** The least secret key material accepted, in bytes. */
const minimumKeyBytes = 32;

/** Where a part's secret key comes from; the fields of commonSettings of the same names. */
export interface SecretKeySource {
  /** The key itself, base64 or base64url (LAUNCHPAD_SECRET_KEY); wins over the file. */
  secretKey: string;
  /** A file holding the key (LAUNCHPAD_SECRET_KEY_FILE); empty: `<dataDir>/secret.key`, made on first start. */
  secretKeyFile: string;
  dataDir: string;
}

/**
 * The server's secret key, from which every key that protects data at rest
 * or signs something for later (page tokens, stored signing keys) is derived.
 * Replicas must share it, so it comes from configuration; the embedded
 * default generates one into the data directory, readable by its owner only.
 * `sharedBy` names the setting (a database URL) that has replicas share
 * data: with it set, a generated key is refused (ConfigError).
 */
export function loadSecretKey(source: SecretKeySource, sharedBy?: string): Buffer {
  if (source.secretKey !== "") return decodeKey(source.secretKey, "LAUNCHPAD_SECRET_KEY");
  if (source.secretKeyFile !== "") return decodeKey(readFileSync(source.secretKeyFile, "utf8"), source.secretKeyFile);
  if (sharedBy !== undefined) {
    throw new ConfigError(`LAUNCHPAD_SECRET_KEY or LAUNCHPAD_SECRET_KEY_FILE: required with ${sharedBy}; every replica needs the same key`);
  }
  const file = join(source.dataDir, "secret.key");
  ensurePrivateDirectory(source.dataDir);
  try {
    tightenPrivateFile(file);
    return decodeKey(readFileSync(file, "utf8"), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(minimumKeyBytes);
  // Written whole under another name, then linked: two parts starting
  // together in one data directory keep the first key, never half of one.
  const draft = `${file}.${process.pid}.tmp`;
  writeFileSync(draft, `${key.toString("base64url")}\n`, { mode: 0o600 });
  try {
    linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return decodeKey(readFileSync(file, "utf8"), file);
  } finally {
    unlinkSync(draft);
  }
  return key;
}

/** A key for one purpose ("page-token", "signing-keys"), derived with HKDF-SHA256. */
export function deriveKey(secret: Buffer, purpose: string, bytes = 32): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), `launchpad ${purpose}`, bytes));
}

function decodeKey(text: string, from: string): Buffer {
  const key = Buffer.from(text.trim(), "base64url");
  if (key.length < minimumKeyBytes) {
    throw new Error(`the secret key in ${from} is shorter than ${minimumKeyBytes} bytes; make one with: openssl rand -base64 32`);
  }
  return key;
}
