import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ApiKeySchema, PreferencesSchema, UserSchema, type ApiKey, type User } from "../../gen/launchpad/user/v1/user_pb.js";
import { DomainError } from "../kit/errors.js";
import { etagOf } from "../kit/etag.js";
import type { ApiKeyRecord, UserRecord } from "./store/types.js";

const userNamePattern = /^users\/([\w-]{1,64})$/;
const apiKeyNamePattern = /^users\/([\w-]{1,64})\/apiKeys\/([0-9a-f]{16})$/;

/** The resource name of a user id. */
export const userName = (id: string) => `users/${id}`;

/** The user id in "users/{user}"; validation has already checked the form. */
export function userIdOf(name: string): string {
  const id = userNamePattern.exec(name)?.[1];
  if (id === undefined) throw new DomainError("invalid-argument", "INVALID_NAME", `"${name}" is not a user name (users/{user})`);
  return id;
}

/** The user and key ids in "users/{user}/apiKeys/{api_key}". */
export function apiKeyIdsOf(name: string): { userId: string; keyId: string } {
  const match = apiKeyNamePattern.exec(name);
  if (!match) throw new DomainError("not-found", "API_KEY_NOT_FOUND", `API key ${name} does not exist`);
  return { userId: match[1]!, keyId: match[2]! };
}

/** Whether a string is a user name; for validation rules. */
export const isUserName = (name: string) => userNamePattern.test(name);

/** Whether a string is an API key name; for validation rules. */
export const isApiKeyName = (name: string) => apiKeyNamePattern.test(name);

/** The API form of a stored user. */
export function toUser(record: UserRecord): User {
  return create(UserSchema, {
    name: userName(record.id),
    email: record.email,
    displayName: record.displayName,
    kind: record.kind,
    role: record.role,
    environments: record.environments,
    state: record.state,
    preferences: create(PreferencesSchema, record.preferences),
    createTime: timestampFromDate(record.createTime),
    updateTime: timestampFromDate(record.updateTime),
    deleteTime: record.deleteTime ? timestampFromDate(record.deleteTime) : undefined,
    etag: etagOf(record.version),
  });
}

/** The API form of a stored API key; the secret is never part of it. */
export function toApiKey(record: ApiKeyRecord): ApiKey {
  return create(ApiKeySchema, {
    name: `${userName(record.userId)}/apiKeys/${record.id}`,
    displayName: record.displayName,
    prefix: record.prefix,
    expireTime: record.expireTime ? timestampFromDate(record.expireTime) : undefined,
    createTime: timestampFromDate(record.createTime),
    lastUseTime: record.lastUseTime ? timestampFromDate(record.lastUseTime) : undefined,
    revokeTime: record.revokeTime ? timestampFromDate(record.revokeTime) : undefined,
  });
}
