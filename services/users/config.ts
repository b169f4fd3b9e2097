import { loadConfig, settings, type ConfigSource } from "../kit/config.js";
import { commonSettings } from "../kit/settings.js";

/** The settings of the users service. */
export const usersSettings = {
  ...commonSettings,
  port: settings.port("LAUNCHPAD_USERS_PORT", 50051, "UserService gRPC port"),
  metricsPort: settings.port("LAUNCHPAD_USERS_METRICS_PORT", 9451, "UserService Prometheus /metrics port"),
  databaseUrl: settings.databaseUrl("LAUNCHPAD_USERS_DATABASE_URL", "PostgreSQL URL of the users database; SQLite when empty"),
  adminEmail: settings.string("LAUNCHPAD_ADMIN_EMAIL", "admin@launchpad.local", "Email of the admin created on first start"),
  adminPassword: settings.string("LAUNCHPAD_ADMIN_PASSWORD", "", "Password of that admin; generated and printed once when empty"),
  accessTokenTtl: settings.duration("LAUNCHPAD_ACCESS_TOKEN_TTL", "10m", "Lifetime of access tokens"),
  refreshTokenTtl: settings.duration("LAUNCHPAD_REFRESH_TOKEN_TTL", "7d", "Lifetime of a sign-in (its refresh tokens)"),
  trustedProxies: settings.string(
    "LAUNCHPAD_TRUSTED_PROXIES",
    "127.0.0.1,::1,::ffff:127.0.0.1",
    "Comma-separated addresses (the edge's) whose x-forwarded-for names the client",
  ),
  loginDelay: settings.duration("LAUNCHPAD_LOGIN_DELAY", "500ms", "First delay of throttled sign-ins; doubles per failure"),
};

/** The users service's configuration, validated. */
export type UsersConfig = ReturnType<typeof loadUsersConfig>;

/** Reads the users service's configuration from flags and the environment. */
export function loadUsersConfig(source?: ConfigSource) {
  return loadConfig(usersSettings, source);
}
