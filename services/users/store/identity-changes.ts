import type { Kysely } from "kysely";
import type { Database } from "../../kit/database/open-database.js";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import type { UserSchema } from "./schema.js";
import type { UserStore } from "./types.js";

/**
 * How long identity changes are kept for followers to resume from. A
 * follower away for longer resyncs, which costs it one check per credential.
 */
const retentionMs = 24 * 60 * 60 * 1000;

/**
 * Records that credentials of `subject` (a user's, API key's or session's
 * name) may have changed, with the next revision.
 *
 * Call it first in the transaction of the change. Its increment of the one
 * identity_revision row holds that row's lock until commit on PostgreSQL,
 * so revisions are taken in commit order and a rollback leaves no gap
 * (followers resume by revision and must never skip one); and taking it
 * before any other lock means two recording changes never wait on each
 * other in opposite orders. Changes older than the retention go in passing.
 */
export async function recordIdentityChange(trx: Kysely<UserSchema>, subject: string, now: Date): Promise<void> {
  const { value } = await trx
    .updateTable("identity_revision")
    .set((eb) => ({ value: eb("value", "+", 1) }))
    .where("id", "=", 1)
    .returning("value")
    .executeTakeFirstOrThrow();
  await trx.insertInto("identity_changes").values({ revision: value, subject, change_time: toStoredTime(now) }).execute();
  await trx
    .deleteFrom("identity_changes")
    .where("change_time", "<", toStoredTime(new Date(now.getTime() - retentionMs)))
    .execute();
}

/** The user's name as identity changes record it. */
export function userSubject(userId: string): string {
  return `users/${userId}`;
}

/** Reading the identity-change log. */
export function createIdentityChangeQueries(database: Database<UserSchema>): Pick<UserStore, "identityRevision" | "listIdentityChanges"> {
  const { db } = database;
  return {
    async identityRevision() {
      const { value } = await db.selectFrom("identity_revision").select("value").where("id", "=", 1).executeTakeFirstOrThrow();
      return value;
    },

    async listIdentityChanges(afterRevision, limit) {
      const rows = await db
        .selectFrom("identity_changes")
        .selectAll()
        .where("revision", ">", afterRevision)
        .orderBy("revision")
        .limit(limit)
        .execute();
      return rows.map((row) => ({ revision: row.revision, subject: row.subject, changeTime: fromStoredTime(row.change_time) }));
    },
  };
}
