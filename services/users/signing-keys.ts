import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK } from "jose";
import { accessTokenAlgorithm } from "../kit/auth/access-token.js";
import type { Logger } from "../kit/logger.js";
import { createKeySealer, isSealed, type KeySealer } from "./sealed-keys.js";
import type { SigningKeyRecord, UserStore } from "./store/types.js";

/**
 * The key that signs new access tokens, and the public set that verifies
 * them. Both follow rotation: read them at each use, do not keep them.
 */
export interface SigningKeys {
  readonly current: { kid: string; privateKey: CryptoKey };
  readonly keySet: JSONWebKeySet;
  /** Stops following rotation. */
  stop(): void;
}

/** What the signing keys need besides the store. */
export interface SigningKeyOptions {
  /** The server's secret key; the private keys are stored sealed with a key derived from it. */
  secret: Buffer;
  /** How long a key signs before the next takes over; 0: never rotated. */
  rotationMs: number;
  /** Lifetime of access tokens: a key stays published this long after it stopped signing. */
  accessTokenTtlMs: number;
  clock: () => Date;
  logger: Logger;
}

/** The longest a new key is published before it signs (verifiers cache the JWKS: the edge for 60 s). */
const maxLeadMs = 5 * 60_000;
/** The longest between two reads of the keys, which is how late a replica may switch keys. */
const maxReloadMs = 60_000;
const minReloadMs = 100;

/**
 * Loads the signing keys, creating an Ed25519 pair on first start and
 * sealing private keys stored in plain text by older versions. The keys are
 * stored, so tokens survive restarts and every replica signs with the same
 * key; only public halves are published.
 *
 * Rotation: once the newest key has signed for `rotationMs` less the lead,
 * one replica (a compare-and-set in the store) makes the next key, published
 * at once and signing after the lead. Each replica reloads the keys every
 * `reloadMs` to sign with the current one and publish the others. A key
 * leaves the JWKS, and the store, when every token it signed has expired.
 */
export async function loadSigningKeys(store: UserStore, options: SigningKeyOptions): Promise<SigningKeys> {
  const { rotationMs, accessTokenTtlMs, clock, logger } = options;
  const sealer = createKeySealer(options.secret);
  const leadMs = Math.min(rotationMs / 4, maxLeadMs);
  const reloadMs = rotationMs > 0 ? Math.max(Math.min(leadMs / 2, maxReloadMs), minReloadMs) : maxReloadMs;
  // How long a key stays published once the next one signs: its last tokens'
  // lifetime, plus the time a replica may go on signing with it until it
  // reloads, plus the lead for clocks that disagree a little.
  const publishedAfterSuccessorMs = accessTokenTtlMs + reloadMs + leadMs;
  const privateKeys = new Map<string, CryptoKey>();

  let records = await store.listSigningKeys();
  if (records.length === 0) {
    const now = clock();
    records = await store.addSigningKeyIfNone(await makeKey(sealer, now, now));
  }
  if (await sealPlainKeys(store, sealer, records)) records = await store.listSigningKeys();
  let state = await select(records, clock());

  async function select(keys: SigningKeyRecord[], now: Date) {
    const active = keys.filter((key) => key.activateTime <= now);
    const current = active.at(-1) ?? keys[0]!;
    const isRetired = keys.map((_, i) => retired(keys[i + 1], now));
    const published = keys.filter((_, i) => !isRetired[i]);
    for (const key of published) {
      if (!privateKeys.has(key.kid)) privateKeys.set(key.kid, await openPrivateKey(sealer, key));
    }
    for (const kid of privateKeys.keys()) if (!published.some((key) => key.kid === kid)) privateKeys.delete(kid);
    return {
      current: { kid: current.kid, privateKey: privateKeys.get(current.kid)! },
      keySet: { keys: published.map((key) => key.publicJwk as JWK) },
      retiredKids: keys.filter((_, i) => isRetired[i]).map((key) => key.kid),
    };
  }

  /** A key is retired once the key after it has signed long enough for its tokens to have expired. */
  function retired(next: SigningKeyRecord | undefined, now: Date): boolean {
    return next !== undefined && now.getTime() >= next.activateTime.getTime() + publishedAfterSuccessorMs;
  }

  async function rotateIfDue(now: Date): Promise<void> {
    const newest = records.at(-1)!;
    if (rotationMs === 0 || now.getTime() < newest.activateTime.getTime() + rotationMs - leadMs) return;
    const activateTime = new Date(Math.max(newest.activateTime.getTime() + rotationMs, now.getTime() + leadMs));
    const next = await makeKey(sealer, now, activateTime);
    if (await store.addSigningKeyUnlessNewer(next, newest.activateTime)) {
      logger.info({ kid: next.kid, activateTime }, "made the next access token signing key");
    }
  }

  async function reload(): Promise<void> {
    await rotateIfDue(clock());
    await store.deleteSigningKeys(state.retiredKids);
    records = await store.listSigningKeys();
    state = await select(records, clock());
  }

  let reloading = false;
  const timer = setInterval(() => {
    if (reloading) return;
    reloading = true;
    reload()
      .catch((error: unknown) => logger.warn({ err: error }, "reloading the signing keys failed; signing with the ones loaded"))
      .finally(() => (reloading = false));
  }, reloadMs);
  timer.unref();

  return {
    get current() {
      return state.current;
    },
    get keySet() {
      return state.keySet;
    },
    stop: () => clearInterval(timer),
  };
}

async function makeKey(sealer: KeySealer, createTime: Date, activateTime: Date): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(accessTokenAlgorithm, { crv: "Ed25519", extractable: true });
  const kid = randomUUID();
  return {
    kid,
    algorithm: accessTokenAlgorithm,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: accessTokenAlgorithm, use: "sig" },
    sealedPrivateJwk: await sealer.seal({ ...(await exportJWK(privateKey)), kid }, kid),
    createTime,
    activateTime,
  };
}

async function openPrivateKey(sealer: KeySealer, key: SigningKeyRecord): Promise<CryptoKey> {
  return (await importJWK(await sealer.open(key.sealedPrivateJwk, key.kid), key.algorithm)) as CryptoKey;
}

/** Seals the private keys older versions stored in plain text; true when there were any. */
async function sealPlainKeys(store: UserStore, sealer: KeySealer, keys: SigningKeyRecord[]): Promise<boolean> {
  const plain = keys.filter((key) => !isSealed(key.sealedPrivateJwk));
  for (const key of plain) {
    await store.resealSigningKey(key.kid, key.sealedPrivateJwk, await sealer.seal(JSON.parse(key.sealedPrivateJwk) as JWK, key.kid));
  }
  return plain.length > 0;
}
