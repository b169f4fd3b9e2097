// The users service's tables as Kysely sees them. Times are ISO-8601 text
// (kit/database/times.ts), enums the contract's numbers, lists and objects JSON text.

/** Every table of the users service. */
export interface UserSchema {
  users: UsersTable;
  api_keys: ApiKeysTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  login_failures: LoginFailuresTable;
  identity_revision: IdentityRevisionTable;
  identity_changes: IdentityChangesTable;
}

/** One row per user, disabled ones included. */
export interface UsersTable {
  id: string;
  email: string;
  display_name: string;
  kind: number;
  role: number;
  /** JSON array of environment names. */
  environments: string;
  state: number;
  /** JSON of PreferencesRecord. */
  preferences: string;
  password_hash: string | null;
  create_time: string;
  update_time: string;
  delete_time: string | null;
  version: number;
}

/** API keys; only the hash of the secret is kept. */
export interface ApiKeysTable {
  id: string;
  user_id: string;
  display_name: string;
  prefix: string;
  secret_hash: string;
  create_time: string;
  expire_time: string | null;
  last_use_time: string | null;
  revoke_time: string | null;
}

/** Sign-ins. */
export interface SessionsTable {
  id: string;
  user_id: string;
  create_time: string;
  expire_time: string;
  revoke_time: string | null;
}

/** The refresh tokens of each session. */
export interface RefreshTokensTable {
  id: string;
  session_id: string;
  secret_hash: string;
  create_time: string;
  expire_time: string;
  rotate_time: string | null;
}

/** JWT signing keys; the public JWK is JSON text, the private one a compact JWE sealed with the server's secret key. */
export interface SigningKeysTable {
  kid: string;
  algorithm: string;
  public_jwk: string;
  sealed_private_jwk: string;
  create_time: string;
  activate_time: string;
}

/** Failed sign-in counters per key and window. */
export interface LoginFailuresTable {
  key: string;
  failures: number;
  window_start: string;
}

/** The one row (id 1) numbering identity changes; its value is the latest revision. */
export interface IdentityRevisionTable {
  id: number;
  value: number;
}

/** Identity changes, one per revision: whose credentials may have changed, and when. */
export interface IdentityChangesTable {
  revision: number;
  /** The changed resource's name: "users/{id}", "users/{id}/apiKeys/{key}" or "sessions/{id}". */
  subject: string;
  change_time: string;
}
