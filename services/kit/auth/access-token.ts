import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import { DomainError } from "../errors.js";
import type { Principal } from "./principal.js";

/** The signature algorithm of access tokens; verification accepts no other. */
export const accessTokenAlgorithm = "EdDSA";

/** Claims Launchpad puts in an access token besides the registered ones. */
export interface AccessTokenClaims extends JWTPayload {
  email: string;
  kind: number;
  role: number;
  envs: string[];
  sid: string;
}

/** Where verification finds the public keys; refetch when a kid is unknown. */
export interface KeySetSource {
  keySet(options: { refresh: boolean; signal?: AbortSignal }): Promise<JSONWebKeySet>;
}

/** Checks of an access token other than its signature. */
export interface AccessTokenRules {
  issuer: string;
  audience: string;
}

/** A verified access token: who it speaks for, when it was issued (0 when it does not say) and expires, in ms since the epoch. */
export interface VerifiedAccessToken {
  principal: Principal;
  issuedAt: number;
  expiresAt: number;
}

/** A verified token as remembered: also the key that verified it, so the entry goes when the key does. */
interface RememberedToken extends VerifiedAccessToken {
  kid: string;
  x: string | undefined;
}

/**
 * Verifies access tokens locally: signature by a published key, the pinned
 * algorithm, expiry, issuer and audience. Verified tokens are remembered
 * (at most `cacheSize`, by the whole token, the oldest forgotten first) until
 * they expire or the key that signed them is no longer published, so a
 * client reusing its token pays for the signature check once. Whether the
 * token's sign-in or user still stands is the caller's check, on every call.
 */
export function createAccessTokenVerifier(source: KeySetSource, rules: AccessTokenRules, cacheSize = 10_000) {
  const verified = new Map<string, RememberedToken>();

  async function verifyWith(token: string, keys: JSONWebKeySet) {
    return jwtVerify<AccessTokenClaims>(token, createLocalJWKSet(keys), {
      algorithms: [accessTokenAlgorithm],
      issuer: rules.issuer,
      audience: rules.audience,
      requiredClaims: ["exp", "sub", "jti"],
    });
  }

  async function verifyIssued(token: string, signal?: AbortSignal): Promise<VerifiedAccessToken> {
    let keys = await keySetOrRefusal({ refresh: false, signal });
    const hit = verified.get(token);
    if (hit && hit.expiresAt > Date.now() && keys.keys.some((key) => key.kid === hit.kid && key.x === hit.x)) return hit;
    let result;
    try {
      result = await verifyWith(token, keys);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw unauthenticated(error);
      keys = await keySetOrRefusal({ refresh: true, signal });
      try {
        result = await verifyWith(token, keys);
      } catch (retryError) {
        throw unauthenticated(retryError);
      }
    }
    const { payload: claims, protectedHeader } = result;
    const entry = { principal: principalOf(claims), issuedAt: (claims.iat ?? 0) * 1000, expiresAt: claims.exp! * 1000 };
    const kid = protectedHeader.kid;
    if (kid !== undefined) {
      verified.delete(token);
      if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!);
      verified.set(token, { ...entry, kid, x: keys.keys.find((key) => key.kid === kid)?.x });
    }
    return entry;
  }

  // A key source that cannot answer refuses the token; the cause says why.
  async function keySetOrRefusal(options: { refresh: boolean; signal?: AbortSignal }): Promise<JSONWebKeySet> {
    try {
      return await source.keySet(options);
    } catch (error) {
      throw unauthenticated(error);
    }
  }

  return {
    verifyIssued,
    /** The principal of a valid token. */
    verify: async (token: string, signal?: AbortSignal): Promise<Principal> => (await verifyIssued(token, signal)).principal,
  };
}

function principalOf(claims: AccessTokenClaims): Principal {
  return {
    user: claims.sub!,
    email: claims.email,
    kind: claims.kind,
    role: claims.role,
    environments: claims.envs ?? [],
    credential: "access-token",
    sessionId: claims.sid,
  };
}

function unauthenticated(cause: unknown): DomainError {
  const expired = cause instanceof errors.JWTExpired;
  return new DomainError(
    "unauthenticated",
    expired ? "TOKEN_EXPIRED" : "INVALID_TOKEN",
    expired ? "the access token has expired; refresh it" : "the access token is not valid",
    { cause },
  );
}
