import type { CallContext } from "nice-grpc-common";
import type { createLocalVerifier } from "../credentials.js";
import type { LoginThrottle } from "../login-throttle.js";
import type { Sessions } from "../sessions.js";
import type { SigningKeys } from "../signing-keys.js";
import type { UserStore } from "../store/types.js";

/** What UserService's handlers are built from. */
export interface UserServiceDeps {
  store: UserStore;
  sessions: Sessions;
  verifier: ReturnType<typeof createLocalVerifier>;
  throttle: LoginThrottle;
  keys: SigningKeys;
  clock: () => Date;
  /** Authenticates page tokens (derived from the server's secret, so tokens outlive restarts and cross replicas). */
  pageTokenKey: Buffer;
  /** Where a call comes from, seen through trusted proxies; throttles sign-ins per address. */
  clientAddress(context: Pick<CallContext, "peer" | "metadata">): string;
  /** Aborted when the server begins shutting down. */
  stopping: AbortSignal;
}
