import { loadConfig, settings, type ConfigSource } from "../kit/config.js";
import { proxySecretSettings } from "../kit/proxy-secret.js";
import { commonSettings } from "../kit/settings.js";
import { parseTrustedProxies } from "./client-address.js";
import { defaultPasswordCost, maxPasswordCost } from "./passwords.js";
import { isPasswordLengthAccepted, passwordLength } from "./validation.js";

/** The settings of the users service. */
export const usersSettings = {
  ...commonSettings,
  port: settings.port("LAUNCHPAD_USERS_PORT", 50051, "UserService gRPC port"),
  metricsPort: settings.port("LAUNCHPAD_USERS_METRICS_PORT", 9451, "UserService Prometheus /metrics port"),
  databaseUrl: settings.databaseUrl("LAUNCHPAD_USERS_DATABASE_URL", "PostgreSQL URL of the users database; SQLite when empty"),
  adminEmail: settings.string("LAUNCHPAD_ADMIN_EMAIL", "admin@launchpad.local", "Email of the admin created on first start"),
  adminPassword: {
    ...settings.string("LAUNCHPAD_ADMIN_PASSWORD", "", "Password of that admin, 12 to 256 characters; generated and printed once when empty"),
    redact: () => "[redacted]",
    parse(raw: string) {
      // The same rule as every new password, so the first admin is no easier to guess.
      if (raw !== "" && !isPasswordLengthAccepted(raw)) throw new Error(`expected ${passwordLength.min} to ${passwordLength.max} characters`);
      return raw;
    },
  },
  accessTokenTtl: settings.duration("LAUNCHPAD_ACCESS_TOKEN_TTL", "10m", "Lifetime of access tokens"),
  refreshTokenTtl: settings.duration("LAUNCHPAD_REFRESH_TOKEN_TTL", "7d", "Lifetime of a sign-in (its refresh tokens)"),
  signingKeyRotation: signingKeyRotation(),
  trustedProxies: {
    ...settings.string(
      "LAUNCHPAD_TRUSTED_PROXIES",
      "127.0.0.1,::1",
      "Comma-separated addresses or CIDR ranges of the edge; with the proxy secret, their x-forwarded-for names the client",
    ),
    parse(raw: string) {
      parseTrustedProxies(raw);
      return raw;
    },
  },
  ...proxySecretSettings,
  passwordCost: {
    ...settings.integer(
      "LAUNCHPAD_PASSWORD_COST",
      defaultPasswordCost,
      `scrypt cost of new password hashes as log2 N, 12 to ${maxPasswordCost}; below 17 (OWASP's minimum) only for tests; weaker hashes are redone at sign-in`,
    ),
    parse(raw: string) {
      if (!/^\d+$/.test(raw) || Number(raw) < 12 || Number(raw) > maxPasswordCost) throw new Error(`expected a whole number from 12 to ${maxPasswordCost}`);
      return Number(raw);
    },
  },
  identityHeartbeat: settings.duration(
    "LAUNCHPAD_IDENTITY_HEARTBEAT",
    "1s",
    "Heartbeat interval of the identity-change stream; followers fail closed when they miss LAUNCHPAD_IDENTITY_STALE_AFTER of it",
  ),
  loginDelay: settings.duration("LAUNCHPAD_LOGIN_DELAY", "500ms", "First delay of throttled sign-ins; doubles per failure"),
};

/** The users service's configuration, validated. */
export type UsersConfig = ReturnType<typeof loadUsersConfig>;

/** Reads the users service's configuration from flags and the environment. */
export function loadUsersConfig(source?: ConfigSource) {
  return loadConfig(usersSettings, source);
}

/** LAUNCHPAD_SIGNING_KEY_ROTATION: a duration, or 0 for never. */
function signingKeyRotation() {
  const duration = settings.duration(
    "LAUNCHPAD_SIGNING_KEY_ROTATION",
    "30d",
    "How long a key signs access tokens before a new one takes over; 0: never rotated",
  );
  return { ...duration, parse: (raw: string) => (raw === "0" ? 0 : duration.parse(raw)) };
}
