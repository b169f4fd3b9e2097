import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { User } from "../../../../gen/launchpad/user/v1/user_pb.js";
import type { TokenGrant } from "../../../../gen/launchpad/user/v1/user_service_pb.js";
import { createTokenKeeper, type AccessGrant } from "../lib/token-keeper.js";
import { createApi, type Api } from "./clients.js";

function accessGrantOf(tokens: TokenGrant | undefined): AccessGrant | undefined {
  if (!tokens?.accessToken || !tokens.accessTokenExpireTime) return undefined;
  return { accessToken: tokens.accessToken, expiresAt: timestampMs(tokens.accessTokenExpireTime) };
}

/** Whether a failed refresh means there is no sign-in to resume (rather than a network failure). */
function endsSignIn(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.Unauthenticated || code === Code.InvalidArgument;
}

/** Web Locks keep tabs of one browser from refreshing at the same time. */
function oneTabAtATime<T>(work: () => Promise<T>): Promise<T> {
  return navigator.locks ? (navigator.locks.request("launchpad-token-refresh", work) as Promise<T>) : work();
}

/**
 * The console's sign-in: the access token in memory, the refresh token in
 * the edge's HttpOnly cookie, so a reload resumes the sign-in without a
 * secret anywhere a script could read it.
 */
export function createSession(onSignedOut: () => void) {
  const keeper = createTokenKeeper({
    async refresh() {
      try {
        return accessGrantOf((await api.users.refreshToken({})).tokens);
      } catch (error) {
        if (endsSignIn(error)) return undefined;
        throw error;
      }
    },
    onSignedOut,
    exclusive: oneTabAtATime,
  });
  const api: Api = createApi({ accessToken: () => keeper.token(), refused: () => void keeper.resume().catch(() => {}) });

  return {
    api,
    /** Resumes the sign-in of an earlier page load; the user, or undefined when signed out. */
    async resume(): Promise<User | undefined> {
      if (!(await keeper.resume())) return undefined;
      return (await api.users.getCurrentUser({})).user;
    },
    async signIn(email: string, password: string): Promise<User | undefined> {
      const response = await api.users.login({ email, password });
      keeper.set(accessGrantOf(response.tokens));
      return response.user;
    },
    /** Revokes the sign-in on the server, then forgets the token. */
    async signOut(): Promise<void> {
      try {
        await api.users.logout({});
      } finally {
        keeper.clear();
      }
    },
  };
}

/** A signed-in console's session. */
export type Session = ReturnType<typeof createSession>;
