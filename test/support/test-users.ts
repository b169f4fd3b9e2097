import { randomUUID } from "node:crypto";
import { Role, UserKind, type User } from "../../gen/launchpad/user/v1/user_pb.js";
import type { TestUsersService } from "./users-service.js";

/** A user made for a test, with the credential it calls with. */
export interface TestUser {
  user: User;
  /** The password of a person; empty for service accounts. */
  password: string;
  /** What goes after "Bearer ": an access token for people, an API key for service accounts. */
  credential: string;
  /** The refresh token of a person's sign-in; empty for service accounts. */
  refreshToken: string;
  /** The resource name of the API key a service account calls with; empty for people. */
  apiKeyName: string;
}

/** A unique email, so tests never collide on the unique index. */
export function uniqueEmail(label: string): string {
  return `${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${randomUUID().slice(0, 8)}@example.com`;
}

/** Optional fields of a test user beyond its role. */
export interface TestUserFields {
  /** The environments the user is limited to; all when empty. */
  environments?: string[];
}

/**
 * Creates a user with this role through the API, as `adminToken`, and signs
 * it in the way its kind does: agents are service accounts holding an API
 * key; everyone else is a person holding a Login access token.
 */
export async function createTestUser(
  service: TestUsersService,
  adminToken: string,
  role: Role,
  label = Role[role],
  fields: TestUserFields = {},
): Promise<TestUser> {
  const environments = fields.environments ?? [];
  const asAdmin = service.auth(adminToken);
  if (role === Role.AGENT) {
    const { user } = await service.client.createUser(
      { user: { email: uniqueEmail(label), displayName: label, kind: UserKind.SERVICE_ACCOUNT, role, environments } },
      asAdmin,
    );
    const key = await service.client.createApiKey({ parent: user!.name, apiKey: { displayName: `${label} key` } }, asAdmin);
    return { user: user!, password: "", credential: key.secret, refreshToken: "", apiKeyName: key.apiKey!.name };
  }
  const password = `password of ${randomUUID()}`;
  const { user } = await service.client.createUser({ user: { email: uniqueEmail(label), displayName: label, role, environments }, password }, asAdmin);
  const { tokens } = await service.client.login({ email: user!.email, password });
  return { user: user!, password, credential: tokens!.accessToken, refreshToken: tokens!.refreshToken, apiKeyName: "" };
}
