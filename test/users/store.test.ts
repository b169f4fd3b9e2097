import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { Role, Theme, UserKind, UserState } from "../../gen/launchpad/user/v1/user_pb.js";
import type { DomainError } from "../../services/kit/errors.js";
import type { FilterTerm } from "../../services/kit/filter.js";
import { openUserStore } from "../../services/users/store/index.js";
import type {
  ApiKeyRecord,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  UserOrder,
  UserRecord,
  UserStore,
} from "../../services/users/store/types.js";
import { storeTargets, type StoreLocation } from "../support/databases.js";
import { domainError } from "../support/domain-errors.js";
import { at } from "../support/fixture-time.js";

let serial = 0;

function aUser(overrides: Partial<UserRecord> = {}): UserRecord {
  serial++;
  return {
    id: `user-${String(serial).padStart(5, "0")}`,
    email: `user${serial}@example.com`,
    displayName: `user ${serial}`,
    kind: UserKind.HUMAN,
    role: Role.VIEWER,
    environments: ["staging"],
    state: UserState.ACTIVE,
    preferences: { timeZone: "Europe/Paris", theme: Theme.DARK, defaultEnvironment: "staging" },
    passwordHash: "$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA",
    createTime: at(serial),
    updateTime: at(serial),
    deleteTime: null,
    version: 1,
    ...overrides,
  };
}

function anApiKey(userId: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  serial++;
  return {
    id: `key-${String(serial).padStart(5, "0")}`,
    userId,
    displayName: `key ${serial}`,
    prefix: "lp_abc",
    secretHash: "ab".repeat(32),
    createTime: at(serial),
    expireTime: null,
    lastUseTime: null,
    revokeTime: null,
    ...overrides,
  };
}

function aSession(userId: string): { session: SessionRecord; token: RefreshTokenRecord } {
  serial++;
  const session = { id: `session-${serial}`, userId, createTime: at(0), expireTime: at(600), revokeTime: null };
  return { session, token: aRefreshToken(session.id) };
}

function aRefreshToken(sessionId: string): RefreshTokenRecord {
  serial++;
  return {
    id: `token-${serial}`,
    sessionId,
    secretHash: "cd".repeat(32),
    createTime: at(0),
    expireTime: at(60),
    rotateTime: null,
  };
}

function aSigningKey(kid: string, activateMinutes = 0): SigningKeyRecord {
  return {
    kid,
    algorithm: "EdDSA",
    publicJwk: { kty: "OKP", crv: "Ed25519", x: kid },
    sealedPrivateJwk: `sealed.${kid}`,
    createTime: at(0),
    activateTime: at(activateMinutes),
  };
}

const sortValue: Record<UserOrder["field"], (user: UserRecord) => string> = {
  create_time: (user) => user.createTime.toISOString(),
  email: (user) => user.email,
  display_name: (user) => user.displayName,
};

describe.each(await storeTargets())("UserStore on $name", (target) => {
  let location: StoreLocation;
  let store: UserStore;

  beforeEach(async () => {
    location = target.fresh();
    store = await openUserStore(location);
  });
  afterEach(() => store.close());
  afterAll(() => target.cleanup());

  async function list(filter: FilterTerm[], options: { showDeleted?: boolean; order?: UserOrder } = {}) {
    const { users, totalSize } = await store.listUsers({
      filter,
      order: options.order ?? { field: "create_time", descending: false },
      showDeleted: options.showDeleted ?? false,
      limit: 100,
    });
    return { ids: users.map((user) => user.id), totalSize };
  }

  /** Every page of a listing, following the keyset cursor, and the totalSize of each. */
  async function pages(order: UserOrder, limit: number) {
    const result: { ids: string[]; totalSize: number }[] = [];
    let after: { value: string; id: string } | undefined;
    for (;;) {
      const { users, totalSize } = await store.listUsers({ filter: [], order, showDeleted: false, after, limit });
      result.push({ ids: users.map((user) => user.id), totalSize });
      const last = users.at(-1);
      if (users.length < limit || !last) return result;
      after = { value: sortValue[order.field](last), id: last.id };
    }
  }

  async function admins(count: number): Promise<UserRecord[]> {
    return Promise.all(Array.from({ length: count }, () => store.createUser(aUser({ role: Role.ADMIN }))));
  }

  describe("users", () => {
    it("createUser stores every field, and getUser returns them", async () => {
      const user = aUser({ passwordHash: null, environments: ["staging", "production"] });
      await store.createUser(user);
      expect(await store.getUser(user.id)).toEqual(user);
      expect(await store.getUser("nobody")).toBeUndefined();
    });

    it("emails are stored lower-cased and found by getUserByEmail in any case", async () => {
      const created = await store.createUser(aUser({ email: "Ada@Example.COM" }));
      expect(created.email).toBe("ada@example.com");
      expect((await store.getUserByEmail("ADA@example.com"))?.id).toBe(created.id);
      expect(await store.getUserByEmail("grace@example.com")).toBeUndefined();
    });

    it("createUser refuses an email taken in any case, even by a disabled user: already-exists/EMAIL_TAKEN", async () => {
      const first = await store.createUser(aUser({ email: "ada@example.com" }));
      const error = await domainError(store.createUser(aUser({ email: "ADA@example.com" })));
      expect([error.kind, error.reason]).toEqual(["already-exists", "EMAIL_TAKEN"]);
      expect(error.message).not.toMatch(/insert|constraint|unique/i);

      await store.disableUser(first.id, undefined, at(100));
      const again = await domainError(store.createUser(aUser({ email: "ada@example.com" })));
      expect(again.reason).toBe("EMAIL_TAKEN");
    });

    it("emails are normalised (NFKC, lower case, İ as i): look-alike spellings are one email", async () => {
      const created = await store.createUser(aUser({ email: "VARİANT@ＥＸＡＭＰＬＥ.com" }));
      expect(created.email).toBe("variant@example.com");
      expect((await store.getUserByEmail("variant@example.com"))?.id).toBe(created.id);
      const error = await domainError(store.createUser(aUser({ email: "varİant@example.com" })));
      expect(error.reason).toBe("EMAIL_TAKEN");
    });

    it("upgradePasswordHash replaces the hash only if it is still the one read, without a new version", async () => {
      const user = await store.createUser(aUser({ passwordHash: "old" }));
      await store.upgradePasswordHash(user.id, "old", "upgraded");
      await store.upgradePasswordHash(user.id, "old", "lost");
      const after = await store.getUser(user.id);
      expect([after?.passwordHash, after?.version, after?.updateTime]).toEqual(["upgraded", user.version, user.updateTime]);
    });

    it("countUsers counts every user, disabled ones included", async () => {
      const [, other] = await admins(2);
      await store.disableUser(other.id, undefined, at(100));
      expect(await store.countUsers()).toBe(2);
    });
  });

  describe("listing users", () => {
    it("filters strings with =, != and a case-insensitive contains (:) that takes % and _ literally", async () => {
      const ada = await store.createUser(aUser({ email: "ada@math.org", displayName: "Ada 100% Lovelace" }));
      const grace = await store.createUser(aUser({ email: "grace@navy.mil", displayName: "Grace_Hopper" }));
      const alan = await store.createUser(aUser({ email: "alan@math.org", displayName: "Alan Turing" }));

      expect((await list([{ field: "email", operator: "=", value: "ada@math.org" }])).ids).toEqual([ada.id]);
      expect((await list([{ field: "email", operator: "!=", value: "ada@math.org" }])).ids).toEqual([grace.id, alan.id]);
      expect((await list([{ field: "email", operator: ":", value: "MATH" }])).ids).toEqual([ada.id, alan.id]);
      expect((await list([{ field: "display_name", operator: ":", value: "lovelace" }])).ids).toEqual([ada.id]);
      expect((await list([{ field: "display_name", operator: ":", value: "%" }])).ids).toEqual([ada.id]);
      expect((await list([{ field: "display_name", operator: ":", value: "e_h" }])).ids).toEqual([grace.id]);
      expect((await list([{ field: "display_name", operator: ":", value: "a_a" }])).ids).toEqual([]);
    });

    it("filters role, kind and state by = and !=", async () => {
      const admin = await store.createUser(aUser({ role: Role.ADMIN }));
      const robot = await store.createUser(aUser({ kind: UserKind.SERVICE_ACCOUNT, role: Role.AGENT }));
      const viewer = await store.createUser(aUser());

      expect((await list([{ field: "role", operator: "=", value: Role.ADMIN }])).ids).toEqual([admin.id]);
      expect((await list([{ field: "role", operator: "!=", value: Role.ADMIN }])).ids).toEqual([robot.id, viewer.id]);
      expect((await list([{ field: "kind", operator: "=", value: UserKind.SERVICE_ACCOUNT }])).ids).toEqual([robot.id]);
      await store.disableUser(viewer.id, undefined, at(100));
      const disabled = [{ field: "state", operator: "=", value: UserState.DISABLED }] satisfies FilterTerm[];
      expect((await list(disabled, { showDeleted: true })).ids).toEqual([viewer.id]);
    });

    it("filters create_time with =, !=, <, <=, > and >=, and joins terms with AND", async () => {
      const [a, b, c] = [
        await store.createUser(aUser({ createTime: at(10) })),
        await store.createUser(aUser({ createTime: at(20) })),
        await store.createUser(aUser({ createTime: at(30), role: Role.ADMIN })),
      ];
      const time = (operator: FilterTerm["operator"]) => list([{ field: "create_time", operator, value: at(20) }]);
      expect((await time("=")).ids).toEqual([b.id]);
      expect((await time("!=")).ids).toEqual([a.id, c.id]);
      expect((await time("<")).ids).toEqual([a.id]);
      expect((await time("<=")).ids).toEqual([a.id, b.id]);
      expect((await time(">")).ids).toEqual([c.id]);
      expect((await time(">=")).ids).toEqual([b.id, c.id]);
      const both = await list([
        { field: "create_time", operator: ">=", value: at(20) },
        { field: "role", operator: "=", value: Role.VIEWER },
      ]);
      expect(both).toEqual({ ids: [b.id], totalSize: 1 });
    });

    it("orders by create_time, email or display_name, either way, then by id", async () => {
      const b = await store.createUser(aUser({ id: "b", email: "carol@x.org", displayName: "same", createTime: at(1) }));
      const a = await store.createUser(aUser({ id: "a", email: "bob@x.org", displayName: "same", createTime: at(2) }));
      const c = await store.createUser(aUser({ id: "c", email: "alice@x.org", displayName: "first", createTime: at(2) }));

      const order = (field: UserOrder["field"], descending: boolean) => list([], { order: { field, descending } });
      expect((await order("create_time", false)).ids).toEqual([b.id, a.id, c.id]);
      expect((await order("create_time", true)).ids).toEqual([c.id, a.id, b.id]);
      expect((await order("email", false)).ids).toEqual([c.id, a.id, b.id]);
      expect((await order("email", true)).ids).toEqual([b.id, a.id, c.id]);
      expect((await order("display_name", false)).ids).toEqual([c.id, a.id, b.id]);
      expect((await order("display_name", true)).ids).toEqual([b.id, a.id, c.id]);
    });

    it("pages with a keyset cursor across ties, each page reporting the totalSize of all pages", async () => {
      // Equal names and times make the id decide inside a page and across page boundaries.
      for (const id of ["e", "c", "a", "d", "b"]) {
        await store.createUser(aUser({ id, displayName: id < "c" ? "early" : "late", createTime: at(id < "c" ? 1 : 2) }));
      }
      for (const field of ["create_time", "email", "display_name"] as const) {
        const ascending = await pages({ field, descending: false }, 2);
        expect(ascending.map((page) => page.totalSize)).toEqual([5, 5, 5]);
        const descending = await pages({ field, descending: true }, 2);
        expect(descending.flatMap((page) => page.ids)).toEqual(ascending.flatMap((page) => page.ids).reverse());
      }
      const byTime = await pages({ field: "create_time", descending: false }, 2);
      expect(byTime.map((page) => page.ids)).toEqual([["a", "b"], ["c", "d"], ["e"]]);
    });

    it("leaves disabled users out unless showDeleted, in the page and in totalSize", async () => {
      const [kept, gone] = await admins(2);
      await store.disableUser(gone.id, undefined, at(100));
      expect(await list([])).toEqual({ ids: [kept.id], totalSize: 1 });
      expect(await list([], { showDeleted: true })).toEqual({ ids: [kept.id, gone.id], totalSize: 2 });
    });

    it("streamUsers yields every user matching the filter and showDeleted", async () => {
      const [admin, other] = await admins(2);
      const viewer = await store.createUser(aUser());
      await store.disableUser(other.id, undefined, at(100));
      const ids = async (filter: FilterTerm[], showDeleted: boolean) => {
        const seen: string[] = [];
        for await (const user of store.streamUsers(filter, showDeleted)) seen.push(user.id);
        return seen.sort();
      };
      expect(await ids([], false)).toEqual([admin.id, viewer.id].sort());
      expect(await ids([], true)).toEqual([admin.id, other.id, viewer.id].sort());
      expect(await ids([{ field: "role", operator: "=", value: Role.ADMIN }], true)).toEqual(
        [admin.id, other.id].sort(),
      );
    });
  });

  describe("changing users", () => {
    it("updateUser applies the given changes only, bumps the version and sets update_time", async () => {
      const user = await store.createUser(aUser());
      const preferences = { timeZone: "UTC", theme: Theme.LIGHT, defaultEnvironment: "production" };
      const updated = await store.updateUser(
        user.id,
        { displayName: "Renamed", environments: ["production"], preferences, passwordHash: null },
        undefined,
        at(500),
      );
      expect(updated).toEqual({
        ...user,
        displayName: "Renamed",
        environments: ["production"],
        preferences,
        passwordHash: null,
        updateTime: at(500),
        version: 2,
      });
      expect(await store.getUser(user.id)).toEqual(updated);
    });

    it("updateUser with the stored version applies; with a stale one fails with aborted/ETAG_MISMATCH and changes nothing", async () => {
      const user = await store.createUser(aUser());
      const v2 = await store.updateUser(user.id, { displayName: "two" }, 1, at(500));
      expect(v2.version).toBe(2);

      const error = await domainError(store.updateUser(user.id, { displayName: "stale" }, 1, at(501)));
      expect([error.kind, error.reason]).toEqual(["aborted", "ETAG_MISMATCH"]);
      expect(await store.getUser(user.id)).toEqual(v2);
    });

    it("updateUser without a version applies whatever the stored version", async () => {
      const user = await store.createUser(aUser({ version: 7 }));
      expect((await store.updateUser(user.id, { displayName: "x" }, undefined, at(500))).version).toBe(8);
    });

    it("updateUser and disableUser of an unknown or disabled user fail with not-found/USER_NOT_FOUND", async () => {
      const [, gone] = await admins(2);
      await store.disableUser(gone.id, undefined, at(100));
      for (const id of ["nobody", gone.id]) {
        const update = await domainError(store.updateUser(id, { displayName: "x" }, undefined, at(200)));
        expect([update.kind, update.reason]).toEqual(["not-found", "USER_NOT_FOUND"]);
        expect((await domainError(store.disableUser(id, undefined, at(200)))).reason).toBe("USER_NOT_FOUND");
      }
    });

    it("refuses to demote or disable the last active admin with failed-precondition/LAST_ADMIN", async () => {
      const [last, gone] = await admins(2);
      await store.disableUser(gone.id, undefined, at(100));

      const demote = await domainError(store.updateUser(last.id, { role: Role.DEPLOYER }, undefined, at(200)));
      expect([demote.kind, demote.reason]).toEqual(["failed-precondition", "LAST_ADMIN"]);
      expect((await domainError(store.disableUser(last.id, undefined, at(200)))).reason).toBe("LAST_ADMIN");
      expect(await store.getUser(last.id)).toMatchObject({ role: Role.ADMIN, state: UserState.ACTIVE, version: 1 });

      // Changing the last admin in other ways is fine.
      expect((await store.updateUser(last.id, { displayName: "still admin", role: Role.ADMIN }, 1, at(300))).version).toBe(2);
    });

    it("demotes or disables an admin while another active admin remains", async () => {
      const [a, b, c] = await admins(3);
      expect((await store.updateUser(a.id, { role: Role.VIEWER }, 1, at(200))).role).toBe(Role.VIEWER);
      expect((await store.disableUser(b.id, 1, at(200))).state).toBe(UserState.DISABLED);
      expect((await domainError(store.disableUser(c.id, 1, at(300)))).reason).toBe("LAST_ADMIN");
    });

    it("of two concurrent demotions of the last two admins, exactly one succeeds, round after round", async () => {
      let [remaining] = await admins(1);
      for (let round = 0; round < 5; round++) {
        const [fresh] = await admins(1);
        const pair = [remaining, fresh];
        const results = await Promise.allSettled(
          pair.map((admin) =>
            round % 2 === 0
              ? store.updateUser(admin.id, { role: Role.VIEWER }, undefined, at(1000 + round))
              : store.disableUser(admin.id, undefined, at(1000 + round)),
          ),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const [failure] = results.filter((r) => r.status === "rejected");
        expect((failure?.reason as DomainError).reason).toBe("LAST_ADMIN");
        const active = await list([{ field: "role", operator: "=", value: Role.ADMIN }]);
        expect(active.totalSize).toBe(1);
        remaining = active.ids[0] === fresh.id ? fresh : remaining;
      }
    });

    it("disableUser disables the user and revokes its API keys and sessions, not other users'", async () => {
      const [user, other] = await admins(2);
      const key = await store.createApiKey(anApiKey(user.id));
      const alreadyRevoked = await store.createApiKey(anApiKey(user.id, { revokeTime: at(50) }));
      const othersKey = await store.createApiKey(anApiKey(other.id));
      const session = aSession(user.id);
      const othersSession = aSession(other.id);
      await store.createSession(session.session, session.token);
      await store.createSession(othersSession.session, othersSession.token);

      const disabled = await store.disableUser(user.id, 1, at(100));
      expect(disabled).toMatchObject({ state: UserState.DISABLED, deleteTime: at(100), updateTime: at(100), version: 2 });
      expect((await store.getApiKey(key.id))?.revokeTime).toEqual(at(100));
      expect((await store.getApiKey(alreadyRevoked.id))?.revokeTime).toEqual(at(50));
      expect((await store.getSession(session.session.id))?.revokeTime).toEqual(at(100));
      expect((await store.getApiKey(othersKey.id))?.revokeTime).toBeNull();
      expect((await store.getSession(othersSession.session.id))?.revokeTime).toBeNull();
    });

    it("disableUser with a stale version fails with ETAG_MISMATCH and revokes nothing", async () => {
      const [user] = await admins(2);
      const key = await store.createApiKey(anApiKey(user.id));
      await store.updateUser(user.id, { displayName: "v2" }, 1, at(100));
      expect((await domainError(store.disableUser(user.id, 1, at(200)))).reason).toBe("ETAG_MISMATCH");
      expect((await store.getApiKey(key.id))?.revokeTime).toBeNull();
      expect((await store.getUser(user.id))?.state).toBe(UserState.ACTIVE);
    });
  });

  describe("API keys", () => {
    it("createApiKey stores the key, and getApiKey returns it", async () => {
      const user = await store.createUser(aUser());
      const key = anApiKey(user.id, { expireTime: at(9000) });
      expect(await store.createApiKey(key)).toEqual(key);
      expect(await store.getApiKey(key.id)).toEqual(key);
      expect(await store.getApiKey("nothing")).toBeUndefined();
    });

    it("listApiKeys lists one user's keys oldest first in keyset pages, revoked ones only with showRevoked", async () => {
      const [user, other] = [await store.createUser(aUser()), await store.createUser(aUser())];
      const keys = [
        await store.createApiKey(anApiKey(user.id, { id: "k2", createTime: at(1) })),
        await store.createApiKey(anApiKey(user.id, { id: "k1", createTime: at(2) })),
        await store.createApiKey(anApiKey(user.id, { id: "k3", createTime: at(2), revokeTime: at(3) })),
      ];
      await store.createApiKey(anApiKey(other.id));

      const first = await store.listApiKeys(user.id, { showRevoked: true, limit: 2 });
      expect(first.keys.map((k) => k.id)).toEqual(["k2", "k1"]);
      const last = first.keys.at(-1)!;
      const second = await store.listApiKeys(user.id, {
        showRevoked: true,
        limit: 2,
        after: { createTime: last.createTime, id: last.id },
      });
      expect(second.keys.map((k) => k.id)).toEqual(["k3"]);
      expect([first.totalSize, second.totalSize]).toEqual([3, 3]);

      const active = await store.listApiKeys(user.id, { showRevoked: false, limit: 10 });
      expect(active).toEqual({ keys: keys.slice(0, 2), totalSize: 2 });
    });

    it("revokeApiKey sets revoke_time once and returns the key; another user's or an unknown key gives undefined", async () => {
      const [user, other] = [await store.createUser(aUser()), await store.createUser(aUser())];
      const key = await store.createApiKey(anApiKey(user.id));
      expect((await store.revokeApiKey(user.id, key.id, at(100)))?.revokeTime).toEqual(at(100));
      expect((await store.revokeApiKey(user.id, key.id, at(200)))?.revokeTime).toEqual(at(100));
      expect(await store.revokeApiKey(other.id, key.id, at(300))).toBeUndefined();
      expect(await store.revokeApiKey(user.id, "nothing", at(300))).toBeUndefined();
    });

    it("touchApiKey records the latest use and never moves it back", async () => {
      const key = await store.createApiKey(anApiKey((await store.createUser(aUser())).id));
      await store.touchApiKey(key.id, at(100));
      await store.touchApiKey(key.id, at(50));
      expect((await store.getApiKey(key.id))?.lastUseTime).toEqual(at(100));
      await store.touchApiKey(key.id, at(150));
      expect((await store.getApiKey(key.id))?.lastUseTime).toEqual(at(150));
    });
  });

  describe("sessions and refresh tokens", () => {
    it("createSession stores the session and its first refresh token", async () => {
      const { session, token } = aSession((await store.createUser(aUser())).id);
      await store.createSession(session, token);
      expect(await store.getSession(session.id)).toEqual(session);
      expect(await store.getRefreshToken(token.id)).toEqual(token);
      expect(await store.getSession("nothing")).toBeUndefined();
      expect(await store.getRefreshToken("nothing")).toBeUndefined();
    });

    it("getSessionUser reads a session with its user, each read fresh, revoked ones with their revoke time", async () => {
      const user = await store.createUser(aUser());
      const [mine, theirs] = [aSession(user.id), aSession((await store.createUser(aUser())).id)];
      for (const { session, token } of [mine, theirs]) await store.createSession(session, token);
      expect(await store.getSessionUser(mine.session.id)).toEqual({ session: mine.session, user });
      await store.revokeSession(mine.session.id, at(10));
      await store.updateUser(user.id, { displayName: "Renamed" }, undefined, at(11));
      const found = await store.getSessionUser(mine.session.id);
      expect(found?.session.revokeTime).toEqual(at(10));
      expect(found?.user.displayName).toBe("Renamed");
      expect((await store.getSessionUser(theirs.session.id))?.user.id).not.toBe(user.id);
      expect(await store.getSessionUser("nothing")).toBeUndefined();
    });

    it("rotateRefreshToken marks the token rotated and stores the next; rotating it again returns false", async () => {
      const { session, token } = aSession((await store.createUser(aUser())).id);
      await store.createSession(session, token);
      const next = aRefreshToken(session.id);
      expect(await store.rotateRefreshToken(token.id, next, at(5))).toBe(true);
      expect((await store.getRefreshToken(token.id))?.rotateTime).toEqual(at(5));
      expect(await store.getRefreshToken(next.id)).toEqual(next);

      const replay = aRefreshToken(session.id);
      expect(await store.rotateRefreshToken(token.id, replay, at(6))).toBe(false);
      expect(await store.getRefreshToken(replay.id)).toBeUndefined();
    });

    it("of two concurrent rotations of one token exactly one wins, round after round", async () => {
      const { session, token } = aSession((await store.createUser(aUser())).id);
      await store.createSession(session, token);
      let current = token;
      for (let round = 0; round < 5; round++) {
        const candidates = [aRefreshToken(session.id), aRefreshToken(session.id)];
        const won = await Promise.all(candidates.map((next) => store.rotateRefreshToken(current.id, next, at(round))));
        expect(won.filter(Boolean)).toHaveLength(1);
        const winner = candidates[won.indexOf(true)];
        const loser = candidates[won.indexOf(false)];
        expect(await store.getRefreshToken(loser.id)).toBeUndefined();
        current = winner;
      }
    });

    it("revokeSession revokes one session once; revokeUserSessions revokes all of a user's", async () => {
      const user = await store.createUser(aUser());
      const [one, two, three] = [aSession(user.id), aSession(user.id), aSession(user.id)];
      for (const { session, token } of [one, two, three]) await store.createSession(session, token);

      await store.revokeSession(one.session.id, at(10));
      await store.revokeSession(one.session.id, at(20));
      expect((await store.getSession(one.session.id))?.revokeTime).toEqual(at(10));
      expect((await store.getSession(two.session.id))?.revokeTime).toBeNull();

      await store.revokeUserSessions(user.id, at(30));
      const times = await Promise.all([one, two, three].map(({ session }) => store.getSession(session.id)));
      expect(times.map((s) => s?.revokeTime)).toEqual([at(10), at(30), at(30)]);
    });

    it("revokeUserSessions can keep one session (the caller's, after a password change)", async () => {
      const user = await store.createUser(aUser());
      const [kept, other] = [aSession(user.id), aSession(user.id)];
      for (const { session, token } of [kept, other]) await store.createSession(session, token);
      await store.revokeUserSessions(user.id, at(30), kept.session.id);
      expect((await store.getSession(kept.session.id))?.revokeTime).toBeNull();
      expect((await store.getSession(other.session.id))?.revokeTime).toEqual(at(30));
    });
  });

  describe("signing keys", () => {
    it("addSigningKeyIfNone adds the first key only, and returns all keys", async () => {
      expect(await store.listSigningKeys()).toEqual([]);
      const first = aSigningKey("first");
      expect(await store.addSigningKeyIfNone(first)).toEqual([first]);
      expect(await store.addSigningKeyIfNone(aSigningKey("second"))).toEqual([first]);
      expect(await store.listSigningKeys()).toEqual([first]);
    });

    it("concurrent addSigningKeyIfNone calls (replicas starting together) leave one key, returned to all", async () => {
      const results = await Promise.all(["a", "b", "c", "d"].map((kid) => store.addSigningKeyIfNone(aSigningKey(kid))));
      const stored = await store.listSigningKeys();
      expect(stored).toHaveLength(1);
      for (const keys of results) expect(keys).toEqual(stored);
    });

    it("addSigningKeyUnlessNewer adds the next key only while no key activates after the newest one seen", async () => {
      const first = aSigningKey("first");
      await store.addSigningKeyIfNone(first);
      expect(await store.addSigningKeyUnlessNewer(aSigningKey("second", 60), first.activateTime)).toBe(true);
      expect(await store.addSigningKeyUnlessNewer(aSigningKey("late", 60), first.activateTime)).toBe(false);
      expect((await store.listSigningKeys()).map((key) => key.kid)).toEqual(["first", "second"]);
    });

    it("concurrent addSigningKeyUnlessNewer calls (replicas rotating together) add one key", async () => {
      const first = aSigningKey("first");
      await store.addSigningKeyIfNone(first);
      const added = await Promise.all(["a", "b", "c", "d"].map((kid) => store.addSigningKeyUnlessNewer(aSigningKey(kid, 60), first.activateTime)));
      expect(added.filter(Boolean)).toHaveLength(1);
      expect(await store.listSigningKeys()).toHaveLength(2);
    });

    it("resealSigningKey replaces the private JWK only if it is still the one read", async () => {
      await store.addSigningKeyIfNone(aSigningKey("k"));
      await store.resealSigningKey("k", "sealed.k", "resealed");
      await store.resealSigningKey("k", "sealed.k", "lost");
      expect((await store.listSigningKeys())[0]!.sealedPrivateJwk).toBe("resealed");
    });

    it("deleteSigningKeys deletes the named keys", async () => {
      const first = aSigningKey("first");
      await store.addSigningKeyIfNone(first);
      await store.addSigningKeyUnlessNewer(aSigningKey("second", 60), first.activateTime);
      await store.deleteSigningKeys(["first"]);
      expect((await store.listSigningKeys()).map((key) => key.kid)).toEqual(["second"]);
    });
  });

  describe("login attempts", () => {
    const windowMs = 15 * 60_000;
    const byKey = (counts: { key: string }[]) => [...counts].sort((x, y) => x.key.localeCompare(y.key));

    it("reserveLoginAttempt counts attempts per key within the window and returns the new counts", async () => {
      expect(byKey(await store.reserveLoginAttempt(["email:a", "address:1"], at(0), windowMs))).toEqual([
        { key: "address:1", attempts: 1, windowStart: at(0) },
        { key: "email:a", attempts: 1, windowStart: at(0) },
      ]);
      expect(await store.reserveLoginAttempt(["email:a", "email:a"], at(5), windowMs)).toEqual([{ key: "email:a", attempts: 2, windowStart: at(0) }]);
      expect(await store.reserveLoginAttempt(["email:a"], at(14), windowMs)).toEqual([{ key: "email:a", attempts: 3, windowStart: at(0) }]);
    });

    it("an attempt once the window has ended starts a new window at 1", async () => {
      await store.reserveLoginAttempt(["email:a"], at(0), windowMs);
      await store.reserveLoginAttempt(["email:a"], at(1), windowMs);
      expect(await store.reserveLoginAttempt(["email:a"], at(15), windowMs)).toEqual([{ key: "email:a", attempts: 1, windowStart: at(15) }]);
    });

    it("concurrent reservations each get their own count: no two see the same number", async () => {
      const counts = await Promise.all(Array.from({ length: 8 }, () => store.reserveLoginAttempt(["email:a", "address:1"], at(1), windowMs)));
      const ofEmail = counts.map((c) => c.find((x) => x.key === "email:a")!.attempts).sort((x, y) => x - y);
      expect(ofEmail).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it("releaseLoginAttempt deletes one key's counter and takes one attempt off the other's", async () => {
      await store.reserveLoginAttempt(["email:a", "address:1"], at(0), windowMs);
      await store.reserveLoginAttempt(["email:a", "address:1"], at(0), windowMs);
      await store.releaseLoginAttempt("email:a", "address:1");
      expect(byKey(await store.reserveLoginAttempt(["email:a", "address:1"], at(1), windowMs))).toEqual([
        { key: "address:1", attempts: 2, windowStart: at(0) },
        { key: "email:a", attempts: 1, windowStart: at(1) },
      ]);
    });

    it("pruneLoginAttempts deletes counters whose window has ended, at most `limit` at a time", async () => {
      for (const key of ["old:1", "old:2", "old:3"]) await store.reserveLoginAttempt([key], at(0), windowMs);
      await store.reserveLoginAttempt(["recent"], at(10), windowMs);
      expect(await store.pruneLoginAttempts(at(5), 2)).toBe(2);
      expect(await store.pruneLoginAttempts(at(5), 2)).toBe(1);
      expect(await store.pruneLoginAttempts(at(5), 2)).toBe(0);
      expect(await store.reserveLoginAttempt(["recent"], at(11), windowMs)).toEqual([{ key: "recent", attempts: 2, windowStart: at(10) }]);
    });
  });

  it("keeps its data across close and reopen", async () => {
    const user = await store.createUser(aUser());
    const key = aSigningKey("kept");
    await store.addSigningKeyIfNone(key);
    await store.close();
    store = await openUserStore(location);
    expect(await store.getUser(user.id)).toEqual(user);
    expect(await store.listSigningKeys()).toEqual([key]);
  });
});
