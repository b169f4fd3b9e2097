import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A bearer secret: "<prefix><id>_<random>", where only the hash of the whole is stored. */
export interface IssuedSecret {
  id: string;
  secret: string;
  hash: string;
}

/** Makes a secret with a lookup id, e.g. API keys "lpk_…" and refresh tokens "lpr_…". */
export function issueSecret(prefix: string): IssuedSecret {
  const id = randomBytes(8).toString("hex");
  const secret = `${prefix}${id}_${randomBytes(32).toString("base64url")}`;
  return { id, secret, hash: hashSecret(secret) };
}

/** The lookup id of a secret with this prefix, or undefined when it is not one. */
export function secretId(prefix: string, secret: string): string | undefined {
  return new RegExp(`^${prefix}([0-9a-f]{16})_[\\w-]{43}$`).exec(secret)?.[1];
}

/** SHA-256 of a secret, hex. Secrets are 256 random bits, so a fast hash is enough. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Whether a secret matches a stored hash, compared in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), "hex");
  const expected = Buffer.from(storedHash, "hex");
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
