import type { Role, Theme, UserKind, UserState } from "../../../gen/launchpad/user/v1/user_pb.js";
import type { FilterTerm } from "../../kit/filter.js";

/** A user as stored. Times are Dates; enums are the contract's numbers. */
export interface UserRecord {
  id: string;
  /** Lower-cased; unique among all users, disabled ones included. */
  email: string;
  displayName: string;
  kind: UserKind;
  role: Role;
  environments: string[];
  state: UserState;
  preferences: PreferencesRecord;
  /** scrypt hash in PHC-like form; null for service accounts. */
  passwordHash: string | null;
  createTime: Date;
  updateTime: Date;
  deleteTime: Date | null;
  /** Starts at 1, +1 on every change; the etag is derived from it. */
  version: number;
}

/** A user's console preferences. */
export interface PreferencesRecord {
  timeZone: string;
  theme: Theme;
  defaultEnvironment: string;
}

/** The fields UpdateUser may change. */
export type UserChanges = Partial<
  Pick<UserRecord, "displayName" | "role" | "environments" | "preferences" | "passwordHash">
>;

/** Sort orders of ListUsers. */
export type UserOrder = { field: "create_time" | "email" | "display_name"; descending: boolean };

/** A page query over users. */
export interface UserQuery {
  filter: FilterTerm[];
  order: UserOrder;
  showDeleted: boolean;
  /** Keyset cursor: the sort value and id of the last row of the previous page. */
  after?: { value: string; id: string };
  limit: number;
}

/** An API key as stored; the secret itself is never stored. */
export interface ApiKeyRecord {
  id: string;
  userId: string;
  displayName: string;
  /** The first characters of the secret, shown in lists. */
  prefix: string;
  /** SHA-256 of the secret, hex. */
  secretHash: string;
  createTime: Date;
  expireTime: Date | null;
  lastUseTime: Date | null;
  revokeTime: Date | null;
}

/** One sign-in: the family of refresh tokens issued from one Login. */
export interface SessionRecord {
  id: string;
  userId: string;
  createTime: Date;
  expireTime: Date;
  revokeTime: Date | null;
}

/** One refresh token of a session; only the current one may be exchanged. */
export interface RefreshTokenRecord {
  id: string;
  sessionId: string;
  /** SHA-256 of the secret, hex. */
  secretHash: string;
  createTime: Date;
  expireTime: Date;
  /** Set when exchanged; presenting it again revokes the session. */
  rotateTime: Date | null;
}

/** A JWT signing key pair; the private half never leaves the users service. */
export interface SigningKeyRecord {
  kid: string;
  algorithm: string;
  publicJwk: Record<string, unknown>;
  privateJwk: Record<string, unknown>;
  createTime: Date;
}

/** Failed sign-ins counted for one key ("email:..." or "address:..."). */
export interface LoginFailureRecord {
  key: string;
  failures: number;
  windowStart: Date;
}

/** All SQL of the users service. Every method runs its statements atomically. */
export interface UserStore {
  getUser(id: string): Promise<UserRecord | undefined>;
  getUserByEmail(email: string): Promise<UserRecord | undefined>;
  /** One page of users and the number matching the query across all pages. */
  listUsers(query: UserQuery): Promise<{ users: UserRecord[]; totalSize: number }>;
  /** Every user matching the filter, read in batches. */
  streamUsers(filter: FilterTerm[], showDeleted: boolean): AsyncIterable<UserRecord>;
  countUsers(): Promise<number>;
  /** Throws DomainError already-exists/EMAIL_TAKEN when the email is taken. */
  createUser(user: UserRecord): Promise<UserRecord>;
  /**
   * Applies changes when the stored version equals expectedVersion (when
   * given), else aborted/ETAG_MISMATCH. Refuses to leave no active admin
   * (failed-precondition/LAST_ADMIN), atomically even across replicas.
   * Throws not-found/USER_NOT_FOUND for an unknown or disabled user.
   */
  updateUser(id: string, changes: UserChanges, expectedVersion: number | undefined, now: Date): Promise<UserRecord>;
  /**
   * Disables the user, revokes its API keys and sessions in the same
   * transaction; same version and last-admin rules as updateUser.
   */
  disableUser(id: string, expectedVersion: number | undefined, now: Date): Promise<UserRecord>;

  createApiKey(key: ApiKeyRecord): Promise<ApiKeyRecord>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(
    userId: string,
    options: { showRevoked: boolean; limit: number; after?: { createTime: Date; id: string } },
  ): Promise<{ keys: ApiKeyRecord[]; totalSize: number }>;
  /** Sets revoke_time if not yet set; returns the key, or undefined if unknown. */
  revokeApiKey(userId: string, id: string, now: Date): Promise<ApiKeyRecord | undefined>;
  /** Records a use; callers throttle this to once a minute per key. */
  touchApiKey(id: string, now: Date): Promise<void>;

  createSession(session: SessionRecord, token: RefreshTokenRecord): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** A session and its user in one read: what verifying an access token needs. */
  getSessionUser(sessionId: string): Promise<{ session: SessionRecord; user: UserRecord } | undefined>;
  getRefreshToken(id: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Marks `current` rotated and inserts `next`, only if `current` was not
   * rotated yet (compare-and-set); false when it already was.
   */
  rotateRefreshToken(currentId: string, next: RefreshTokenRecord, now: Date): Promise<boolean>;
  revokeSession(id: string, now: Date): Promise<void>;
  revokeUserSessions(userId: string, now: Date): Promise<void>;

  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** Inserts the key unless one exists already (first start races); returns all keys. */
  addSigningKeyIfNone(key: SigningKeyRecord): Promise<SigningKeyRecord[]>;

  getLoginFailures(keys: string[]): Promise<LoginFailureRecord[]>;
  /** Adds one failure to each key, starting a new window when the old one ended. */
  recordLoginFailure(keys: string[], now: Date, windowMs: number): Promise<void>;
  clearLoginFailures(keys: string[]): Promise<void>;

  close(): Promise<void>;
}
