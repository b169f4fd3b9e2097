import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JsonWebKeySchema, PrincipalSchema, UserKind, UserState } from "../../../gen/launchpad/user/v1/user_pb.js";
import type { UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { DomainError } from "../../kit/errors.js";
import type { Handlers } from "../../kit/server.js";
import { verifyPassword } from "../passwords.js";
import { toUser } from "../resources.js";
import type { UserServiceDeps } from "./deps.js";

/** UserService handlers for signing in and verifying credentials. */
export function createSignInHandlers({ store, sessions, verifier, throttle, keys, clock, clientAddress }: UserServiceDeps) {
  return {
    async login(request, context) {
      const email = request.email.trim().toLowerCase();
      const address = clientAddress(context);
      await throttle.admit(email, address, clock());
      const user = await store.getUserByEmail(email);
      const passwordMatches = await verifyPassword(request.password, user?.passwordHash ?? null);
      if (!user || !passwordMatches || user.state !== UserState.ACTIVE || user.kind !== UserKind.HUMAN) {
        await throttle.failed(email, address, clock());
        throw new DomainError("unauthenticated", "INVALID_CREDENTIALS", "the email or password is incorrect");
      }
      await throttle.succeeded(email, address);
      return { tokens: await sessions.start(user, clock()), user: toUser(user) };
    },

    async refreshToken(request) {
      return { tokens: await sessions.refresh(request.refreshToken, clock()) };
    },

    async logout(request) {
      await sessions.end(request.refreshToken, clock());
      return {};
    },

    async getJwks() {
      return { keys: keys.keySet.keys.map((key) => create(JsonWebKeySchema, key as Record<string, string>)) };
    },

    async authenticateApiKey(request) {
      const { principal, key } = await verifier.authenticateApiKey(request.apiKey);
      return {
        principal: create(PrincipalSchema, {
          user: principal.user,
          email: principal.email,
          kind: principal.kind,
          role: principal.role,
          environments: principal.environments,
        }),
        apiKey: `${principal.user}/apiKeys/${key.id}`,
        expireTime: key.expireTime ? timestampFromDate(key.expireTime) : undefined,
      };
    },
  } satisfies Partial<Handlers<typeof UserService>>;
}
