import { settings } from "./config.js";

/** Settings every part reads the same way. */
export const commonSettings = {
  host: settings.string("LAUNCHPAD_LISTEN_HOST", "127.0.0.1", "Address every part listens on"),
  dataDir: settings.string("LAUNCHPAD_DATA_DIR", "./data", "Directory of the embedded SQLite databases (made 0700, files 0600)"),
  secretKey: {
    ...settings.string("LAUNCHPAD_SECRET_KEY", "", "The server's secret key (32+ bytes, base64); replicas must share it"),
    redact: () => "[redacted]",
  },
  secretKeyFile: settings.string(
    "LAUNCHPAD_SECRET_KEY_FILE",
    "",
    "File holding the server's secret key; empty: <data dir>/secret.key, generated on first start",
  ),
  issuer: settings.string("LAUNCHPAD_TOKEN_ISSUER", "launchpad", "iss claim of access tokens"),
  audience: settings.string("LAUNCHPAD_TOKEN_AUDIENCE", "launchpad", "aud claim of access tokens"),
  shutdownGrace: settings.duration("LAUNCHPAD_SHUTDOWN_GRACE", "10s", "Time in-flight calls get to finish on shutdown"),
  logLevel: settings.oneOf("LAUNCHPAD_LOG_LEVEL", ["debug", "info", "warn", "error", "silent"], "info", "Log level"),
};

/** Settings of the parts that verify credentials through UserService (deployments, edge). */
export const identityFollowerSettings = {
  identityStaleAfter: settings.duration(
    "LAUNCHPAD_IDENTITY_STALE_AFTER",
    "5s",
    "With UserService's identity-change stream unheard for this long, every credential is checked with UserService (fail closed)",
  ),
};
