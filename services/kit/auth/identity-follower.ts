import { performance } from "node:perf_hooks";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { abortable, delay, isAbortError } from "abort-controller-x";
import type { Client } from "nice-grpc";
import type { UserService, WatchIdentityChangesResponse } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import type { NiceDefinitionOf } from "../grpc/service-definition.js";
import type { Logger } from "../logger.js";

/** How a follower reaches the stream, and how long it may go unheard before it counts as stale. */
export interface IdentityFollowerOptions {
  client: Pick<Client<NiceDefinitionOf<typeof UserService>>, "watchIdentityChanges">;
  /** With no message (heartbeats included) for this long, the follower is stale. */
  staleAfterMs: number;
  logger?: Logger;
}

/** What the follower knew when a credential was checked with the users service. */
export interface FollowerStamp {
  /** Counts resyncs: a check made before one says nothing after it. */
  epoch: number;
  revision: number;
}

/**
 * Credentials issued this long after a change are still checked again: an
 * access token's iat is in whole seconds, and replicas' clocks differ a little.
 */
const issueTimeToleranceMs = 2_000;
/** Changes older than this are forgotten, and every credential issued before them is checked again instead. */
const memoryMs = 60 * 60 * 1000;
const reconnectDelayMs = { first: 100, most: 2_000 };

/**
 * Follows UserService's identity-change stream so that a credential verifier
 * knows, within about a second, which credentials may be stale: ones issued
 * before a change of their user, session or API key, and, after a start or a
 * resync, every one issued before it. The verifier checks those with the
 * users service again; the rest it may trust from local verification.
 *
 * The stream resumes from the last revision after a reconnect (retried with
 * backoff, forever). While no message arrived for `staleAfterMs` the
 * follower is stale, and nothing may be trusted from local knowledge.
 */
export function createIdentityFollower(options: IdentityFollowerOptions) {
  const { client, staleAfterMs, logger } = options;
  const changes = new Map<string, { revision: number; changeTime: number }>();
  let revision = 0;
  let epoch = 0;
  let horizon = Infinity;
  let lastHeard = -Infinity;
  let lastForget = performance.now();
  let markSettled!: () => void;
  const firstAttempt = new Promise<void>((resolve) => (markSettled = resolve));
  const controller = new AbortController();

  function apply(message: WatchIdentityChangesResponse) {
    if (message.resyncTime) {
      changes.clear();
      epoch++;
      horizon = timestampMs(message.resyncTime);
    }
    for (const change of message.changes) {
      changes.set(change.subject, { revision: Number(change.revision), changeTime: change.changeTime ? timestampMs(change.changeTime) : Infinity });
    }
    revision = Number(message.revision);
    lastHeard = performance.now();
    if (lastHeard - lastForget > memoryMs / 60) forgetOldChanges();
    markSettled();
  }

  // Bounds memory: changes older than memoryMs go, and the horizon moves up to
  // them so that credentials they concerned are checked again, not trusted;
  // answers stamped before a forgotten change can no longer be told from
  // current ones, so the epoch moves on too.
  function forgetOldChanges() {
    lastForget = performance.now();
    const cutoff = Date.now() - memoryMs;
    let forgot = false;
    for (const [subject, change] of changes) {
      if (change.changeTime >= cutoff) continue;
      changes.delete(subject);
      forgot = true;
    }
    horizon = Math.max(horizon, cutoff);
    if (forgot) epoch++;
  }

  async function follow() {
    let wait = reconnectDelayMs.first;
    let connected = true;
    while (!controller.signal.aborted) {
      try {
        // 0 until the first message: the stream then starts with a resync.
        for await (const message of client.watchIdentityChanges({ resumeRevision: BigInt(revision) }, { signal: controller.signal })) {
          apply(message);
          if (!connected) logger?.info({ revision }, "following identity changes again");
          connected = true;
          wait = reconnectDelayMs.first;
        }
      } catch (error) {
        if (isAbortError(error)) return;
        if (connected) logger?.warn({ err: error }, "lost the identity-change stream; reconnecting");
        connected = false;
        markSettled();
      }
      await delay(controller.signal, wait).catch(() => undefined);
      wait = Math.min(wait * 2, reconnectDelayMs.most);
    }
  }
  void follow();

  return {
    /** Whether a message arrived within `staleAfterMs`: only then may local knowledge be trusted. */
    fresh(): boolean {
      return performance.now() - lastHeard <= staleAfterMs;
    },

    /**
     * Waits until the first attempt to follow brought a message or failed, at
     * most `timeoutMs`, so that a verifier just made need not check every
     * credential remotely; rejects only when `signal` aborts.
     */
    async settled(timeoutMs: number, signal?: AbortSignal): Promise<void> {
      if (lastHeard > -Infinity) return;
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), timeoutMs);
      try {
        await (signal ? abortable(signal, abortable(timeout.signal, firstAttempt)) : abortable(timeout.signal, firstAttempt));
      } catch (error) {
        if (signal?.aborted) throw error;
      } finally {
        clearTimeout(timer);
      }
    },

    /** What is known now, to stamp a check made with the users service. */
    stamp(): FollowerStamp {
      return { epoch, revision };
    },

    /** Whether a credential of these subjects, issued at `issuedAt` (ms), may predate a change or a resync. */
    predates(issuedAt: number, subjects: readonly string[]): boolean {
      if (issuedAt <= horizon + issueTimeToleranceMs) return true;
      return subjects.some((subject) => issuedAt <= (changes.get(subject)?.changeTime ?? -Infinity) + issueTimeToleranceMs);
    },

    /** Whether any of these subjects changed, or the follower resynced, since a check was stamped. */
    changedSince(stamp: FollowerStamp, subjects: readonly string[]): boolean {
      return stamp.epoch !== epoch || subjects.some((subject) => (changes.get(subject)?.revision ?? 0) > stamp.revision);
    },

    /** Stops following. */
    close(): void {
      controller.abort();
    },
  };
}
