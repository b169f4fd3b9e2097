import type { Kysely, Selectable } from "kysely";
import type { Database } from "../../kit/database/open-database.js";
import { keysetAfter } from "../../kit/database/keyset.js";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import { recordIdentityChange, userSubject } from "./identity-changes.js";
import type { ApiKeysTable, UserSchema } from "./schema.js";
import type { ApiKeyRecord, UserStore } from "./types.js";

/** API keys, listed oldest first. */
export function createApiKeyQueries(
  database: Database<UserSchema>,
): Pick<UserStore, "createApiKey" | "getApiKey" | "listApiKeys" | "revokeApiKey" | "touchApiKey"> {
  const { db } = database;

  return {
    async createApiKey(key) {
      await db.insertInto("api_keys").values(toApiKeyRow(key)).execute();
      return key;
    },

    async getApiKey(id) {
      const row = await db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
      return row && toApiKeyRecord(row);
    },

    listApiKeys(userId, { showRevoked, limit, after }) {
      return db
        .transaction()
        .setIsolationLevel("repeatable read")
        .execute(async (trx) => {
          const keys = trx
            .selectFrom("api_keys")
            .where("user_id", "=", userId)
            .$if(!showRevoked, (q) => q.where("revoke_time", "is", null));
          const page = after
            ? keys.where(keysetAfter(["create_time", "id"], [toStoredTime(after.createTime), after.id], false))
            : keys;
          const rows = await page.selectAll().orderBy("create_time").orderBy("id").limit(limit).execute();
          const { count } = await keys
            .select((eb) => eb.fn.countAll<number>().as("count"))
            .executeTakeFirstOrThrow();
          return { keys: rows.map(toApiKeyRecord), totalSize: count };
        });
    },

    revokeApiKey(userId, id, now) {
      return db.transaction().execute(async (trx) => {
        const read = () =>
          trx.selectFrom("api_keys").selectAll().where("id", "=", id).where("user_id", "=", userId).executeTakeFirst();
        // Only a real revocation is recorded, so deleting unknown or revoked
        // keys adds nothing to the log; recorded before the key row is locked
        // (see recordIdentityChange).
        const found = await read();
        if (!found || found.revoke_time !== null) return found && toApiKeyRecord(found);
        await recordIdentityChange(trx, `${userSubject(userId)}/apiKeys/${id}`, now);
        await trx
          .updateTable("api_keys")
          .set({ revoke_time: toStoredTime(now) })
          .where("id", "=", id)
          .where("revoke_time", "is", null)
          .execute();
        return toApiKeyRecord((await read())!);
      });
    },

    async touchApiKey(id, now) {
      const at = toStoredTime(now);
      // Replicas may record uses out of order; keep the latest.
      await db
        .updateTable("api_keys")
        .set({ last_use_time: at })
        .where("id", "=", id)
        .where((eb) => eb.or([eb("last_use_time", "is", null), eb("last_use_time", "<", at)]))
        .execute();
    },
  };
}

/** Revokes every unrevoked API key of a user (part of disabling it). */
export async function revokeAllApiKeys(db: Kysely<UserSchema>, userId: string, now: Date): Promise<void> {
  await db
    .updateTable("api_keys")
    .set({ revoke_time: toStoredTime(now) })
    .where("user_id", "=", userId)
    .where("revoke_time", "is", null)
    .execute();
}

function toApiKeyRecord(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    userId: row.user_id,
    displayName: row.display_name,
    prefix: row.prefix,
    secretHash: row.secret_hash,
    createTime: fromStoredTime(row.create_time),
    expireTime: fromStoredTime(row.expire_time),
    lastUseTime: fromStoredTime(row.last_use_time),
    revokeTime: fromStoredTime(row.revoke_time),
  };
}

function toApiKeyRow(key: ApiKeyRecord): Selectable<ApiKeysTable> {
  return {
    id: key.id,
    user_id: key.userId,
    display_name: key.displayName,
    prefix: key.prefix,
    secret_hash: key.secretHash,
    create_time: toStoredTime(key.createTime),
    expire_time: toStoredTime(key.expireTime),
    last_use_time: toStoredTime(key.lastUseTime),
    revoke_time: toStoredTime(key.revokeTime),
  };
}
