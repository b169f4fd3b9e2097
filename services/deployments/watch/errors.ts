import { DomainError } from "../../kit/errors.js";

/** A resume revision older than the hub retains: the client must re-list. */
export function resumeRevisionExpired(fromRevision: number, oldestRevision: number): DomainError {
  return new DomainError(
    "failed-precondition",
    "RESUME_REVISION_EXPIRED",
    `revision ${fromRevision} is no longer retained (the oldest retained change is revision ${oldestRevision}); re-list and watch again from the list's revision`,
    { metadata: { oldest_revision: String(oldestRevision) } },
  );
}

/** A resume revision beyond the latest committed one, or not a revision at all. */
export function resumeRevisionUnknown(fromRevision: number, latestRevision: number): DomainError {
  return new DomainError(
    "invalid-argument",
    "RESUME_REVISION_UNKNOWN",
    `revision ${fromRevision} is not a committed revision (the latest is ${latestRevision}); re-list and watch again from the list's revision`,
    { metadata: { latest_revision: String(latestRevision) } },
  );
}

/** A subscriber whose buffer overflowed; it resumes from the last item it took. */
export function watcherTooSlow(resumeRevision: number, queueLimit: number): DomainError {
  return new DomainError(
    "resource-exhausted",
    "WATCHER_TOO_SLOW",
    `the watcher fell more than ${queueLimit} items behind and was cut off; resume from revision ${resumeRevision}`,
    { metadata: { resume_revision: String(resumeRevision) } },
  );
}

/** The hub is closing; the client resumes elsewhere (or after the restart) from the last item it took. */
export function serverStopping(resumeRevision: number): DomainError {
  return new DomainError(
    "unavailable",
    "SERVER_STOPPING",
    `the server is stopping; watch again and resume from revision ${resumeRevision}`,
    { metadata: { resume_revision: String(resumeRevision) } },
  );
}
