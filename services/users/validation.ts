import { timestampDate } from "@bufbuild/protobuf/wkt";
import { UserKind, type User } from "../../gen/launchpad/user/v1/user_pb.js";
import {
  UserService,
  type ChangePasswordRequest,
  type CreateApiKeyRequest,
  type CreateUserRequest,
  type ListApiKeysRequest,
  type ListUsersRequest,
  type UpdateUserRequest,
} from "../../gen/launchpad/user/v1/user_service_pb.js";
import type { FieldViolation } from "../kit/errors.js";
import { methodPath } from "../kit/grpc/service-definition.js";
import type { RequestRule } from "../kit/middleware/validation.js";
import { check, environmentPattern, nameRule, orderByRule, pageSizeRule, violation } from "../kit/rules.js";
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

const emailPattern = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]+$/;
function passwordRule(field: string, password: string) {
  return check(
    [...password].length >= 12 && [...password].length <= 256,
    field,
    "INVALID_PASSWORD",
    "must be 12 to 256 characters long",
  );
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
    ...(has("display_name")
      ? check([...user.displayName].length <= 200, `${prefix}display_name`, "INVALID_DISPLAY_NAME", "must be at most 200 characters")
      : []),
    ...(has("role") && paths !== "all" ? check(user.role !== 0, `${prefix}role`, "FIELD_REQUIRED", "is required") : []),
    ...(has("environments")
      ? user.environments.flatMap((env, i) =>
          check(environmentPattern.test(env), `${prefix}environments[${i}]`, "INVALID_ENVIRONMENT", "must be lower-case letters, digits and dashes, at most 63"),
        )
      : []),
    ...(has("preferences.time_zone") && user.preferences
      ? timeZoneRule(`${prefix}preferences.time_zone`, user.preferences.timeZone)
      : []),
  ];
}

/** UserService's request rules beyond field_behavior, by gRPC path. */
export const userRequestRules: Record<string, RequestRule<any>> = {
  [methodPath(UserService.method.getUser)]: (r: { name: string }) => nameRule("name", r.name, isUserName, "users/{user}"),
  [methodPath(UserService.method.deleteUser)]: (r: { name: string }) => nameRule("name", r.name, isUserName, "users/{user}"),
  [methodPath(UserService.method.listUsers)]: (r: ListUsersRequest) => [
    ...pageSizeRule(r.pageSize),
    ...orderByRule(r.orderBy, userOrderFields),
  ],
  [methodPath(UserService.method.createUser)]: (r: CreateUserRequest) => {
    const user = r.user!;
    const isServiceAccount = user.kind === UserKind.SERVICE_ACCOUNT;
    return [
      ...check(emailPattern.test(user.email) && user.email.length <= 320, "user.email", "INVALID_EMAIL", "must be an email address"),
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
      ...check(paths.length > 0, "update_mask", "FIELD_REQUIRED", 'must name the fields to change, or "*"'),
      ...paths
        .filter((p) => p !== "*" && !(updatableUserPaths as readonly string[]).includes(p))
        .map((p) => violation("update_mask", "UNKNOWN_FIELD_MASK_PATH", `"${p}" is not a field UpdateUser can change; use ${updatableUserPaths.join(", ")}`)),
      ...userFieldRules(r.user!, "user.", expanded),
    ];
  },
  [methodPath(UserService.method.changePassword)]: (r: ChangePasswordRequest) => [
    ...nameRule("name", r.name, isUserName, "users/{user}"),
    ...(r.newPassword === "" ? [] : passwordRule("new_password", r.newPassword)),
  ],
  [methodPath(UserService.method.createApiKey)]: (r: CreateApiKeyRequest) => [
    ...nameRule("parent", r.parent, isUserName, "users/{user}"),
    ...check([...r.apiKey!.displayName].length <= 100, "api_key.display_name", "INVALID_DISPLAY_NAME", "must be at most 100 characters"),
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
