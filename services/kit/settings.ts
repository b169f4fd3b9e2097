import { settings } from "./config.js";

/** Settings every part reads the same way. */
export const commonSettings = {
  host: settings.string("LAUNCHPAD_LISTEN_HOST", "127.0.0.1", "Address every part listens on"),
  dataDir: settings.string("LAUNCHPAD_DATA_DIR", "./data", "Directory of the embedded SQLite databases"),
  issuer: settings.string("LAUNCHPAD_TOKEN_ISSUER", "launchpad", "iss claim of access tokens"),
  audience: settings.string("LAUNCHPAD_TOKEN_AUDIENCE", "launchpad", "aud claim of access tokens"),
  shutdownGrace: settings.duration("LAUNCHPAD_SHUTDOWN_GRACE", "10s", "Time in-flight calls get to finish on shutdown"),
  logLevel: settings.oneOf("LAUNCHPAD_LOG_LEVEL", ["debug", "info", "warn", "error", "silent"], "info", "Log level"),
};
