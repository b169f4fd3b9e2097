import { CompactEncrypt, compactDecrypt, errors, type JWK } from "jose";
import { deriveKey } from "../kit/secret-key.js";

/** Seals and opens private signing JWKs with a key derived from the server's secret key. */
export interface KeySealer {
  /** A compact JWE (dir, A256GCM) of the JWK; the kid sits in its authenticated header. */
  seal(jwk: JWK, kid: string): Promise<string>;
  /** The JWK sealed for `kid`; throws SealedWithAnotherKeyError when this secret key did not seal it. */
  open(sealed: string, kid: string): Promise<JWK>;
}

/** A sealed key that the configured secret key cannot open: another secret key sealed it. */
export class SealedWithAnotherKeyError extends Error {
  constructor(kid: string) {
    super(
      `signing key ${kid} in the users database was sealed with another secret key: start the users service with ` +
        "the secret key it had before (LAUNCHPAD_SECRET_KEY, LAUNCHPAD_SECRET_KEY_FILE or <data dir>/secret.key), the one every replica shares",
    );
    this.name = "SealedWithAnotherKeyError";
  }
}

/** Rows written before sealing hold the plain JWK's JSON; a compact JWE never starts with "{". */
export function isSealed(stored: string): boolean {
  return !stored.startsWith("{");
}

/** A sealer keyed by deriveKey(secret, "signing-keys"). */
export function createKeySealer(secret: Buffer): KeySealer {
  const key = deriveKey(secret, "signing-keys");
  return {
    seal(jwk, kid) {
      return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(jwk)))
        .setProtectedHeader({ alg: "dir", enc: "A256GCM", kid })
        .encrypt(key);
    },
    async open(sealed, kid) {
      try {
        const { plaintext, protectedHeader } = await compactDecrypt(sealed, key, {
          keyManagementAlgorithms: ["dir"],
          contentEncryptionAlgorithms: ["A256GCM"],
        });
        // A sealed key copied onto another row does not open there.
        if (protectedHeader.kid !== kid) throw new SealedWithAnotherKeyError(kid);
        return JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
      } catch (error) {
        if (error instanceof errors.JWEDecryptionFailed) throw new SealedWithAnotherKeyError(kid);
        throw error;
      }
    },
  };
}
