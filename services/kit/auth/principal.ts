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

/** The call a credential is verified for. */
export interface VerifyingCall {
  signal?: AbortSignal;
  /** W3C traceparent for calls the verifier makes, so they join the caller's trace. */
  traceparent?: string;
}

/** Verifies credentials presented as "authorization: Bearer ...". */
export interface CredentialVerifier {
  /** Resolves the principal of a JWT access token; throws DomainError unauthenticated. */
  verifyAccessToken(token: string, call?: VerifyingCall): Promise<Principal>;
  /** Resolves the principal of an API key; throws DomainError unauthenticated. */
  verifyApiKey(key: string, call?: VerifyingCall): Promise<Principal>;
}

/** API key secrets start with this, so they can be told from JWTs without parsing. */
export const apiKeyPrefix = "lpk_";
