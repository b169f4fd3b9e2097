import { describe, expect, it } from "vitest";
import { checkFlags, ConfigError, flagName, loadConfig, settings, type Setting } from "../../services/kit/config.js";

const spec = {
  host: settings.string("LAUNCHPAD_LISTEN_HOST", "127.0.0.1", "listen host"),
  port: settings.port("LAUNCHPAD_USERS_PORT", 50051, "gRPC port"),
  workers: settings.integer("LAUNCHPAD_WORKERS", 4, "workers", 1),
  ttl: settings.duration("LAUNCHPAD_ACCESS_TOKEN_TTL", "10m", "token lifetime"),
  logLevel: settings.oneOf("LAUNCHPAD_LOG_LEVEL", ["debug", "info", "warn"], "info", "log level"),
  databaseUrl: settings.databaseUrl("LAUNCHPAD_USERS_DATABASE_URL", "database"),
};

const load = (env: Record<string, string> = {}, argv: string[] = []) => loadConfig(spec, { env, argv });

/** The ConfigError loading one variable's raw value throws. */
function rejection(setting: Setting<unknown>, raw: string): ConfigError {
  try {
    loadConfig({ value: setting }, { env: { [setting.env]: raw }, argv: [] });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be refused`);
}

describe("loadConfig", () => {
  it("uses every default when nothing is set", () => {
    expect(load()).toEqual({ host: "127.0.0.1", port: 50051, workers: 4, ttl: 600_000, logLevel: "info", databaseUrl: "" });
  });

  it("reads values from the environment", () => {
    expect(load({ LAUNCHPAD_USERS_PORT: "6000", LAUNCHPAD_LOG_LEVEL: "debug" })).toMatchObject({ port: 6000, logLevel: "debug" });
  });

  it("reads flags as --name=value and --name value", () => {
    expect(load({}, ["--users-port=7000", "--log-level", "warn"])).toMatchObject({ port: 7000, logLevel: "warn" });
  });

  it("lets a flag win over the environment", () => {
    expect(load({ LAUNCHPAD_USERS_PORT: "6000" }, ["--users-port=7000"]).port).toBe(7000);
  });

  it("treats an empty variable as unset", () => {
    expect(load({ LAUNCHPAD_USERS_PORT: "" }).port).toBe(50051);
  });

  it("ignores unrelated flags and variables", () => {
    expect(load({ HOME: "/root" }, ["--verbose", "--target=all"])).toMatchObject({ port: 50051 });
  });

  it("derives a flag from a variable by dropping LAUNCHPAD_ and using kebab case", () => {
    expect(flagName("LAUNCHPAD_USERS_DATABASE_URL")).toBe("--users-database-url");
    expect(flagName("LAUNCHPAD_LOG_LEVEL")).toBe("--log-level");
  });

  it("reports a bad flag value naming the variable and the flag", () => {
    expect(() => load({}, ["--users-port=http"])).toThrow(ConfigError);
    expect(() => load({}, ["--users-port=http"])).toThrow(/^LAUNCHPAD_USERS_PORT \(--users-port\): .*got "http"$/);
  });
});

describe("checkFlags", () => {
  const known = ["--target", "--users-port", "--users-metrics-port", "--log-level", "--log-format"];
  const check = (argv: string[]) => () => checkFlags(argv, known, { "--help": "h" });

  it("accepts known flags as --name=value and --name value, and --help or -h", () => {
    expect(check(["--users-port=1", "--log-level", "warn", "--target=all", "--help", "-h"])).not.toThrow();
  });

  it("names an unknown flag and the nearest known one", () => {
    expect(check(["--users-prot=1"])).toThrow(new ConfigError("unknown flag --users-prot; did you mean --users-port?"));
    expect(check(["--log-levle", "warn"])).toThrow("unknown flag --log-levle; did you mean --log-level?");
    expect(check(["--hlep"])).toThrow("did you mean --help?");
    expect(check(["--users-metric-port=9"])).toThrow("did you mean --users-metrics-port?");
  });

  it("refuses a stray argument, a value flag without its value and a switch given a value", () => {
    expect(check(["--users-port", "1", "2"])).toThrow('unexpected argument "2"');
    expect(check(["--log-level"])).toThrow("flag --log-level needs a value");
    expect(check(["--help=yes"])).toThrow("flag --help takes no value");
  });
});

describe("settings parsers", () => {
  it.each([
    ["port", spec.port, ["http", "-1", "65536", "80.5", " 80", "0x50", "1e3"]],
    ["integer", spec.workers, ["0", "-3", "two", "1.5", "1e3"]],
    ["duration", spec.ttl, ["10", "1.5s", "5 m", "-1s", "1w", "ms", "10S"]],
    ["oneOf", spec.logLevel, ["INFO", "trace", "info "]],
    ["databaseUrl", spec.databaseUrl, ["mysql://db/launchpad", "db.example.com:5432", "postgres://db host/launchpad"]],
  ] as const)("%s rejects bad values with a one-line ConfigError naming the variable", (_, setting, values) => {
    for (const raw of values) {
      const error = rejection(setting, raw);
      expect(error.name).toBe("ConfigError");
      expect(error.message.startsWith(`${setting.env} (${flagName(setting.env)}): `)).toBe(true);
      expect(error.message).not.toContain("\n");
    }
  });

  it("says what a setting expects", () => {
    expect(rejection(spec.port, "http").message).toContain("expected a port number from 0 to 65535");
    expect(rejection(spec.workers, "0").message).toContain("expected a whole number of at least 1");
    expect(rejection(spec.ttl, "10").message).toContain('expected a duration such as "500ms"');
    expect(rejection(spec.logLevel, "trace").message).toContain("expected one of debug, info, warn");
    expect(rejection(spec.databaseUrl, "mysql://db").message).toContain("expected a postgres:// URL");
  });

  it("keeps the report on one line even when the value spans lines", () => {
    expect(rejection(spec.port, "80\n81").message).not.toContain("\n");
  });

  it("does not echo the password of a rejected database URL", () => {
    for (const raw of ["mysql://launchpad:s3cret-pw@db/launchpad", "postgres://launchpad:s3cret-pw@db host/launchpad"]) {
      const error = rejection(spec.databaseUrl, raw);
      expect(error.message).toContain("LAUNCHPAD_USERS_DATABASE_URL");
      expect(error.message).not.toContain("s3cret-pw");
    }
  });

  it("accepts ports from 0 to 65535", () => {
    expect(spec.port.parse("0")).toBe(0);
    expect(spec.port.parse("65535")).toBe(65535);
  });

  it("accepts whole numbers from the minimum up", () => {
    expect(spec.workers.parse("1")).toBe(1);
    expect(settings.integer("N", 0, "n", -5).parse("-5")).toBe(-5);
  });

  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["15m", 900_000],
    ["12h", 43_200_000],
    ["7d", 604_800_000],
    ["0s", 0],
  ])("reads the duration %s as %i milliseconds", (raw, ms) => {
    expect(spec.ttl.parse(raw)).toBe(ms);
  });

  it("parses a duration default too", () => {
    expect(settings.duration("D", "30s", "d").defaultValue).toBe(30_000);
    expect(() => settings.duration("D", "30", "d")).toThrow();
  });

  it("accepts postgres:// and postgresql:// URLs", () => {
    expect(spec.databaseUrl.parse("postgres://u:p@db:5432/launchpad")).toBe("postgres://u:p@db:5432/launchpad");
    expect(spec.databaseUrl.parse("postgresql://db/launchpad?sslmode=require")).toBe("postgresql://db/launchpad?sslmode=require");
  });

  it("takes strings as they are", () => {
    expect(spec.host.parse(" 0.0.0.0 ")).toBe(" 0.0.0.0 ");
  });
});
