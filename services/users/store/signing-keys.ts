import type { Kysely, Selectable } from "kysely";
import { lockTable } from "../../kit/database/locks.js";
import type { Database } from "../../kit/database/open-database.js";
import { fromStoredTime, toStoredTime } from "../../kit/database/times.js";
import type { SigningKeysTable, UserSchema } from "./schema.js";
import type { SigningKeyRecord, UserStore } from "./types.js";

/** JWT signing keys, oldest first. */
export function createSigningKeyQueries(
  database: Database<UserSchema>,
): Pick<UserStore, "listSigningKeys" | "addSigningKeyIfNone"> {
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
  };
}

async function allKeys(db: Kysely<UserSchema>): Promise<SigningKeyRecord[]> {
  const rows = await db.selectFrom("signing_keys").selectAll().orderBy("create_time").orderBy("kid").execute();
  return rows.map(toSigningKeyRecord);
}

function toSigningKeyRecord(row: Selectable<SigningKeysTable>): SigningKeyRecord {
  return {
    kid: row.kid,
    algorithm: row.algorithm,
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
    privateJwk: JSON.parse(row.private_jwk) as Record<string, unknown>,
    createTime: fromStoredTime(row.create_time),
  };
}

function toSigningKeyRow(key: SigningKeyRecord): Selectable<SigningKeysTable> {
  return {
    kid: key.kid,
    algorithm: key.algorithm,
    public_jwk: JSON.stringify(key.publicJwk),
    private_jwk: JSON.stringify(key.privateJwk),
    create_time: toStoredTime(key.createTime),
  };
}
