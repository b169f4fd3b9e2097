import { openDatabase } from "../../kit/database/open-database.js";
import { createApiKeyQueries } from "./api-keys.js";
import { createIdentityChangeQueries } from "./identity-changes.js";
import { createLoginFailureQueries } from "./login-failures.js";
import { migrations } from "./migrations.js";
import type { UserSchema } from "./schema.js";
import { createSessionQueries } from "./sessions.js";
import { createSigningKeyQueries } from "./signing-keys.js";
import type { UserStore } from "./types.js";
import { createUserChanges } from "./user-changes.js";
import { createUserReads } from "./users.js";

/**
 * Opens the users service's database (PostgreSQL when `url` is a PostgreSQL
 * URL, else the SQLite file), migrated to the latest version.
 */
export async function openUserStore(options: { url?: string; sqlitePath: string }): Promise<UserStore> {
  const database = await openDatabase<UserSchema>({ ...options, migrations });
  return {
    ...createUserReads(database),
    ...createUserChanges(database),
    ...createApiKeyQueries(database),
    ...createSessionQueries(database),
    ...createSigningKeyQueries(database),
    ...createLoginFailureQueries(database),
    ...createIdentityChangeQueries(database),
    close: () => database.close(),
  };
}
