import { join } from "node:path";
import Database from "better-sqlite3";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import type { WatchIdentityChangesResponse } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { opaqueSubject } from "../../services/kit/auth/identity-subjects.js";
import { failureOf } from "../support/grpc-errors.js";
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

describe("WatchIdentityChanges judges the log by its reads, not by the clock", () => {
  /** Reads the stream until `after` has resolved and two more messages came, or it fails. */
  async function followAcross(client: TestUsersService["client"], after: Promise<void>): Promise<{ messages: number; ended: unknown }> {
    const controller = new AbortController();
    const deadline = setTimeout(() => controller.abort(), 10_000);
    let messages = 0;
    let afterwards = 0;
    let passed = false;
    void after.then(() => (passed = true));
    try {
      for await (const _ of client.watchIdentityChanges({ resumeRevision: 0n }, { signal: controller.signal })) {
        messages++;
        if (passed && ++afterwards >= 2) return { messages, ended: undefined };
      }
      return { messages, ended: "the stream ended" };
    } catch (error) {
      return { messages, ended: controller.signal.aborted ? "no messages within 10 s" : error };
    } finally {
      clearTimeout(deadline);
      controller.abort();
    }
  }

  it("a 3 s stall of the event loop does not end an open stream", async () => {
    const stalled = new Promise<void>((resolve) =>
      setTimeout(() => {
        const until = Date.now() + 3_000;
        while (Date.now() < until);
        resolve();
      }, 500),
    );
    const outcome = await followAcross(service.client, stalled);
    expect(outcome.ended).toBeUndefined();
    expect(outcome.messages).toBeGreaterThanOrEqual(3);
  });

  it("a failing read of the log ends the stream with UNAVAILABLE IDENTITY_LOG_UNREADABLE", async () => {
    const broken = await startTestUsers({ LAUNCHPAD_IDENTITY_HEARTBEAT: "200ms" });
    try {
      const breakLog = new Promise<void>((resolve) =>
        setTimeout(() => {
          // Another connection takes the revision away: every read of it now fails.
          const db = new Database(join(broken.dataDir, "users.db"));
          db.exec("ALTER TABLE identity_revision RENAME TO identity_revision_gone");
          db.close();
          resolve();
        }, 500),
      );
      const outcome = await followAcross(broken.client, breakLog.then(() => new Promise<void>(() => {})));
      const failure = await failureOf(Promise.reject(outcome.ended));
      expect({ code: failure.code, reason: failure.reason }).toEqual({ code: Status.UNAVAILABLE, reason: "IDENTITY_LOG_UNREADABLE" });
    } finally {
      await broken.stop();
    }
  });
});

describe("WatchIdentityChanges is bounded in open streams", () => {
  it("past LAUNCHPAD_IDENTITY_MAX_STREAMS a stream is refused RESOURCE_EXHAUSTED; a closed one frees its slot", async () => {
    const bounded = await startTestUsers({ LAUNCHPAD_IDENTITY_MAX_STREAMS: "2", LAUNCHPAD_IDENTITY_HEARTBEAT: "200ms" });
    const holders = [new AbortController(), new AbortController()];
    /** Opens a stream and answers with its first message's outcome, keeping it open until `holder` aborts. */
    const open = (holder: AbortController) =>
      new Promise<string>((resolve) => {
        void (async () => {
          try {
            for await (const _ of bounded.client.watchIdentityChanges({ resumeRevision: 0n }, { signal: holder.signal })) resolve("OK");
          } catch (error) {
            const failure = await failureOf(Promise.reject(error)).catch(() => undefined);
            resolve(failure ? `${Status[failure.code]} ${failure.reason}` : "aborted");
          }
        })();
      });
    try {
      expect(await Promise.all(holders.map(open))).toEqual(["OK", "OK"]);
      const third = new AbortController();
      expect(await open(third)).toBe("RESOURCE_EXHAUSTED TOO_MANY_IDENTITY_STREAMS");
      holders[0]!.abort();
      // The server hears of the cancel shortly; then the slot is free again.
      let again = "";
      for (let attempt = 0; attempt < 20 && again !== "OK"; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        again = await open(third);
      }
      expect(again).toBe("OK");
      third.abort();
    } finally {
      for (const holder of holders) holder.abort();
      await bounded.stop();
    }
  });
});
