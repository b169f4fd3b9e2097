import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { IdentityChangeSchema, type UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { opaqueSubject } from "../../kit/auth/identity-subjects.js";
import { DomainError } from "../../kit/errors.js";
import type { Handlers } from "../../kit/server.js";
import type { IdentityChangeRecord } from "../store/types.js";
import type { UserServiceDeps } from "./deps.js";

/** The most changes one message carries. */
const batchLimit = 500;

function toIdentityChange(change: IdentityChangeRecord) {
  return create(IdentityChangeSchema, {
    revision: BigInt(change.revision),
    subject: opaqueSubject(change.subject),
    changeTime: timestampFromDate(change.changeTime),
  });
}

/** UserService's identity-change stream, which services verifying credentials locally follow. */
export function createIdentityChangeHandlers({ store, identityChanges, identityStreams, clock, stopping }: UserServiceDeps) {
  /** Where a stream resumed from `requested` starts, and whether the follower must resync instead. */
  async function resumePoint(requested: number): Promise<{ revision: number; resync: boolean }> {
    const latest = await store.identityRevision();
    if (requested > 0 && requested <= latest) {
      const [next] = await store.listIdentityChanges(requested, 1);
      if (requested === latest || next?.revision === requested + 1) return { revision: requested, resync: false };
    }
    // A new follower, a revision this database never had, or changes no longer kept.
    return { revision: latest, resync: true };
  }

  return {
    async *watchIdentityChanges(request, context) {
      const release = identityStreams.take();
      try {
        const signal = AbortSignal.any([context.signal, stopping]);
        let { revision, resync } = await resumePoint(Number(request.resumeRevision));
        if (resync) yield { revision: BigInt(revision), resyncTime: timestampFromDate(clock()) };
        let changes = await store.listIdentityChanges(revision, batchLimit);
        for (;;) {
          revision = changes.at(-1)?.revision ?? revision;
          // No changes: a heartbeat, which the feed's recent read of the log vouches for.
          yield { revision: BigInt(revision), changes: changes.map(toIdentityChange) };
          const full = changes.length === batchLimit;
          if (!full) await identityChanges.waitForChange(revision, signal);
          if (stopping.aborted) throw new DomainError("unavailable", "SERVER_STOPPING", "the server is shutting down; resume elsewhere");
          if (context.signal.aborted) return;
          changes = full || identityChanges.hasChangesAfter(revision) ? await store.listIdentityChanges(revision, batchLimit) : [];
        }
      } finally {
        release();
      }
    },
  } satisfies Partial<Handlers<typeof UserService>>;
}
