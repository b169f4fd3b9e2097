import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JsonWebKeySchema, PrincipalSchema, UserKind, UserState } from "../../../gen/launchpad/user/v1/user_pb.js";
import type { UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { DomainError } from "../../kit/errors.js";
import type { Handlers } from "../../kit/server.js";
import { normalizeEmail } from "../email-address.js";
import { toUser } from "../resources.js";
import type { UserServiceDeps } from "./deps.js";

/** UserService handlers for signing in and verifying credentials. */
export function createSignInHandlers({ store, sessions, verifier, throttle, passwords, keys, clock, clientAddress }: UserServiceDeps) {
  return {
    async login(request, context) {
      const email = normalizeEmail(request.email);
      const subject = { email, address: clientAddress(context) };
      // Reserved before the password is hashed, so concurrent guesses cannot pass the limit.
      await throttle.admit(subject, clock());
      const user = await store.getUserByEmail(email);
      const check = await passwords.verify(request.password, user?.passwordHash ?? null);
      if (!user || !check.matches || user.state !== UserState.ACTIVE || user.kind !== UserKind.HUMAN) {
        throw new DomainError("unauthenticated", "INVALID_CREDENTIALS", "the email or password is incorrect");
      }
      await throttle.succeeded(subject);
      if (check.needsRehash) await store.upgradePasswordHash(user.id, user.passwordHash!, await passwords.hash(request.password));
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
