import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { SignJWT } from "jose";
import { TokenGrantSchema, type TokenGrant } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { accessTokenAlgorithm } from "../kit/auth/access-token.js";
import { DomainError } from "../kit/errors.js";
import { userName } from "./resources.js";
import { issueSecret, secretId, secretMatches } from "./secrets.js";
import type { SigningKeys } from "./signing-keys.js";
import type { SessionRecord, UserRecord, UserStore } from "./store/types.js";
import { UserState } from "../../gen/launchpad/user/v1/user_pb.js";

/** Refresh tokens start with this. */
export const refreshTokenPrefix = "lpr_";

/** Lifetimes and claims of issued tokens. */
export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
}

/**
 * Sign-ins: a session is the family of refresh tokens one Login starts.
 * Each refresh exchanges the current token for a new one; presenting a token
 * that was already exchanged means it was stolen or replayed, so the whole
 * session is revoked.
 */
export function createSessions(store: UserStore, keys: SigningKeys, settings: TokenSettings) {
  async function signAccessToken(user: UserRecord, sessionId: string, now: Date) {
    const expireTime = new Date(now.getTime() + settings.accessTokenTtlMs);
    const token = await new SignJWT({
      email: user.email,
      kind: user.kind,
      role: user.role,
      envs: user.environments,
      sid: sessionId,
    })
      .setProtectedHeader({ alg: accessTokenAlgorithm, kid: keys.current.kid, typ: "JWT" })
      .setSubject(userName(user.id))
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime(Math.floor(expireTime.getTime() / 1000))
      .sign(keys.current.privateKey);
    return { token, expireTime };
  }

  async function grant(user: UserRecord, session: SessionRecord, refreshSecret: string, now: Date): Promise<TokenGrant> {
    const access = await signAccessToken(user, session.id, now);
    return create(TokenGrantSchema, {
      accessToken: access.token,
      accessTokenExpireTime: timestampFromDate(access.expireTime),
      refreshToken: refreshSecret,
      refreshTokenExpireTime: timestampFromDate(session.expireTime),
    });
  }

  /** Finds the live session of a refresh token, revoking it on reuse. */
  async function sessionOf(secret: string, now: Date) {
    const id = secretId(refreshTokenPrefix, secret);
    const token = id === undefined ? undefined : await store.getRefreshToken(id);
    if (!token || !secretMatches(secret, token.secretHash)) {
      throw new DomainError("unauthenticated", "INVALID_REFRESH_TOKEN", "the refresh token is not valid");
    }
    const session = await store.getSession(token.sessionId);
    if (!session || session.revokeTime || session.expireTime <= now) {
      throw new DomainError("unauthenticated", "SESSION_ENDED", "the sign-in has ended; sign in again");
    }
    return { token, session };
  }

  return {
    signAccessToken,

    /** Starts a session for a user who just proved who they are. */
    async start(user: UserRecord, now: Date): Promise<TokenGrant> {
      const refresh = issueSecret(refreshTokenPrefix);
      const session: SessionRecord = {
        id: randomUUID(),
        userId: user.id,
        createTime: now,
        expireTime: new Date(now.getTime() + settings.refreshTokenTtlMs),
        revokeTime: null,
      };
      await store.createSession(session, {
        id: refresh.id,
        sessionId: session.id,
        secretHash: refresh.hash,
        createTime: now,
        expireTime: session.expireTime,
        rotateTime: null,
      });
      return grant(user, session, refresh.secret, now);
    },

    /** Exchanges a refresh token for new tokens. */
    async refresh(secret: string, now: Date): Promise<TokenGrant> {
      const { token, session } = await sessionOf(secret, now);
      const reused = async () => {
        await store.revokeSession(session.id, now);
        return new DomainError("unauthenticated", "REFRESH_TOKEN_REUSED", "the refresh token was already used; the sign-in is revoked");
      };
      if (token.rotateTime) throw await reused();
      const user = await store.getUser(session.userId);
      if (!user || user.state !== UserState.ACTIVE) {
        throw new DomainError("unauthenticated", "SESSION_ENDED", "the sign-in has ended; sign in again");
      }
      const next = issueSecret(refreshTokenPrefix);
      const rotated = await store.rotateRefreshToken(
        token.id,
        { id: next.id, sessionId: session.id, secretHash: next.hash, createTime: now, expireTime: session.expireTime, rotateTime: null },
        now,
      );
      if (!rotated) throw await reused();
      return grant(user, session, next.secret, now);
    },

    /** Ends the session a refresh token belongs to. */
    async end(secret: string, now: Date): Promise<void> {
      const { session } = await sessionOf(secret, now);
      await store.revokeSession(session.id, now);
    },
  };
}

/** The sign-in operations of the users service. */
export type Sessions = ReturnType<typeof createSessions>;
