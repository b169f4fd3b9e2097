import { Role, UserKind } from "../../gen/launchpad/user/v1/user_pb.js";
import type { TestUsersService } from "./users-service.js";

/** A service account and the secret of an API key for it. */
export interface ServiceAccountKey {
  /** The account's resource name, "users/{user}": the actor of what it does. */
  user: string;
  /** The API key's secret, for "authorization: Bearer <secret>". */
  secret: string;
}

/** Creates a service account (ROLE_AGENT unless told) and an API key for it, as an admin. */
export async function createServiceAccountKey(
  users: Pick<TestUsersService, "client" | "auth">,
  adminToken: string,
  email: string,
  role: Role = Role.AGENT,
): Promise<ServiceAccountKey> {
  const { user } = await users.client.createUser({ user: { email, kind: UserKind.SERVICE_ACCOUNT, role } }, users.auth(adminToken));
  const { secret } = await users.client.createApiKey({ parent: user!.name, apiKey: { displayName: email } }, users.auth(adminToken));
  return { user: user!.name, secret };
}
