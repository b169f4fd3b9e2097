import type { DescMethod, Message } from "@bufbuild/protobuf";
import { accessPolicy, ownsResource } from "../auth/access-policy.js";
import { roleGrants } from "../auth/permissions.js";
import type { AuthContext, Principal } from "../auth/principal.js";
import { DomainError } from "../errors.js";
import { readFieldPath } from "../grpc/field-path.js";
import type { CallCheck } from "./call-checks.js";

/**
 * Enforces each method's declared access policy (launchpad.auth.v1.access):
 * public, any signed-in principal, or a permission of the caller's role, or,
 * where the policy names a self_field, the caller acting on themselves.
 * A method without a policy is refused.
 */
export function authorizationCheck(methods: ReadonlyMap<string, DescMethod>): CallCheck<{}, AuthContext> {
  return function authorize(call, context) {
    const method = methods.get(call.method.path);
    const policy = method && accessPolicy(method);
    const { principal } = context;
    switch (policy?.rule.case) {
      case "public":
        break;
      case "authenticated":
        requirePrincipal(principal);
        break;
      case "permission": {
        const permission = policy.rule.value;
        const caller = requirePrincipal(principal);
        if (roleGrants(caller.role, permission)) break;
        const target = policy.selfField && !call.requestStream
          ? readFieldPath(method!.input, call.request as Message, policy.selfField)
          : undefined;
        if (typeof target === "string" && ownsResource(caller.user, target)) break;
        throw new DomainError("permission-denied", "PERMISSION_DENIED", `this call needs the permission ${permission}`, {
          metadata: { permission },
        });
      }
      default:
        throw new DomainError("permission-denied", "NO_ACCESS_POLICY", "this method declares no access policy");
    }
  };
}

function requirePrincipal(principal: Principal | undefined): Principal {
  if (principal) return principal;
  throw new DomainError("unauthenticated", "CREDENTIALS_REQUIRED", 'this call needs "authorization: Bearer <token or API key>"');
}
