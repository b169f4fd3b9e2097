import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK } from "jose";
import { accessTokenAlgorithm } from "../kit/auth/access-token.js";
import type { UserStore } from "./store/types.js";

/** The key that signs new access tokens, and the public set that verifies them. */
export interface SigningKeys {
  current: { kid: string; privateKey: CryptoKey };
  keySet: JSONWebKeySet;
}

/**
 * Loads the signing keys, creating an Ed25519 pair on first start. The
 * pair is persisted so tokens survive restarts and every replica signs with
 * the same key; only the public half is ever published.
 */
export async function loadSigningKeys(store: UserStore, now: Date): Promise<SigningKeys> {
  let records = await store.listSigningKeys();
  if (records.length === 0) {
    const { publicKey, privateKey } = await generateKeyPair(accessTokenAlgorithm, { crv: "Ed25519", extractable: true });
    const kid = randomUUID();
    records = await store.addSigningKeyIfNone({
      kid,
      algorithm: accessTokenAlgorithm,
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: accessTokenAlgorithm, use: "sig" },
      privateJwk: { ...(await exportJWK(privateKey)), kid },
      createTime: now,
    });
  }
  const newest = records.reduce((a, b) => (a.createTime >= b.createTime ? a : b));
  const privateKey = (await importJWK(newest.privateJwk as JWK, newest.algorithm)) as CryptoKey;
  return {
    current: { kid: newest.kid, privateKey },
    keySet: { keys: records.map((r) => r.publicJwk as JWK) },
  };
}
