import type { Selectable, Transaction, Updateable } from "kysely";
import { Role, UserState } from "../../../gen/launchpad/user/v1/user_pb.js";
import { DomainError } from "../../kit/errors.js";
import { forUpdate } from "../../kit/database/locks.js";
import type { Database } from "../../kit/database/open-database.js";
import { toStoredTime } from "../../kit/database/times.js";
import { revokeAllApiKeys } from "./api-keys.js";
import { recordIdentityChange, userSubject } from "./identity-changes.js";
import type { UserSchema, UsersTable } from "./schema.js";
import { revokeAllSessions } from "./sessions.js";
import { toUserRecord } from "./users.js";
import type { UserChanges, UserStore } from "./types.js";

/** Changing and disabling users, with the version and last-admin rules. */
export function createUserChanges(database: Database<UserSchema>): Pick<UserStore, "updateUser" | "disableUser"> {
  const { db, dialect } = database;

  // Locks the user (and, when the change may take admin rights away, every
  // active admin) and checks the rules; returns the row as it is now.
  async function lockForChange(
    trx: Transaction<UserSchema>,
    id: string,
    expectedVersion: number | undefined,
    mayRemoveAdmin: boolean,
  ): Promise<Selectable<UsersTable>> {
    // Admins first and in id order, then the user: every change takes its
    // locks in that one order, so two changes never wait on each other.
    const admins = mayRemoveAdmin
      ? await trx
          .selectFrom("users")
          .select("id")
          .where("role", "=", Role.ADMIN)
          .where("delete_time", "is", null)
          .orderBy("id")
          .$call(forUpdate(dialect))
          .execute()
      : [];
    const user = await trx
      .selectFrom("users")
      .selectAll()
      .where("id", "=", id)
      .$call(forUpdate(dialect))
      .executeTakeFirst();
    if (user === undefined || user.delete_time !== null) {
      throw new DomainError("not-found", "USER_NOT_FOUND", `user "${id}" not found`);
    }
    if (expectedVersion !== undefined && user.version !== expectedVersion) {
      throw new DomainError("aborted", "ETAG_MISMATCH", `user "${id}" was changed since it was read; read it again`);
    }
    if (mayRemoveAdmin && user.role === Role.ADMIN && admins.length <= 1) {
      throw new DomainError("failed-precondition", "LAST_ADMIN", `user "${id}" is the last active admin`);
    }
    return user;
  }

  async function write(trx: Transaction<UserSchema>, user: Selectable<UsersTable>, set: Updateable<UsersTable>) {
    const row = await trx
      .updateTable("users")
      .set({ ...set, version: user.version + 1 })
      .where("id", "=", user.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toUserRecord(row);
  }

  return {
    updateUser(id, changes, expectedVersion, now) {
      const demotes = changes.role !== undefined && changes.role !== Role.ADMIN;
      const changesCredentials = [changes.role, changes.environments, changes.passwordHash].some((value) => value !== undefined);
      return db.transaction().execute(async (trx) => {
        if (changesCredentials) await recordIdentityChange(trx, userSubject(id), now);
        const user = await lockForChange(trx, id, expectedVersion, demotes);
        return write(trx, user, { ...changedColumns(changes), update_time: toStoredTime(now) });
      });
    },

    disableUser(id, expectedVersion, now) {
      const at = toStoredTime(now);
      return db.transaction().execute(async (trx) => {
        await recordIdentityChange(trx, userSubject(id), now);
        const user = await lockForChange(trx, id, expectedVersion, true);
        const disabled = await write(trx, user, { state: UserState.DISABLED, delete_time: at, update_time: at });
        await revokeAllApiKeys(trx, id, now);
        await revokeAllSessions(trx, id, now);
        return disabled;
      });
    },
  };
}

// Undefined fields are left out of the UPDATE by Kysely, so they keep their values.
function changedColumns(changes: UserChanges): Updateable<UsersTable> {
  return {
    display_name: changes.displayName,
    role: changes.role,
    environments: changes.environments && JSON.stringify(changes.environments),
    preferences: changes.preferences && JSON.stringify(changes.preferences),
    password_hash: changes.passwordHash,
  };
}
