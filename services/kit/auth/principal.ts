import type { Role, UserKind } from "../../../gen/launchpad/user/v1/user_pb.js";

/** Who a verified credential speaks for, as every service sees it. */
export interface Principal {
  /** The user's resource name, "users/{user}". */
  user: string;
  email: string;
  kind: UserKind;
  role: Role;
  /** Environments a deployer is limited to; empty means all. */
  environments: string[];
  /** How the caller proved who they are. */
  credential: "access-token" | "api-key";
  /** The sign-in an access token belongs to; empty for API keys. */
  sessionId: string;
}

/** What the authentication middleware adds to the call context. */
export type AuthContext = { principal: Principal | undefined };

/** Verifies credentials presented as "authorization: Bearer ...". */
export interface CredentialVerifier {
  /** Resolves the principal of a JWT access token; throws DomainError unauthenticated. */
  verifyAccessToken(token: string, signal?: AbortSignal): Promise<Principal>;
  /** Resolves the principal of an API key; throws DomainError unauthenticated. */
  verifyApiKey(key: string, signal?: AbortSignal): Promise<Principal>;
}

/** API key secrets start with this, so they can be told from JWTs without parsing. */
export const apiKeyPrefix = "lpk_";
