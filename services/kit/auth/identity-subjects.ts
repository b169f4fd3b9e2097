import { createHash } from "node:crypto";

/**
 * The name identity changes give a sign-in: sessions have no resource name
 * of their own, and an access token carries the id as its sid claim.
 */
export function sessionSubjectName(sessionId: string): string {
  return `sessions/${sessionId}`;
}

/**
 * How WatchIdentityChanges names what changed ("users/{user}",
 * "users/{user}/apiKeys/{key}", a session's subject name): the unpadded
 * base64url SHA-256 of the name. A follower computes it from the credential
 * it holds; anyone else learns only that something changed.
 */
export function opaqueSubject(name: string): string {
  return createHash("sha256").update(name).digest("base64url");
}
