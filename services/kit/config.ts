import { parseArgs } from "node:util";

/** A configuration problem, reported as one line naming the variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** One setting: an environment variable, the flag derived from it, and a parser. */
export interface Setting<T> {
  env: string;
  describe: string;
  defaultValue: T;
  /** Hides secrets in a rejected value before it is echoed in the error. */
  redact?(raw: string): string;
  /** The default as a user would write it, when that differs from the parsed value. */
  defaultText?: string;
  parse(raw: string): T;
}

type Values<S> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** Where settings come from: the environment, then flags, which win. */
export interface ConfigSource {
  env: Readonly<Record<string, string | undefined>>;
  argv: readonly string[];
}

/** The flag of a variable: LAUNCHPAD_USERS_PORT → --users-port. */
export function flagName(env: string): string {
  return `--${env.replace(/^LAUNCHPAD_/, "").toLowerCase().replaceAll("_", "-")}`;
}

/**
 * Reads every setting of a spec from flags and the environment, validated.
 * A bad value throws ConfigError naming the variable and what it expects.
 */
export function loadConfig<S extends Record<string, Setting<unknown>>>(
  spec: S,
  source: ConfigSource = { env: process.env, argv: process.argv.slice(2) },
): Values<S> {
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(spec)) {
    const raw = flagValue(source.argv, flagName(setting.env)) ?? source.env[setting.env];
    if (raw === undefined || raw === "") {
      values[key] = setting.defaultValue;
      continue;
    }
    try {
      values[key] = setting.parse(raw);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError(`${setting.env} (${flagName(setting.env)}): ${reason}, got ${JSON.stringify(setting.redact?.(raw) ?? raw)}`);
    }
  }
  return values as Values<S>;
}

/**
 * Refuses a command line holding anything but the known flags: an unknown
 * flag is named with the nearest known one, so a typo stops the program
 * instead of being ignored. `valueFlags` take a value (`--name=value` or
 * `--name value`); `switches` take none.
 */
export function checkFlags(argv: readonly string[], valueFlags: Iterable<string>, switches: Record<string, string> = {}): void {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const flag of valueFlags) options[flag.slice(2)] = { type: "string" };
  for (const [flag, short] of Object.entries(switches)) options[flag.slice(2)] = { type: "boolean", short };
  // Not strict: parseArgs would stop at the first unknown flag without saying which known one was meant.
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind === "positional") throw new ConfigError(`unexpected argument ${JSON.stringify(token.value)}; flags look like --name=value`);
    if (token.kind !== "option") continue;
    const known = options[token.name];
    if (!known) throw new ConfigError(`unknown flag ${token.rawName}; did you mean ${nearest(`--${token.name}`, Object.keys(options).map((name) => `--${name}`))}?`);
    if (known.type === "string" && token.value === undefined) throw new ConfigError(`flag ${token.rawName} needs a value`);
    if (known.type === "boolean" && token.value !== undefined) throw new ConfigError(`flag ${token.rawName} takes no value`);
  }
}

/** The candidate fewest single-character edits away from `word`. */
function nearest(word: string, candidates: readonly string[]): string {
  let best = candidates[0]!;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
    if (arg === flag) return argv[i + 1];
  }
  return undefined;
}

/** Parsers for the kinds of values Launchpad is configured with. */
export const settings = {
  string(env: string, defaultValue: string, describe: string): Setting<string> {
    return { env, describe, defaultValue, parse: (raw) => raw };
  },
  port(env: string, defaultValue: number, describe: string): Setting<number> {
    return {
      env,
      describe,
      defaultValue,
      parse(raw) {
        const port = Number(raw);
        if (!/^\d+$/.test(raw) || port > 65535) throw new Error("expected a port number from 0 to 65535");
        return port;
      },
    };
  },
  integer(env: string, defaultValue: number, describe: string, min = 0): Setting<number> {
    return {
      env,
      describe,
      defaultValue,
      parse(raw) {
        if (!/^-?\d+$/.test(raw) || Number(raw) < min) throw new Error(`expected a whole number of at least ${min}`);
        return Number(raw);
      },
    };
  },
  /** A duration such as "500ms", "30s", "15m", "12h", "7d"; the value is in milliseconds. */
  duration(env: string, defaultValue: string, describe: string): Setting<number> {
    return { env, describe, defaultValue: parseDuration(defaultValue), defaultText: defaultValue, parse: parseDuration };
  },
  oneOf<T extends string>(env: string, values: readonly T[], defaultValue: T, describe: string): Setting<T> {
    return {
      env,
      describe,
      defaultValue,
      parse(raw) {
        if (!values.includes(raw as T)) throw new Error(`expected one of ${values.join(", ")}`);
        return raw as T;
      },
    };
  },
  /** A PostgreSQL URL; empty means the embedded SQLite default. */
  databaseUrl(env: string, describe: string): Setting<string> {
    return {
      env,
      describe,
      defaultValue: "",
      redact: (raw) => raw.replace(/^([^:/]*:\/\/)[^@/]*@/, "$1[redacted]@"),
      parse(raw) {
        if (!/^postgres(ql)?:\/\//.test(raw)) throw new Error("expected a postgres:// URL");
        new URL(raw);
        return raw;
      },
    };
  },
};

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parseDuration(raw: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(raw);
  if (!match) throw new Error('expected a duration such as "500ms", "30s", "15m", "12h" or "7d"');
  return Number(match[1]) * units[match[2]!]!;
}
