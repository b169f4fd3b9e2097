import type { Kysely, Selectable } from "kysely";
import { sessionSubjectName } from "../../kit/auth/identity-subjects.js";
import { compiledRead } from "../../kit/database/compiled-read.js";
import type { Database } from "../../kit/database/open-database.js";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import { recordIdentityChange, userSubject } from "./identity-changes.js";
import type { RefreshTokensTable, SessionsTable, UserSchema } from "./schema.js";
import type { RefreshTokenRecord, SessionRecord, UserStore } from "./types.js";
import { toUserRecord } from "./users.js";

/** Sessions and their refresh tokens. */
export function createSessionQueries(
  database: Database<UserSchema>,
): Pick<
  UserStore,
  "createSession" | "getSession" | "getSessionUser" | "getRefreshToken" | "rotateRefreshToken" | "revokeSession" | "revokeUserSessions"
> {
  const { db } = database;
  const sessionById = compiledRead(db, (id: string) => db.selectFrom("sessions").selectAll().where("id", "=", id));
  // "in (?)", not "= ?": SQLite (built with STAT4) prepares a join whose
  // "column = ?" it can propagate anew each time the parameter is bound, and
  // better-sqlite3 then compiles a new row constructor for every call.
  const sessionUserById = compiledRead(db, (id: string) =>
    db
      .selectFrom("sessions")
      .innerJoin("users", "users.id", "sessions.user_id")
      .selectAll("users")
      .select([
        "sessions.id as session_id",
        "sessions.create_time as session_create_time",
        "sessions.expire_time as session_expire_time",
        "sessions.revoke_time as session_revoke_time",
      ])
      .where("sessions.id", "in", [id]),
  );

  async function getSession(id: string): Promise<SessionRecord | undefined> {
    const [row] = await sessionById(id);
    return row && toSessionRecord(row);
  }

  return {
    createSession(session, token) {
      return db.transaction().execute(async (trx) => {
        await trx.insertInto("sessions").values(toSessionRow(session)).execute();
        await trx.insertInto("refresh_tokens").values(toRefreshTokenRow(token)).execute();
      });
    },

    getSession,

    async getSessionUser(sessionId) {
      const [row] = await sessionUserById(sessionId);
      if (!row) return undefined;
      const session = toSessionRecord({
        id: row.session_id,
        user_id: row.id,
        create_time: row.session_create_time,
        expire_time: row.session_expire_time,
        revoke_time: row.session_revoke_time,
      });
      return { session, user: toUserRecord(row) };
    },

    async getRefreshToken(id) {
      const row = await db.selectFrom("refresh_tokens").selectAll().where("id", "=", id).executeTakeFirst();
      return row && toRefreshTokenRecord(row);
    },

    rotateRefreshToken(currentId, next, now) {
      return db.transaction().execute(async (trx) => {
        // The condition on rotate_time is the compare-and-set: of two
        // concurrent rotations, the second finds the row already rotated
        // (PostgreSQL re-checks it after waiting for the first's row lock).
        const { numUpdatedRows } = await trx
          .updateTable("refresh_tokens")
          .set({ rotate_time: toStoredTime(now) })
          .where("id", "=", currentId)
          .where("rotate_time", "is", null)
          .executeTakeFirstOrThrow();
        if (numUpdatedRows === 0n) return false;
        await trx.insertInto("refresh_tokens").values(toRefreshTokenRow(next)).execute();
        return true;
      });
    },

    revokeSession(id, now) {
      return db.transaction().execute(async (trx) => {
        await recordIdentityChange(trx, sessionSubjectName(id), now);
        await trx
          .updateTable("sessions")
          .set({ revoke_time: toStoredTime(now) })
          .where("id", "=", id)
          .where("revoke_time", "is", null)
          .execute();
      });
    },

    revokeUserSessions(userId, now, keepSessionId) {
      return db.transaction().execute(async (trx) => {
        await recordIdentityChange(trx, userSubject(userId), now);
        await revokeAllSessions(trx, userId, now, keepSessionId);
      });
    },
  };
}

/**
 * Revokes every unrevoked session of a user, but `keepSessionId` when given
 * (a password change keeps the sign-in that made it); also part of disabling it.
 */
export async function revokeAllSessions(db: Kysely<UserSchema>, userId: string, now: Date, keepSessionId?: string): Promise<void> {
  await db
    .updateTable("sessions")
    .set({ revoke_time: toStoredTime(now) })
    .where("user_id", "=", userId)
    .where("revoke_time", "is", null)
    .$if(keepSessionId !== undefined, (q) => q.where("id", "!=", keepSessionId!))
    .execute();
}

function toSessionRecord(row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    createTime: fromStoredTime(row.create_time),
    expireTime: fromStoredTime(row.expire_time),
    revokeTime: fromStoredTime(row.revoke_time),
  };
}

function toSessionRow(session: SessionRecord): Selectable<SessionsTable> {
  return {
    id: session.id,
    user_id: session.userId,
    create_time: toStoredTime(session.createTime),
    expire_time: toStoredTime(session.expireTime),
    revoke_time: toStoredTime(session.revokeTime),
  };
}

function toRefreshTokenRecord(row: Selectable<RefreshTokensTable>): RefreshTokenRecord {
  return {
    id: row.id,
    sessionId: row.session_id,
    secretHash: row.secret_hash,
    createTime: fromStoredTime(row.create_time),
    expireTime: fromStoredTime(row.expire_time),
    rotateTime: fromStoredTime(row.rotate_time),
  };
}

function toRefreshTokenRow(token: RefreshTokenRecord): Selectable<RefreshTokensTable> {
  return {
    id: token.id,
    session_id: token.sessionId,
    secret_hash: token.secretHash,
    create_time: toStoredTime(token.createTime),
    expire_time: toStoredTime(token.expireTime),
    rotate_time: toStoredTime(token.rotateTime),
  };
}
