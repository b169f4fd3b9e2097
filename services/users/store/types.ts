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

/** A JWT signing key pair; the private half never leaves the users service, and is stored sealed. */
export interface SigningKeyRecord {
  kid: string;
  algorithm: string;
  publicJwk: Record<string, unknown>;
  /** The private JWK as a compact JWE (dir, A256GCM); rows older than sealing hold its plain JSON until start-up seals them. */
  sealedPrivateJwk: string;
  /** When it was made, and published. */
  createTime: Date;
  /** From when it signs new access tokens. */
  activateTime: Date;
}

/** Password checks counted for one key (a hash of the account's email or the client's address) in its window. */
export interface LoginAttemptCount {
  key: string;
  /** Checks reserved in the window, this one included, less those that succeeded. */
  attempts: number;
  windowStart: Date;
}

/**
 * Credentials of a subject issued before changeTime may no longer hold: a
 * session revoked; a user disabled, or their role, environments or password
 * changed; an API key revoked. Every change that revokes or alters
 * credentials records one, in its own transaction.
 */
export interface IdentityChangeRecord {
  revision: number;
  /** "users/{id}", "users/{id}/apiKeys/{key}" or "sessions/{id}". */
  subject: string;
  changeTime: Date;
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
  /** Replaces a password hash made with weaker parameters by one of the same password, if it is still `current`. */
  upgradePasswordHash(id: string, current: string, next: string): Promise<void>;
  /**
   * Applies changes when the stored version equals expectedVersion (when
   * given), else aborted/ETAG_MISMATCH. Refuses to leave no active admin
   * (failed-precondition/LAST_ADMIN), atomically even across replicas.
   * Throws not-found/USER_NOT_FOUND for an unknown or disabled user. A
   * change of role, environments or password is recorded as an identity
   * change of the user.
   */
  updateUser(id: string, changes: UserChanges, expectedVersion: number | undefined, now: Date): Promise<UserRecord>;
  /**
   * Disables the user, revokes its API keys and sessions in the same
   * transaction, recorded as an identity change of the user; same version
   * and last-admin rules as updateUser.
   */
  disableUser(id: string, expectedVersion: number | undefined, now: Date): Promise<UserRecord>;

  createApiKey(key: ApiKeyRecord): Promise<ApiKeyRecord>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(
    userId: string,
    options: { showRevoked: boolean; limit: number; after?: { createTime: Date; id: string } },
  ): Promise<{ keys: ApiKeyRecord[]; totalSize: number }>;
  /** Sets revoke_time if not yet set, recorded as an identity change of the key; returns the key, or undefined if unknown. */
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
  /** Revokes a session; recorded as an identity change of the session. */
  revokeSession(id: string, now: Date): Promise<void>;
  /**
   * Revokes every unrevoked session of the user, but `keepSessionId` (the
   * caller's own) when given; recorded as an identity change of the user.
   */
  revokeUserSessions(userId: string, now: Date, keepSessionId?: string): Promise<void>;

  /** Every signing key, oldest activation first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** Inserts the key unless one exists already (first start races); returns all keys. */
  addSigningKeyIfNone(key: SigningKeyRecord): Promise<SigningKeyRecord[]>;
  /**
   * Inserts the key unless a key activates later than `newestSeen` (another
   * replica rotated first): a compare-and-set, atomic across replicas. True when inserted.
   */
  addSigningKeyUnlessNewer(key: SigningKeyRecord, newestSeen: Date): Promise<boolean>;
  /** Replaces a key's sealed private JWK if it still is `current`; on SQLite also purges the old text from the write-ahead log. */
  resealSigningKey(kid: string, current: string, sealed: string): Promise<void>;
  deleteSigningKeys(kids: string[]): Promise<void>;

  /**
   * Adds one attempt to each key, starting a new window when the old one
   * ended, and returns the new counts; atomic per key across replicas.
   */
  reserveLoginAttempt(keys: string[], now: Date, windowMs: number): Promise<LoginAttemptCount[]>;
  /** After a successful check: deletes `clearedKey`'s counter and takes one attempt off `returnedKey`'s. */
  releaseLoginAttempt(clearedKey: string, returnedKey: string): Promise<void>;
  /** Deletes up to `limit` counters whose window started at or before `endedBefore`; returns how many. */
  pruneLoginAttempts(endedBefore: Date, limit: number): Promise<number>;

  /** The latest identity-change revision; 0 before the first change. */
  identityRevision(): Promise<number>;
  /**
   * Up to `limit` identity changes after `afterRevision`, in revision order.
   * Revisions have no gaps, so a first change later than afterRevision + 1
   * means the ones between are no longer kept.
   */
  listIdentityChanges(afterRevision: number, limit: number): Promise<IdentityChangeRecord[]>;

  close(): Promise<void>;
}
