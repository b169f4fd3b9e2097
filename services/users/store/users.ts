import type { Kysely, Selectable } from "kysely";
import { DomainError } from "../../kit/errors.js";
import type { FilterTerm } from "../../kit/filter.js";
import { compiledRead } from "../../kit/database/compiled-read.js";
import { filterCondition } from "../../kit/database/filter-condition.js";
import { keysetAfter } from "../../kit/database/keyset.js";
import type { Database } from "../../kit/database/open-database.js";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import { isUniqueViolation } from "../../kit/database/unique-violation.js";
import { normalizeEmail } from "../email-address.js";
import type { UserSchema, UsersTable } from "./schema.js";
import type { UserOrder, UserRecord, UserStore } from "./types.js";

const streamBatchSize = 500;

/** The column each filterable field of ListUsers reads. */
const filterColumns = {
  email: "email",
  display_name: "display_name",
  role: "role",
  kind: "kind",
  state: "state",
  create_time: "create_time",
} as const;

/** Reads a users row back as a record. */
export function toUserRecord(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    email: row.email,
    displayName: row.display_name,
    kind: row.kind,
    role: row.role,
    environments: JSON.parse(row.environments) as string[],
    state: row.state,
    preferences: JSON.parse(row.preferences) as UserRecord["preferences"],
    passwordHash: row.password_hash,
    createTime: fromStoredTime(row.create_time),
    updateTime: fromStoredTime(row.update_time),
    deleteTime: fromStoredTime(row.delete_time),
    version: row.version,
  };
}

function toUserRow(user: UserRecord): Selectable<UsersTable> {
  return {
    id: user.id,
    email: normalizeEmail(user.email),
    display_name: user.displayName,
    kind: user.kind,
    role: user.role,
    environments: JSON.stringify(user.environments),
    state: user.state,
    preferences: JSON.stringify(user.preferences),
    password_hash: user.passwordHash,
    create_time: toStoredTime(user.createTime),
    update_time: toStoredTime(user.updateTime),
    delete_time: toStoredTime(user.deleteTime),
    version: user.version,
  };
}

/** Reading and creating users, and upgrading their password hashes. */
export function createUserReads(
  database: Database<UserSchema>,
): Pick<UserStore, "getUser" | "getUserByEmail" | "listUsers" | "streamUsers" | "countUsers" | "createUser" | "upgradePasswordHash"> {
  const { db } = database;
  const userById = compiledRead(db, (id: string) => db.selectFrom("users").selectAll().where("id", "=", id));

  async function getUserByEmail(email: string): Promise<UserRecord | undefined> {
    // Emails stored before normalisation were only lower-cased: they are found as written too.
    const spellings = [...new Set([normalizeEmail(email), email.trim().toLowerCase()])];
    const row = await db.selectFrom("users").selectAll().where("email", "in", spellings).orderBy("email").executeTakeFirst();
    return row && toUserRecord(row);
  }

  return {
    async getUser(id) {
      const [row] = await userById(id);
      return row && toUserRecord(row);
    },

    getUserByEmail,

    async listUsers(query) {
      const column = query.order.field;
      const direction = query.order.descending ? "desc" : "asc";
      // One snapshot, so totalSize counts the same rows the page was cut from.
      return db
        .transaction()
        .setIsolationLevel("repeatable read")
        .execute(async (trx) => {
          const page = matching(trx, query.filter, query.showDeleted);
          const rows = await (query.after ? page.where(afterCursor(query.order, query.after)) : page)
            .orderBy(column, direction)
            .orderBy("id", direction)
            .limit(query.limit)
            .selectAll()
            .execute();
          const { count } = await matching(trx, query.filter, query.showDeleted)
            .select((eb) => eb.fn.countAll<number>().as("count"))
            .executeTakeFirstOrThrow();
          return { users: rows.map(toUserRecord), totalSize: count };
        });
    },

    async *streamUsers(filter, showDeleted) {
      let lastId: string | undefined;
      for (;;) {
        const batch = matching(db, filter, showDeleted);
        const rows = await (lastId === undefined ? batch : batch.where("id", ">", lastId))
          .orderBy("id")
          .limit(streamBatchSize)
          .selectAll()
          .execute();
        yield* rows.map(toUserRecord);
        lastId = rows.at(-1)?.id;
        if (rows.length < streamBatchSize) return;
      }
    },

    async countUsers() {
      const { count } = await db
        .selectFrom("users")
        .select((eb) => eb.fn.countAll<number>().as("count"))
        .executeTakeFirstOrThrow();
      return count;
    },

    async createUser(user) {
      const row = toUserRow(user);
      try {
        await db.insertInto("users").values(row).execute();
      } catch (error) {
        // The same id twice is a bug, not a taken email: only say so when it is.
        if (isUniqueViolation(error) && (await getUserByEmail(row.email))) {
          throw new DomainError("already-exists", "EMAIL_TAKEN", "a user with this email already exists", {
            cause: error,
          });
        }
        throw error;
      }
      return toUserRecord(row);
    },

    async upgradePasswordHash(id, current, next) {
      // Not a change of the user: version and update time stay. The condition
      // keeps a password changed meanwhile from being overwritten.
      await db.updateTable("users").set({ password_hash: next }).where("id", "=", id).where("password_hash", "=", current).execute();
    },
  };
}

function matching(db: Kysely<UserSchema>, filter: FilterTerm[], showDeleted: boolean) {
  return db
    .selectFrom("users")
    .where(filterCondition(filter, filterColumns))
    .$if(!showDeleted, (q) => q.where("delete_time", "is", null));
}

// The cursor holds the sort value as the service saw it: a create time is an
// RFC 3339 string, compared here in toStoredTime's form.
function afterCursor(order: UserOrder, after: { value: string; id: string }) {
  const value = order.field === "create_time" ? toStoredTime(new Date(after.value)) : after.value;
  return keysetAfter([order.field, "id"], [value, after.id], order.descending);
}
