import { UserState } from "../../gen/launchpad/user/v1/user_pb.js";
import { createAccessTokenVerifier, type AccessTokenRules } from "../kit/auth/access-token.js";
import { apiKeyPrefix, type CredentialVerifier, type Principal } from "../kit/auth/principal.js";
import { DomainError } from "../kit/errors.js";
import { userName } from "./resources.js";
import { secretId, secretMatches } from "./secrets.js";
import type { SigningKeys } from "./signing-keys.js";
import type { ApiKeyRecord, UserRecord, UserStore } from "./store/types.js";

/** How often a key's last-use time is written, at most. */
const touchIntervalMs = 60_000;

/** The local verifier: credentials checked against the users service's own data. */
export interface LocalVerifier extends CredentialVerifier {
  /** Verifies an API key, also returning its record. */
  authenticateApiKey(secret: string): Promise<{ principal: Principal; key: ApiKeyRecord }>;
  /**
   * The user record `principal` was made from, read while verifying the call
   * that carries it; undefined for a principal this verifier did not make.
   */
  userOf(principal: Principal): UserRecord | undefined;
}

/**
 * Verifies credentials against the users service's own data: access tokens
 * by signature, then the user and session are re-read, so a disabled user,
 * a changed role or a signed-out session takes effect at once here; API keys
 * by hash, expiry, revocation and their user's state.
 */
export function createLocalVerifier(store: UserStore, keys: SigningKeys, rules: AccessTokenRules, clock: () => Date): LocalVerifier {
  const tokens = createAccessTokenVerifier({ keySet: async () => keys.keySet }, rules);
  const lastTouched = new Map<string, number>();
  // Each verification makes a new principal, so an entry lives as long as
  // the one call carrying it: a caller reading themselves in that call gets
  // the row read a moment ago, never one from an earlier call.
  const usersOf = new WeakMap<Principal, UserRecord>();

  function principalOf(user: UserRecord, credential: Principal["credential"], sessionId: string): Principal {
    const principal = {
      user: userName(user.id),
      email: user.email,
      kind: user.kind,
      role: user.role,
      environments: user.environments,
      credential,
      sessionId,
    };
    usersOf.set(principal, user);
    return principal;
  }

  async function authenticateApiKey(secret: string) {
    const id = secretId(apiKeyPrefix, secret);
    const key = id === undefined ? undefined : await store.getApiKey(id);
    const now = clock();
    if (!key || !secretMatches(secret, key.secretHash) || key.revokeTime || (key.expireTime && key.expireTime <= now)) {
      throw new DomainError("unauthenticated", "INVALID_API_KEY", "the API key is not valid, expired or revoked");
    }
    const user = activeUser(await store.getUser(key.userId), "INVALID_API_KEY");
    if ((lastTouched.get(key.id) ?? 0) + touchIntervalMs <= now.getTime()) {
      lastTouched.set(key.id, now.getTime());
      await store.touchApiKey(key.id, now);
    }
    return { principal: principalOf(user, "api-key", ""), key };
  }

  return {
    async verifyAccessToken(token) {
      const claimed = await tokens.verify(token);
      const found = await store.getSessionUser(claimed.sessionId);
      if (!found || found.session.revokeTime || userName(found.user.id) !== claimed.user) {
        throw new DomainError("unauthenticated", "SESSION_ENDED", "the sign-in has ended; sign in again");
      }
      return principalOf(activeUser(found.user, "SESSION_ENDED"), "access-token", found.session.id);
    },
    async verifyApiKey(secret) {
      return (await authenticateApiKey(secret)).principal;
    },
    authenticateApiKey,
    userOf: (principal) => usersOf.get(principal),
  };
}

function activeUser(user: UserRecord | undefined, reason: string): UserRecord {
  if (user?.state === UserState.ACTIVE) return user;
  throw new DomainError("unauthenticated", reason, "the credentials belong to no active user");
}
