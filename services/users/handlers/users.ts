import { randomUUID } from "node:crypto";
import { Role, UserKind, UserState, type User } from "../../../gen/launchpad/user/v1/user_pb.js";
import type { UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { roleGrants } from "../../kit/auth/permissions.js";
import type { Principal } from "../../kit/auth/principal.js";
import { DomainError } from "../../kit/errors.js";
import { enumFilterValues, parseFilter, type FilterField } from "../../kit/filter.js";
import { isTextKeyset, isTimeKeyset, pageSize, pageTokens, parseOrderBy } from "../../kit/page-token.js";
import type { Handlers } from "../../kit/server.js";
import { normalizeEmail } from "../email-address.js";
import { toUser, userIdOf, userName } from "../resources.js";
import { generationOfEtag } from "../../kit/etag.js";
import type { UserChanges, UserOrder, UserRecord } from "../store/types.js";
import { updatableUserPaths } from "../validation.js";
import type { UserServiceDeps } from "./deps.js";

/** The fields ListUsers and StreamUsers can filter on. */
export const userFilterFields: Record<string, FilterField> = {
  email: { kind: "string" },
  display_name: { kind: "string" },
  role: { kind: "enum", values: enumFilterValues(Role, "ROLE_") },
  kind: { kind: "enum", values: enumFilterValues(UserKind, "USER_KIND_") },
  state: { kind: "enum", values: enumFilterValues(UserState, "USER_STATE_") },
  create_time: { kind: "timestamp" },
};

function sortValue(user: UserRecord, order: UserOrder): string {
  if (order.field === "email") return user.email;
  if (order.field === "display_name") return user.displayName;
  return user.createTime.toISOString();
}

function notFound(name: string): DomainError {
  return new DomainError("not-found", "USER_NOT_FOUND", `user ${name} does not exist`);
}

/** The changes an UpdateUser request asks for, as allowed for this caller. */
function changesOf(user: User, paths: readonly string[], caller: Principal, current: UserRecord): UserChanges {
  const masked = new Set(paths.includes("*") ? updatableUserPaths : paths);
  const isAdmin = roleGrants(caller.role, "users.update");
  if (!isAdmin && (masked.has("role") || masked.has("environments"))) {
    throw new DomainError("permission-denied", "ROLE_CHANGE_NOT_ALLOWED", "only admins change roles and environments");
  }
  const changes: UserChanges = {};
  if (masked.has("display_name")) changes.displayName = user.displayName;
  if (masked.has("role")) changes.role = user.role;
  if (masked.has("environments")) changes.environments = user.environments;
  const next = user.preferences;
  if (masked.has("preferences")) {
    changes.preferences = { timeZone: next?.timeZone ?? "", theme: next?.theme ?? 0, defaultEnvironment: next?.defaultEnvironment ?? "" };
  } else if ([...masked].some((p) => p.startsWith("preferences."))) {
    changes.preferences = {
      timeZone: masked.has("preferences.time_zone") ? (next?.timeZone ?? "") : current.preferences.timeZone,
      theme: masked.has("preferences.theme") ? (next?.theme ?? 0) : current.preferences.theme,
      defaultEnvironment: masked.has("preferences.default_environment")
        ? (next?.defaultEnvironment ?? "")
        : current.preferences.defaultEnvironment,
    };
  }
  return changes;
}

/** UserService handlers for users themselves: CRUD, export, current user, password. */
export function createUserHandlers({ store, verifier, clock, stopping, passwords, throttle, clientAddress, pageTokenKey }: UserServiceDeps) {
  async function load(name: string): Promise<UserRecord> {
    const user = await store.getUser(userIdOf(name));
    if (!user) throw notFound(name);
    return user;
  }

  /** For reads: a caller reading themselves gets the row their credentials were checked against in this call. */
  async function read(name: string, caller: Principal | undefined): Promise<UserRecord> {
    return (caller?.user === name ? verifier.userOf(caller) : undefined) ?? load(name);
  }

  // The query binds each token to its order, so each codec only ever sees its own kind of position.
  const tokensByTime = pageTokens(pageTokenKey, "ListUsers", isTimeKeyset);
  const tokensByText = pageTokens(pageTokenKey, "ListUsers", isTextKeyset);

  return {
    async getUser(request, context) {
      return { user: toUser(await read(request.name, context.principal)) };
    },

    async listUsers(request) {
      const query = { filter: request.filter, orderBy: request.orderBy.trim(), showDeleted: request.showDeleted };
      const order: UserOrder = parseOrderBy<UserOrder["field"]>(query.orderBy, "create_time");
      const limit = pageSize(request.pageSize);
      const tokens = order.field === "create_time" ? tokensByTime : tokensByText;
      const { users, totalSize } = await store.listUsers({
        filter: parseFilter(request.filter, userFilterFields),
        order,
        showDeleted: request.showDeleted,
        after: tokens.decode(request.pageToken, query),
        limit: limit + 1,
      });
      const page = users.slice(0, limit);
      const last = page.at(-1);
      return {
        users: page.map(toUser),
        nextPageToken: users.length > limit && last ? tokens.encode({ value: sortValue(last, order), id: last.id }, query) : "",
        totalSize,
      };
    },

    async createUser(request) {
      const user = request.user!;
      const now = clock();
      const kind = user.kind === UserKind.UNSPECIFIED ? UserKind.HUMAN : user.kind;
      const created = await store.createUser({
        id: randomUUID(),
        email: normalizeEmail(user.email),
        displayName: user.displayName.trim(),
        kind,
        role: user.role,
        environments: user.environments,
        state: UserState.ACTIVE,
        preferences: {
          timeZone: user.preferences?.timeZone ?? "",
          theme: user.preferences?.theme ?? 0,
          defaultEnvironment: user.preferences?.defaultEnvironment ?? "",
        },
        passwordHash: kind === UserKind.HUMAN ? await passwords.hash(request.password) : null,
        createTime: now,
        updateTime: now,
        deleteTime: null,
        version: 1,
      });
      return { user: toUser(created) };
    },

    async updateUser(request, context) {
      const current = await load(request.user!.name);
      const changes = changesOf(request.user!, request.updateMask!.paths, context.principal!, current);
      const updated = await store.updateUser(current.id, changes, generationOfEtag(request.user!.etag), clock());
      return { user: toUser(updated) };
    },

    async deleteUser(request) {
      const current = await load(request.name);
      return { user: toUser(await store.disableUser(current.id, generationOfEtag(request.etag), clock())) };
    },

    async *streamUsers(request) {
      const filter = parseFilter(request.filter, userFilterFields);
      for await (const user of store.streamUsers(filter, request.showDeleted)) {
        if (stopping.aborted) throw new DomainError("unavailable", "SERVER_STOPPING", "the server is shutting down; retry");
        yield { user: toUser(user) };
      }
    },

    async getCurrentUser(_request, context) {
      return { user: toUser(await read(context.principal!.user, context.principal)) };
    },

    async changePassword(request, context) {
      const target = await load(request.name);
      if (target.kind !== UserKind.HUMAN) {
        throw new DomainError("failed-precondition", "SERVICE_ACCOUNT_HAS_NO_PASSWORD", "service accounts sign in with API keys");
      }
      const caller = context.principal!;
      if (caller.user === userName(target.id)) {
        // Guessing the current password here is guessing it at sign-in: the same throttle and budget.
        const subject = { email: normalizeEmail(target.email), address: clientAddress(context) };
        await throttle.admit(subject, clock());
        if (!(await passwords.verify(request.currentPassword, target.passwordHash)).matches) {
          throw new DomainError("invalid-argument", "INCORRECT_PASSWORD", "current_password is not the current password", {
            violations: [{ field: "current_password", description: "is not the current password", reason: "INCORRECT_PASSWORD" }],
          });
        }
        await throttle.succeeded(subject);
      }
      const now = clock();
      await store.updateUser(target.id, { passwordHash: await passwords.hash(request.newPassword) }, undefined, now);
      // Every other sign-in of the user ends; the caller's own, if it is one of them, goes on.
      await store.revokeUserSessions(target.id, now, caller.sessionId || undefined);
      return {};
    },
  } satisfies Partial<Handlers<typeof UserService>>;
}
