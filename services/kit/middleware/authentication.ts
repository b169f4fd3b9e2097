import type { DescMethod } from "@bufbuild/protobuf";
import { accessPolicy } from "../auth/access-policy.js";
import { apiKeyPrefix, type AuthContext, type CredentialVerifier, type Principal } from "../auth/principal.js";
import { DomainError } from "../errors.js";
import type { CallCheck } from "./call-checks.js";
import { outgoingTraceparent, type RequestContextExt } from "./request-context.js";

const bearer = /^Bearer\s+(\S+)$/i;

/**
 * Resolves "authorization: Bearer ..." to a principal: JWT access tokens are
 * verified locally, API keys (lpk_...) by the verifier. No credentials leave
 * the principal unset for authorization to judge; bad ones are refused with
 * UNAUTHENTICATED. Public methods skip verification entirely, so a stale
 * token never blocks signing in again.
 */
export function authenticationCheck(
  methods: ReadonlyMap<string, DescMethod>,
  verifier: CredentialVerifier,
): CallCheck<AuthContext, RequestContextExt> {
  return async function authenticate(call, context) {
    const method = methods.get(call.method.path);
    const isPublic = method !== undefined && accessPolicy(method)?.rule.case === "public";
    const header = context.metadata.get("authorization");
    let principal: Principal | undefined;
    if (!isPublic && header !== undefined) {
      const token = bearer.exec(header)?.[1];
      if (token === undefined) {
        throw new DomainError("unauthenticated", "MALFORMED_CREDENTIALS", 'expected "authorization: Bearer <token or API key>"');
      }
      const verifying = { signal: context.signal, traceparent: outgoingTraceparent(context.request) };
      principal = token.startsWith(apiKeyPrefix)
        ? await verifier.verifyApiKey(token, verifying)
        : await verifier.verifyAccessToken(token, verifying);
      context.request.principal = principal.user;
    }
    return { principal };
  };
}
