import { pino, type Logger } from "pino";

export type { Logger } from "pino";

/** Keys whose values never reach a log line, wherever they appear. */
const secretKeys = new Set([
  "password",
  "currentPassword",
  "newPassword",
  "secret",
  "apiKey",
  "accessToken",
  "refreshToken",
  "authorization",
  "cookie",
  "set-cookie",
  "token",
  "privateJwk",
  "sealedPrivateJwk",
  "secretKey",
  "proxySecret",
  "x-launchpad-proxy-secret",
]);

const censor = "[redacted]";

// pino formats a child's bindings without the bindings formatter but with
// the serializers, so secrets bound to a child are censored here.
const secretSerializers = Object.fromEntries([...secretKeys].map((key) => [key, () => censor]));

/**
 * Replaces the values of secret keys, at any depth up to `depth`, copying
 * only the objects that hold one. pino's own `redact` needs wildcard paths
 * for this, and matching them cost more CPU than everything else in a call's
 * access log line; a line without secrets passes through untouched here.
 */
export function censorSecrets<T>(value: T, depth = 4): T {
  if (depth === 0 || typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const fields = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  // for…in over own keys, not Object.entries: no array of pairs per object on every line.
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const child = fields[key];
    const replaced = secretKeys.has(key) ? censor : censorSecrets(child, depth - 1);
    if (replaced !== child) (copy ??= { ...fields })[key] = replaced;
  }
  return (copy ?? value) as T;
}

let timeMs = NaN;
let timeField = "";

/**
 * pino's ISO time field, formatted once per millisecond: under load many
 * lines share one, and toISOString cost more than anything else in an
 * access-log line's fixed fields.
 */
function isoTime(): string {
  const now = Date.now();
  if (now !== timeMs) {
    timeMs = now;
    timeField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return timeField;
}

/**
 * Standard output as pino writes it by default, except that writes are cut
 * at 4 KiB instead of 16: sonic-boom measures the whole pending chunk on
 * every line, and under load that cost more than formatting the line.
 */
function standardOutput(): pino.DestinationStream {
  return pino.destination({ maxWrite: 4096 });
}

/** Creates the JSON logger of a part ("users", "deployments", "edge"); lines go to standard output unless `destination` says otherwise. */
export function createLogger(part: string, level = "info", destination: pino.DestinationStream = standardOutput()): Logger {
  return pino(
    {
      level,
      base: { part },
      formatters: { level: (label) => ({ level: label }), log: censorSecrets, bindings: censorSecrets },
      serializers: secretSerializers,
      timestamp: isoTime,
    },
    destination,
  );
}
