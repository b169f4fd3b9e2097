import { sql, type Kysely, type Selectable } from "kysely";
import { lockTable } from "../../kit/database/locks.js";
import type { Database } from "../../kit/database/open-database.js";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import type { SigningKeysTable, UserSchema } from "./schema.js";
import type { SigningKeyRecord, UserStore } from "./types.js";

/** JWT signing keys, oldest activation first. */
export function createSigningKeyQueries(
  database: Database<UserSchema>,
): Pick<UserStore, "listSigningKeys" | "addSigningKeyIfNone" | "addSigningKeyUnlessNewer" | "resealSigningKey" | "deleteSigningKeys"> {
  const { db, dialect } = database;
  return {
    listSigningKeys: () => allKeys(db),

    addSigningKeyIfNone(key) {
      return db.transaction().execute(async (trx) => {
        // Replicas starting together each bring a key; the lock lets the
        // first insert and the others see its key.
        await lockTable(trx, dialect, "signing_keys");
        const keys = await allKeys(trx);
        if (keys.length > 0) return keys;
        await trx.insertInto("signing_keys").values(toSigningKeyRow(key)).execute();
        return allKeys(trx);
      });
    },

    addSigningKeyUnlessNewer(key, newestSeen) {
      return db.transaction().execute(async (trx) => {
        // Replicas rotating together: the first inserts, the others find its key.
        await lockTable(trx, dialect, "signing_keys");
        const newer = await trx
          .selectFrom("signing_keys")
          .select("kid")
          .where("activate_time", ">", toStoredTime(newestSeen))
          .executeTakeFirst();
        if (newer) return false;
        await trx.insertInto("signing_keys").values(toSigningKeyRow(key)).execute();
        return true;
      });
    },

    async resealSigningKey(kid, current, sealed) {
      await db
        .updateTable("signing_keys")
        .set({ sealed_private_jwk: sealed })
        .where("kid", "=", kid)
        .where("sealed_private_jwk", "=", current)
        .execute();
      // secure_delete zeroed the old row in its page; the log may still hold
      // earlier copies of the page until it is checkpointed and truncated.
      if (dialect === "sqlite") await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db);
    },

    async deleteSigningKeys(kids) {
      if (kids.length > 0) await db.deleteFrom("signing_keys").where("kid", "in", kids).execute();
    },
  };
}

async function allKeys(db: Kysely<UserSchema>): Promise<SigningKeyRecord[]> {
  const rows = await db.selectFrom("signing_keys").selectAll().orderBy("activate_time").orderBy("kid").execute();
  return rows.map(toSigningKeyRecord);
}

function toSigningKeyRecord(row: Selectable<SigningKeysTable>): SigningKeyRecord {
  return {
    kid: row.kid,
    algorithm: row.algorithm,
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
    sealedPrivateJwk: row.sealed_private_jwk,
    createTime: fromStoredTime(row.create_time),
    activateTime: fromStoredTime(row.activate_time),
  };
}

function toSigningKeyRow(key: SigningKeyRecord): Selectable<SigningKeysTable> {
  return {
    kid: key.kid,
    algorithm: key.algorithm,
    public_jwk: JSON.stringify(key.publicJwk),
    sealed_private_jwk: key.sealedPrivateJwk,
    create_time: toStoredTime(key.createTime),
    activate_time: toStoredTime(key.activateTime),
  };
}
