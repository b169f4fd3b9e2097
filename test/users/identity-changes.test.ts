import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { Role, UserKind, UserState } from "../../gen/launchpad/user/v1/user_pb.js";
import { openUserStore } from "../../services/users/store/index.js";
import type { UserRecord, UserStore } from "../../services/users/store/types.js";
import { storeTargets } from "../support/databases.js";
import { at } from "../support/fixture-time.js";

// The identity-change log WatchIdentityChanges serves: every change that
// revokes or alters credentials records one, in its own transaction, with a
// revision that has no gaps (followers resume by revision).

async function newUser(store: UserStore, role = Role.DEPLOYER): Promise<UserRecord> {
  const id = randomUUID();
  return store.createUser({
    id,
    email: `${id}@example.com`,
    displayName: "someone",
    kind: UserKind.HUMAN,
    role,
    environments: [],
    state: UserState.ACTIVE,
    preferences: { timeZone: "", theme: 0, defaultEnvironment: "" },
    passwordHash: null,
    createTime: at(0),
    updateTime: at(0),
    deleteTime: null,
    version: 1,
  });
}

async function newSession(store: UserStore, userId: string): Promise<string> {
  const id = randomUUID();
  await store.createSession(
    { id, userId, createTime: at(0), expireTime: at(600), revokeTime: null },
    { id: randomUUID(), sessionId: id, secretHash: "cd".repeat(32), createTime: at(0), expireTime: at(600), rotateTime: null },
  );
  return id;
}

async function newApiKey(store: UserStore, userId: string, id: string): Promise<void> {
  await store.createApiKey({
    id,
    userId,
    displayName: "key",
    prefix: "lpk_",
    secretHash: "ab".repeat(32),
    createTime: at(0),
    expireTime: null,
    lastUseTime: null,
    revokeTime: null,
  });
}

/** The subjects recorded after `revision`, in order. */
async function subjectsAfter(store: UserStore, revision: number): Promise<string[]> {
  return (await store.listIdentityChanges(revision, 100)).map((change) => change.subject);
}

describe.each(await storeTargets())("identity changes on $name", (target) => {
  let store: UserStore;
  afterAll(() => target.cleanup());
  beforeEach(async () => {
    store = await openUserStore(target.fresh());
  });
  afterEach(() => store.close());

  it("starts at revision 0, with nothing recorded", async () => {
    expect(await store.identityRevision()).toBe(0);
    expect(await store.listIdentityChanges(0, 10)).toEqual([]);
  });

  it("a revoked session, a disabled user, a role change and a revoked key are each recorded, in order, by resource name", async () => {
    const admin = await newUser(store, Role.ADMIN);
    const user = await newUser(store);
    const session = await newSession(store, user.id);
    await newApiKey(store, admin.id, "k1");

    await store.revokeSession(session, at(1));
    await store.updateUser(user.id, { role: Role.VIEWER }, undefined, at(2));
    await store.revokeApiKey(admin.id, "k1", at(3));
    await store.disableUser(user.id, undefined, at(4));

    const changes = await store.listIdentityChanges(0, 10);
    expect(changes.map((change) => change.subject)).toEqual([`sessions/${session}`, `users/${user.id}`, `users/${admin.id}/apiKeys/k1`, `users/${user.id}`]);
    expect(changes.map((change) => change.revision)).toEqual([1, 2, 3, 4]);
    expect(changes.map((change) => change.changeTime)).toEqual([at(1), at(2), at(3), at(4)]);
    expect(await store.identityRevision()).toBe(4);
  });

  it("password changes and revoking all sessions are recorded; profile changes and repeated revocations are not", async () => {
    const admin = await newUser(store, Role.ADMIN);
    const user = await newUser(store);
    await newApiKey(store, admin.id, "k2");
    await store.revokeApiKey(admin.id, "k2", at(1));
    const before = await store.identityRevision();

    await store.updateUser(user.id, { displayName: "renamed", preferences: { timeZone: "UTC", theme: 0, defaultEnvironment: "" } }, undefined, at(2));
    await store.revokeApiKey(admin.id, "k2", at(3));
    await store.revokeApiKey(admin.id, "unknown", at(3));
    expect(await store.identityRevision()).toBe(before);

    await store.updateUser(user.id, { passwordHash: "$scrypt$new" }, undefined, at(4));
    await store.revokeUserSessions(user.id, at(4));
    expect(await subjectsAfter(store, before)).toEqual([`users/${user.id}`, `users/${user.id}`]);
  });

  it("a change that fails rolls its revision back: no gap", async () => {
    const onlyAdmin = await newUser(store, Role.ADMIN);
    const user = await newUser(store);

    await expect(store.updateUser(user.id, { role: Role.VIEWER }, 99, at(1))).rejects.toMatchObject({ reason: "ETAG_MISMATCH" });
    await expect(store.disableUser(onlyAdmin.id, undefined, at(1))).rejects.toMatchObject({ reason: "LAST_ADMIN" });
    expect(await store.identityRevision()).toBe(0);

    await store.updateUser(user.id, { environments: ["staging"] }, undefined, at(2));
    expect((await store.listIdentityChanges(0, 10)).map((change) => change.revision)).toEqual([1]);
  });

  it("concurrent changes take consecutive revisions, each recorded once", async () => {
    const user = await newUser(store);
    const sessions = await Promise.all(Array.from({ length: 12 }, () => newSession(store, user.id)));

    await Promise.all(sessions.map((session) => store.revokeSession(session, at(1))));

    const changes = await store.listIdentityChanges(0, 100);
    expect(changes.map((change) => change.revision)).toEqual(sessions.map((_, n) => n + 1));
    expect(new Set(changes.map((change) => change.subject))).toEqual(new Set(sessions.map((session) => `sessions/${session}`)));
  });

  it("reads resume after a revision, at most `limit` at a time", async () => {
    const user = await newUser(store);
    const sessions = await Promise.all(Array.from({ length: 5 }, () => newSession(store, user.id)));
    for (const session of sessions) await store.revokeSession(session, at(1));

    expect((await store.listIdentityChanges(2, 2)).map((change) => change.revision)).toEqual([3, 4]);
    expect(await store.listIdentityChanges(5, 2)).toEqual([]);
  });
});
