import type { Principal } from "../kit/auth/principal.js";
import { DomainError } from "../kit/errors.js";

/**
 * Refuses a change in an environment the caller is not limited to. Callers
 * with no environments listed (admins, unrestricted deployers) may act in all.
 */
export function assertEnvironmentAllowed(principal: Principal, environment: string): void {
  if (principal.environments.length === 0 || principal.environments.includes(environment)) return;
  throw new DomainError("permission-denied", "ENVIRONMENT_NOT_ALLOWED", `you may not deploy to ${environment}`, {
    metadata: { environment },
  });
}
