import { createHash } from "node:crypto";
import { apiKeyPrefix, type CredentialVerifier } from "../../services/kit/auth/principal.js";
import { addressKey } from "../../services/kit/client-address-key.js";

/** A bearer credential as sent, not yet verified. */
export interface Credential {
  kind: "api-key" | "access-token";
  secret: string;
}

/** Longer authorization headers are not read: no credential of ours is this long. */
const maxAuthorizationLength = 8192;

/** The bearer credential of an authorization header, unverified; undefined without one. */
export function bearerCredential(authorization: string | undefined): Credential | undefined {
  if (!authorization || authorization.length > maxAuthorizationLength) return undefined;
  const secret = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization)?.[1];
  if (secret === undefined) return undefined;
  return { kind: secret.startsWith(apiKeyPrefix) ? "api-key" : "access-token", secret };
}

/** The most API keys remembered as verified at once; the least recently verified is forgotten first. */
const knownKeysSize = 10_000;

/**
 * Who verified credentials speak for, for rate limiting: the edge only names
 * a principal's budget after the credential has been verified, the same way
 * the services verify it (access tokens against the JWKS, API keys by the
 * users service, both cached by the verifier, which follows revocations).
 * Anything that does not verify, or cannot be verified right now, has no
 * principal.
 *
 * It also remembers which API keys verified before (by a SHA-256 of the
 * secret, never the secret), because checking an unknown one costs the users
 * service a call: callers look unknown keys up only when they can afford it.
 */
export function createCallerVerifier(verifier: CredentialVerifier) {
  const knownKeys = new Set<string>();
  const keyId = (secret: string) => createHash("sha256").update(secret).digest("base64url");

  return {
    /**
     * Whether junk in this form cannot make the verifier call the users
     * service: an access token (only one with a valid signature ever reaches
     * users), or an API key that verified before.
     */
    isCheap(credential: Credential): boolean {
      return credential.kind === "access-token" || knownKeys.has(keyId(credential.secret));
    },

    /** The user the credential speaks for ("users/…"), or undefined when it does not verify. Never rejects. */
    async principalOf(credential: Credential): Promise<string | undefined> {
      if (credential.kind === "access-token") {
        return verifier.verifyAccessToken(credential.secret).then(
          (principal) => principal.user,
          () => undefined,
        );
      }
      const id = keyId(credential.secret);
      try {
        const { user } = await verifier.verifyApiKey(credential.secret);
        knownKeys.delete(id);
        if (knownKeys.size >= knownKeysSize) knownKeys.delete(knownKeys.values().next().value!);
        knownKeys.add(id);
        return user;
      } catch {
        knownKeys.delete(id);
        return undefined;
      }
    },
  };
}

/** A verifier of callers' credentials for rate limiting. */
export type CallerVerifier = ReturnType<typeof createCallerVerifier>;

/**
 * The client's address as a rate-limit key: the TCP peer (X-Forwarded-For is
 * not trusted: the edge is the first hop), IPv4-mapped IPv6 written as IPv4,
 * and IPv6 cut to its /64, which one client usually holds whole.
 */
export function clientAddressOf(req: { socket?: { remoteAddress?: string } | null }): string {
  return addressKey(req.socket?.remoteAddress);
}
