import { randomBytes, randomUUID } from "node:crypto";
import { Role, UserKind, UserState } from "../../gen/launchpad/user/v1/user_pb.js";
import { DomainError } from "../kit/errors.js";
import { normalizeEmail } from "./email-address.js";
import type { Passwords } from "./passwords.js";
import type { UserStore } from "./store/types.js";

/** The admin created on first start; the password is set only when it was generated. */
export interface BootstrapAdmin {
  email: string;
  generatedPassword?: string;
}

/**
 * On first start, with no users at all, creates an admin: with the given
 * email and password, or with a generated password that the caller prints
 * once. Replicas starting together create exactly one.
 */
export async function bootstrapAdmin(
  store: UserStore,
  passwords: Passwords,
  given: { email: string; password: string },
  now: Date,
): Promise<BootstrapAdmin | undefined> {
  if ((await store.countUsers()) > 0) return undefined;
  const email = normalizeEmail(given.email);
  const password = given.password || randomBytes(18).toString("base64url");
  try {
    await store.createUser({
      id: randomUUID(),
      email,
      displayName: "Administrator",
      kind: UserKind.HUMAN,
      role: Role.ADMIN,
      environments: [],
      state: UserState.ACTIVE,
      preferences: { timeZone: "", theme: 0, defaultEnvironment: "" },
      passwordHash: await passwords.hash(password),
      createTime: now,
      updateTime: now,
      deleteTime: null,
      version: 1,
    });
  } catch (error) {
    if (error instanceof DomainError && error.reason === "EMAIL_TAKEN") return undefined;
    throw error;
  }
  return given.password ? { email } : { email, generatedPassword: password };
}
