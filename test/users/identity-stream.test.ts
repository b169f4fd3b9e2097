import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import type { WatchIdentityChangesResponse } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { opaqueSubject } from "../../services/kit/auth/identity-subjects.js";
import { createTestUser } from "../support/test-users.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

// WatchIdentityChanges: what followers of identity changes rely on.

let service: TestUsersService;
let adminToken: string;

beforeAll(async () => {
  service = await startTestUsers({ LAUNCHPAD_IDENTITY_HEARTBEAT: "200ms" });
  adminToken = await service.login(admin.email, admin.password);
});
afterAll(() => service?.stop());

/** Reads the stream resumed after `resumeRevision` until `enough` says so, then cancels it. */
async function read(resumeRevision: bigint, enough: (messages: WatchIdentityChangesResponse[]) => boolean): Promise<WatchIdentityChangesResponse[]> {
  const controller = new AbortController();
  const messages: WatchIdentityChangesResponse[] = [];
  const timeout = setTimeout(() => controller.abort(), 5_000);
  try {
    for await (const message of service.client.watchIdentityChanges({ resumeRevision }, { signal: controller.signal })) {
      messages.push(message);
      if (enough(messages)) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timeout);
  }
  return messages;
}

/** Signs a new person in and out; returns the subject the sign-out is published as. */
async function signOut(): Promise<string> {
  const person = await createTestUser(service, adminToken, Role.VIEWER, "signs out");
  await service.client.logout({ refreshToken: person.refreshToken });
  const sid = JSON.parse(Buffer.from(person.credential.split(".")[1]!, "base64url").toString()).sid as string;
  return opaqueSubject(`sessions/${sid}`);
}

describe("WatchIdentityChanges", () => {
  it("a new follower gets a resync at the latest revision first, then heartbeats carrying it", async () => {
    await signOut();
    const messages = await read(0n, (m) => m.length >= 3);

    expect(messages[0]!.resyncTime).toBeDefined();
    expect(messages[0]!.changes).toEqual([]);
    const latest = messages[0]!.revision;
    expect(latest).toBeGreaterThan(0n);
    for (const heartbeat of messages.slice(1)) expect({ revision: heartbeat.revision, changes: heartbeat.changes, resync: heartbeat.resyncTime }).toEqual({ revision: latest, changes: [], resync: undefined });
  });

  it("resuming after a revision replays exactly the later changes, in order, without a resync", async () => {
    const [start] = await read(0n, (m) => m.length >= 1);
    const subjects = [await signOut(), await signOut(), await signOut()];

    const messages = await read(start!.revision, (m) => m.flatMap((x) => x.changes).length >= 3);

    expect(messages.some((message) => message.resyncTime !== undefined)).toBe(false);
    const changes = messages.flatMap((message) => message.changes);
    expect(changes.map((change) => change.subject)).toEqual(subjects);
    expect(changes.map((change) => change.revision)).toEqual([1n, 2n, 3n].map((n) => start!.revision + n));
  });

  it("a change committed while following is delivered on the open stream", async () => {
    const [start] = await read(0n, (m) => m.length >= 1);
    let subject = "";
    const following = read(start!.revision, (m) => m.some((message) => message.changes.some((change) => change.subject === subject)));

    subject = await signOut();

    const messages = await following;
    expect(messages.flatMap((message) => message.changes.map((change) => change.subject))).toContain(subject);
  });

  it("a revision this database never had is answered with a resync, not a replay", async () => {
    const [start] = await read(0n, (m) => m.length >= 1);

    const [first] = await read(start!.revision + 1_000n, (m) => m.length >= 1);

    expect(first!.resyncTime).toBeDefined();
    expect(first!.revision).toBe(start!.revision);
  });
});
