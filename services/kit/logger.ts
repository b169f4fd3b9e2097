import { pino, type Logger } from "pino";

export type { Logger } from "pino";

/** Keys whose values never reach a log line, wherever they appear. */
const secretKeys = [
  "password",
  "currentPassword",
  "newPassword",
  "secret",
  "apiKey",
  "accessToken",
  "refreshToken",
  "authorization",
  "token",
  "privateJwk",
];

/** Paths pino censors: each secret key at the top level and up to two objects deep. */
export const redactedPaths = secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/** Creates the JSON logger of a part ("users", "deployments", "edge"). */
export function createLogger(part: string, level = "info", destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { part },
      redact: { paths: redactedPaths, censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
