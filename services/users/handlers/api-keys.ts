import { timestampDate } from "@bufbuild/protobuf/wkt";
import { UserState } from "../../../gen/launchpad/user/v1/user_pb.js";
import type { UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { apiKeyPrefix } from "../../kit/auth/principal.js";
import { DomainError } from "../../kit/errors.js";
import { isStoredTime, pageSize, pageTokens } from "../../kit/page-token.js";
import type { Handlers } from "../../kit/server.js";
import { apiKeyIdsOf, toApiKey, userIdOf } from "../resources.js";
import { issueSecret } from "../secrets.js";
import type { UserServiceDeps } from "./deps.js";

/** Where a page of API keys ended: the create time and id of its last key. */
interface KeyPosition {
  createTime: string;
  id: string;
}

const isKeyPosition = (p: unknown): p is KeyPosition =>
  typeof p === "object" && p !== null && isStoredTime((p as KeyPosition).createTime) && typeof (p as KeyPosition).id === "string";

/** UserService handlers for API keys: create (secret shown once), list, revoke. */
export function createApiKeyHandlers({ store, clock, pageTokenKey }: UserServiceDeps) {
  const keyPageTokens = pageTokens(pageTokenKey, "ListApiKeys", isKeyPosition);
  return {
    async createApiKey(request) {
      const owner = await store.getUser(userIdOf(request.parent));
      if (!owner) throw new DomainError("not-found", "USER_NOT_FOUND", `user ${request.parent} does not exist`);
      if (owner.state !== UserState.ACTIVE) {
        throw new DomainError("failed-precondition", "USER_DISABLED", `user ${request.parent} is disabled`);
      }
      const issued = issueSecret(apiKeyPrefix);
      const key = await store.createApiKey({
        id: issued.id,
        userId: owner.id,
        displayName: request.apiKey!.displayName.trim(),
        prefix: issued.secret.slice(0, apiKeyPrefix.length + 8),
        secretHash: issued.hash,
        createTime: clock(),
        expireTime: request.apiKey!.expireTime ? timestampDate(request.apiKey!.expireTime) : null,
        lastUseTime: null,
        revokeTime: null,
      });
      return { apiKey: toApiKey(key), secret: issued.secret };
    },

    async listApiKeys(request) {
      const query = { parent: request.parent, showRevoked: request.showRevoked };
      const after = keyPageTokens.decode(request.pageToken, query);
      const limit = pageSize(request.pageSize);
      const { keys, totalSize } = await store.listApiKeys(userIdOf(request.parent), {
        showRevoked: request.showRevoked,
        limit: limit + 1,
        after: after && { createTime: new Date(after.createTime), id: after.id },
      });
      const page = keys.slice(0, limit);
      const last = page.at(-1);
      return {
        apiKeys: page.map(toApiKey),
        nextPageToken:
          keys.length > limit && last ? keyPageTokens.encode({ createTime: last.createTime.toISOString(), id: last.id }, query) : "",
        totalSize,
      };
    },

    async deleteApiKey(request) {
      const { userId, keyId } = apiKeyIdsOf(request.name);
      const key = await store.revokeApiKey(userId, keyId, clock());
      if (!key) throw new DomainError("not-found", "API_KEY_NOT_FOUND", `API key ${request.name} does not exist`);
      return { apiKey: toApiKey(key) };
    },
  } satisfies Partial<Handlers<typeof UserService>>;
}
