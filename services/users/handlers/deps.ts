import type { CallContext } from "nice-grpc-common";
import type { LocalVerifier } from "../credentials.js";
import type { IdentityChangeFeed } from "../identity-feed.js";
import type { LoginThrottle } from "../login-throttle.js";
import type { Passwords } from "../passwords.js";
import type { Sessions } from "../sessions.js";
import type { StreamSlots } from "../stream-slots.js";
import type { SigningKeys } from "../signing-keys.js";
import type { UserStore } from "../store/types.js";

/** What UserService's handlers are built from. */
export interface UserServiceDeps {
  store: UserStore;
  sessions: Sessions;
  verifier: LocalVerifier;
  throttle: LoginThrottle;
  passwords: Passwords;
  keys: SigningKeys;
  clock: () => Date;
  /** Authenticates page tokens (derived from the server's secret, so tokens outlive restarts and cross replicas). */
  pageTokenKey: Buffer;
  /** Where a call comes from, seen through trusted proxies; throttles sign-ins per address. */
  clientAddress(context: Pick<CallContext, "peer" | "metadata">): string;
  /** Wakes identity-change streams when changes are committed. */
  identityChanges: IdentityChangeFeed;
  /** Bounds the identity-change streams open at once: anyone may open one. */
  identityStreams: StreamSlots;
  /** Aborted when the server begins shutting down. */
  stopping: AbortSignal;
}
