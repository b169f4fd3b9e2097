import { timestampDate } from "@bufbuild/protobuf/wkt";
import { UserKind, type User } from "../../gen/launchpad/user/v1/user_pb.js";
import {
  UserService,
  type ChangePasswordRequest,
  type CreateApiKeyRequest,
  type CreateUserRequest,
  type LoginRequest,
  type ListApiKeysRequest,
  type ListUsersRequest,
  type UpdateUserRequest,
} from "../../gen/launchpad/user/v1/user_service_pb.js";
import type { FieldViolation } from "../kit/errors.js";
import { methodPath } from "../kit/grpc/service-definition.js";
import type { RequestRule } from "../kit/middleware/validation.js";
import { check, environmentPattern, nameRule, orderByRule, pageSizeRule, violation } from "../kit/rules.js";
import { invisibleCharacters } from "./email-address.js";
import { isApiKeyName, isUserName } from "./resources.js";

/** Paths UpdateUser accepts in its update_mask. */
export const updatableUserPaths = [
  "display_name",
  "role",
  "environments",
  "preferences",
  "preferences.time_zone",
  "preferences.theme",
  "preferences.default_environment",
] as const;

/** Sort orders ListUsers accepts. */
export const userOrderFields = ["create_time", "email", "display_name"] as const;

/** The longest strings accepted, in UTF-8 bytes: RFC 5321's path limit for emails; passwords far past any passphrase, since scrypt hashes all of it. */
export const maxBytes = { email: 254, password: 1024, token: 256, timeZone: 64, etag: 64 } as const;

/** The most environments a deployer may be limited to. */
const maxEnvironments = 100;

const emailPattern = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]+$/;

/** A string of at most `max` UTF-8 bytes. */
function maxBytesRule(field: string, value: string, max: number): FieldViolation[] {
  return check(Buffer.byteLength(value) <= max, field, "FIELD_TOO_LONG", `must be at most ${max} bytes (UTF-8)`);
}

/** A string without invisible or bidirectional control characters, which would let it pass for another. */
function visibleRule(field: string, value: string, reason: string): FieldViolation[] {
  return check(!invisibleCharacters.test(value), field, reason, "must not contain invisible, format or bidirectional control characters");
}

/** An email users are created with: bounded, one address, every character visible. */
function emailRule(field: string, email: string): FieldViolation[] {
  const tooLong = maxBytesRule(field, email, maxBytes.email);
  if (tooLong.length > 0) return tooLong;
  return [
    ...check(emailPattern.test(email.trim()), field, "INVALID_EMAIL", "must be an email address"),
    ...visibleRule(field, email, "INVALID_EMAIL"),
  ];
}

/** How many characters a new password has: long enough to resist guessing, short enough to hash cheaply. */
export const passwordLength = { min: 12, max: 256 } as const;

/** Whether a new password is of an accepted length (the bootstrap admin's too). */
export function isPasswordLengthAccepted(password: string): boolean {
  const characters = [...password].length;
  return characters >= passwordLength.min && characters <= passwordLength.max;
}

function passwordRule(field: string, password: string): FieldViolation[] {
  const tooLong = maxBytesRule(field, password, maxBytes.password);
  if (tooLong.length > 0) return tooLong;
  return check(isPasswordLengthAccepted(password), field, "INVALID_PASSWORD", `must be ${passwordLength.min} to ${passwordLength.max} characters long`);
}

function displayNameRule(field: string, displayName: string, maxCharacters: number): FieldViolation[] {
  return [
    ...check([...displayName].length <= maxCharacters, field, "INVALID_DISPLAY_NAME", `must be at most ${maxCharacters} characters`),
    ...visibleRule(field, displayName, "INVALID_DISPLAY_NAME"),
  ];
}

function timeZoneRule(field: string, timeZone: string) {
  if (timeZone === "") return [];
  try {
    new Intl.DateTimeFormat("en", { timeZone });
    return [];
  } catch {
    return [violation(field, "INVALID_TIME_ZONE", "must be an IANA time zone such as Europe/Berlin")];
  }
}

/** The checks of a user's writable fields; `paths` limits them to the masked ones. */
function userFieldRules(user: User, prefix: string, paths: ReadonlySet<string> | "all"): FieldViolation[] {
  const has = (path: string) => paths === "all" || paths.has(path) || paths.has(path.split(".")[0]!);
  return [
    ...(has("display_name") ? displayNameRule(`${prefix}display_name`, user.displayName, 200) : []),
    ...(has("role") && paths !== "all" ? check(user.role !== 0, `${prefix}role`, "FIELD_REQUIRED", "is required") : []),
    ...(has("environments")
      ? check(user.environments.length <= maxEnvironments, `${prefix}environments`, "TOO_MANY_ENVIRONMENTS", `must name at most ${maxEnvironments}`)
      : []),
    ...(has("environments")
      ? user.environments.slice(0, maxEnvironments).flatMap((env, i) =>
          check(environmentPattern.test(env), `${prefix}environments[${i}]`, "INVALID_ENVIRONMENT", "must be lower-case letters, digits and dashes, at most 63"),
        )
      : []),
    ...(has("preferences.time_zone") && user.preferences
      ? maxBytesRule(`${prefix}preferences.time_zone`, user.preferences.timeZone, maxBytes.timeZone)
      : []),
    ...(has("preferences.time_zone") && user.preferences && Buffer.byteLength(user.preferences.timeZone) <= maxBytes.timeZone
      ? timeZoneRule(`${prefix}preferences.time_zone`, user.preferences.timeZone)
      : []),
    ...(has("preferences.default_environment") && user.preferences?.defaultEnvironment
      ? check(
          environmentPattern.test(user.preferences.defaultEnvironment),
          `${prefix}preferences.default_environment`,
          "INVALID_ENVIRONMENT",
          "must be lower-case letters, digits and dashes, at most 63",
        )
      : []),
  ];
}

/** UserService's request rules beyond field_behavior, by gRPC path. */
export const userRequestRules: Record<string, RequestRule<any>> = {
  [methodPath(UserService.method.getUser)]: (r: { name: string }) => nameRule("name", r.name, isUserName, "users/{user}"),
  [methodPath(UserService.method.deleteUser)]: (r: { name: string; etag: string }) => [
    ...nameRule("name", r.name, isUserName, "users/{user}"),
    ...maxBytesRule("etag", r.etag, maxBytes.etag),
  ],
  [methodPath(UserService.method.listUsers)]: (r: ListUsersRequest) => [
    ...pageSizeRule(r.pageSize),
    ...orderByRule(r.orderBy, userOrderFields),
  ],
  [methodPath(UserService.method.createUser)]: (r: CreateUserRequest) => {
    const user = r.user!;
    const isServiceAccount = user.kind === UserKind.SERVICE_ACCOUNT;
    return [
      ...emailRule("user.email", user.email),
      ...userFieldRules(user, "user.", "all"),
      ...(isServiceAccount
        ? check(r.password === "", "password", "PASSWORD_NOT_ALLOWED", "service accounts have no password; give them API keys")
        : passwordRule("password", r.password)),
    ];
  },
  [methodPath(UserService.method.updateUser)]: (r: UpdateUserRequest) => {
    const paths = r.updateMask?.paths ?? [];
    const expanded = new Set(paths.includes("*") ? updatableUserPaths : paths);
    return [
      ...check(r.user!.name !== "", "user.name", "FIELD_REQUIRED", "is required"),
      ...nameRule("user.name", r.user!.name, isUserName, "users/{user}"),
      ...maxBytesRule("user.etag", r.user!.etag, maxBytes.etag),
      ...check(paths.length > 0, "update_mask", "FIELD_REQUIRED", 'must name the fields to change, or "*"'),
      ...paths
        .filter((p) => p !== "*" && !(updatableUserPaths as readonly string[]).includes(p))
        .map((p) => violation("update_mask", "UNKNOWN_FIELD_MASK_PATH", `"${p}" is not a field UpdateUser can change; use ${updatableUserPaths.join(", ")}`)),
      ...userFieldRules(r.user!, "user.", expanded),
    ];
  },
  [methodPath(UserService.method.changePassword)]: (r: ChangePasswordRequest) => [
    ...nameRule("name", r.name, isUserName, "users/{user}"),
    ...maxBytesRule("current_password", r.currentPassword, maxBytes.password),
    ...(r.newPassword === "" ? [] : passwordRule("new_password", r.newPassword)),
  ],
  // Bounded before any lookup, throttle row or hash: a huge email or password costs nothing.
  [methodPath(UserService.method.login)]: (r: LoginRequest) => [
    ...maxBytesRule("email", r.email, maxBytes.email),
    ...maxBytesRule("password", r.password, maxBytes.password),
  ],
  [methodPath(UserService.method.refreshToken)]: (r: { refreshToken: string }) => maxBytesRule("refresh_token", r.refreshToken, maxBytes.token),
  [methodPath(UserService.method.logout)]: (r: { refreshToken: string }) => maxBytesRule("refresh_token", r.refreshToken, maxBytes.token),
  [methodPath(UserService.method.authenticateApiKey)]: (r: { apiKey: string }) => maxBytesRule("api_key", r.apiKey, maxBytes.token),
  [methodPath(UserService.method.createApiKey)]: (r: CreateApiKeyRequest) => [
    ...nameRule("parent", r.parent, isUserName, "users/{user}"),
    ...displayNameRule("api_key.display_name", r.apiKey!.displayName, 100),
    ...(r.apiKey!.expireTime
      ? check(timestampDate(r.apiKey!.expireTime) > new Date(), "api_key.expire_time", "INVALID_EXPIRE_TIME", "must be in the future")
      : []),
  ],
  [methodPath(UserService.method.listApiKeys)]: (r: ListApiKeysRequest) => [
    ...nameRule("parent", r.parent, isUserName, "users/{user}"),
    ...pageSizeRule(r.pageSize),
  ],
  [methodPath(UserService.method.deleteApiKey)]: (r: { name: string }) =>
    nameRule("name", r.name, isApiKeyName, "users/{user}/apiKeys/{api_key}"),
};
