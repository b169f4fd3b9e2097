import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/** OWASP's minimum for scrypt (Password Storage Cheat Sheet): N=2^17, r=8, p=1. */
export const defaultPasswordCost = 17;

/** The highest cost accepted, in settings and in stored hashes (2^20: 1 GiB of memory per check). */
export const maxPasswordCost = 20;

const blockSize = 8;
const parallelism = 1;
const keyLength = 32;

/** scrypt needs 128·N·r·p bytes; the rest is headroom for its other buffers. */
function maxmemOf(N: number, r: number, p: number): number {
  return 128 * N * r * p + 16 * 1024 * 1024;
}

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

/** How a password compared with a stored hash. */
export interface PasswordCheck {
  matches: boolean;
  /** The hash was made with weaker parameters than today's: hash the password again. */
  needsRehash: boolean;
}

/**
 * Password hashing with scrypt at N = 2^cost (r=8, p=1). Hashes read
 * "scrypt$N$r$p$salt$hash" (base64url salt and hash), so each carries the
 * parameters it was made with and older ones still verify.
 */
export function createPasswords(cost = defaultPasswordCost) {
  const current = { N: 2 ** cost, r: blockSize, p: parallelism };

  async function hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await derive(password, salt, { ...current, maxmem: maxmemOf(current.N, current.r, current.p) });
    return ["scrypt", current.N, current.r, current.p, salt.toString("base64url"), key.toString("base64url")].join("$");
  }

  // Checked when the email is unknown, so the answer takes as long as for a real one.
  let decoy: Promise<string> | undefined;

  return {
    hash,

    /** Whether a password matches a stored hash, compared in constant time. A null hash never matches. */
    async verify(password: string, stored: string | null): Promise<PasswordCheck> {
      const [scheme, n, r, p, salt, expected] = (stored ?? (await (decoy ??= hash(randomBytes(16).toString("hex"))))).split("$");
      const params = { N: Number(n), r: Number(r), p: Number(p) };
      // Parameters past the maximum would let a planted hash spend unbounded memory.
      const sane = params.N >= 2 && params.N <= 2 ** maxPasswordCost && params.r >= 1 && params.r <= blockSize && params.p === parallelism;
      if (scheme !== "scrypt" || !salt || !expected || !sane) return { matches: false, needsRehash: false };
      const actual = await derive(password, Buffer.from(salt, "base64url"), { ...params, maxmem: maxmemOf(params.N, params.r, params.p) });
      const wanted = Buffer.from(expected, "base64url");
      const matches = actual.length === wanted.length && timingSafeEqual(actual, wanted) && stored !== null;
      return { matches, needsRehash: matches && (params.N < current.N || params.r < current.r) };
    },
  };
}

/** Password hashing of the users service. */
export type Passwords = ReturnType<typeof createPasswords>;
