import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { createChannel, createClient, Status } from "nice-grpc";
import { HealthDefinition } from "nice-grpc-server-health";
import { describe, expect, it } from "vitest";
import { Role, UserKind } from "../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../gen/launchpad/user/v1/user_service_pb.js";
import { loadConfig } from "../services/kit/config.js";
import { allSettings } from "../bin/settings.js";
import { bearer } from "./support/bearer.js";
import { expectGrpcError, failureOf } from "./support/grpc-errors.js";
import { repoRoot, runLaunchpad, startLaunchpad, type ProgramRun, type StartedProgram } from "./support/program.js";
import { cheapPasswordHashing, ephemeralEnv, programSandbox } from "./support/program-sandbox.js";
import { typedClient } from "./support/typed-client.js";

/** grpc.health.v1.HealthCheckResponse.ServingStatus values. */
const SERVING = 1;
const NOT_SERVING = 2;

const adminEmail = "admin@example.com";
const adminPassword = "correct horse battery staple";

const { newDataDir, channels } = programSandbox("launchpad-program-");

/** The environment of a program on ephemeral ports with its own data directory, and no demo agent. */
function envFor(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...ephemeralEnv(dataDir), ...cheapPasswordHashing, LAUNCHPAD_DEMO_AGENT: "off", ...extra };
}

/** A typed UserService client and a health client for a running program. */
function clientsOf(program: StartedProgram) {
  const channel = createChannel(`127.0.0.1:${program.usersPort}`);
  channels.push(channel);
  const users = typedClient(UserService, channel);
  const health = createClient(HealthDefinition, channel);
  const login = async (email: string, password: string) => (await users.login({ email, password })).tokens!.accessToken;
  return { channel, users, health, auth: bearer, login };
}

/** The value of one grpc_server_started_total series of UserService, from the program's /metrics. */
async function startedCalls(program: StartedProgram, method: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${program.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("grpc_server_started_total{") && l.includes(`grpc_method="${method}"`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

/** Polls until `condition` holds; the deadline only guards against hangs. */
async function until(condition: () => Promise<boolean>, what: string, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether a new TCP connection to the port is refused. */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });
}

function stderrLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.trim() !== "");
}

describe("launchpad refuses bad configuration", () => {
  const badValues: [string, Record<string, string>, string[], string][] = [
    ["a port that is not a number", { LAUNCHPAD_USERS_PORT: "abc" }, [], "LAUNCHPAD_USERS_PORT"],
    ["a duration with no unit", { LAUNCHPAD_ACCESS_TOKEN_TTL: "forever" }, [], "LAUNCHPAD_ACCESS_TOKEN_TTL"],
    ["a database URL that is not PostgreSQL", { LAUNCHPAD_USERS_DATABASE_URL: "mysql://x" }, [], "LAUNCHPAD_USERS_DATABASE_URL"],
    ["an unknown log level", { LAUNCHPAD_LOG_LEVEL: "loud" }, [], "LAUNCHPAD_LOG_LEVEL"],
    ["a bad value given as a flag", {}, ["--users-metrics-port=70000"], "LAUNCHPAD_USERS_METRICS_PORT"],
  ];

  it.each(badValues)("%s: exit code 2 and one line on stderr naming the variable", async (_, env, args, variable) => {
    const run = runLaunchpad(args, envFor(newDataDir(), env));
    const exit = await run.waitForExit();
    expect(exit).toEqual({ code: 2, signal: null });
    const lines = stderrLines(run.stderr());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(run.stdout()).not.toContain("Launchpad is running");
  });

  it("a too-short admin password is refused by its length, without echoing it", async () => {
    const run = runLaunchpad([], envFor(newDataDir(), { LAUNCHPAD_ADMIN_PASSWORD: "abc" }));
    expect(await run.waitForExit()).toEqual({ code: 2, signal: null });
    const lines = stderrLines(run.stderr());
    expect(lines).toEqual([expect.stringMatching(/^.*LAUNCHPAD_ADMIN_PASSWORD.*12 to 256 characters/)]);
    expect(lines[0]).not.toContain("abc");
  });

  it("an unknown --target=value: exit code 2 and one line naming --target", async () => {
    const run = runLaunchpad(["--target=nope"], envFor(newDataDir()));
    expect(await run.waitForExit()).toEqual({ code: 2, signal: null });
    const lines = stderrLines(run.stderr());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/--target.*nope/);
  });

  it("an unknown flag: exit code 2 and one line naming it and the nearest known flag", async () => {
    const run = runLaunchpad(["--users-prot=1"], envFor(newDataDir()));
    expect(await run.waitForExit()).toEqual({ code: 2, signal: null });
    expect(stderrLines(run.stderr())).toEqual(["launchpad: unknown flag --users-prot; did you mean --users-port?"]);
  });

  it("an unknown target given as `--target value` (the form every other flag accepts) is refused too", async () => {
    const run = runLaunchpad(["--target", "nope"], envFor(newDataDir()));
    const outcome = await Promise.race([run.exited, run.waitForStdout(/Launchpad is running/).then(() => "started" as const)]);
    expect(outcome).toEqual({ code: 2, signal: null });
    expect(stderrLines(run.stderr())).toHaveLength(1);
  });
});

describe("launchpad reads .env from its working directory", () => {
  /** Runs the program from a new directory holding a .env of `text`, with `env` (its data directory is inside). */
  function runWithEnvFile(text: string, env: Record<string, string> = {}): ProgramRun {
    const cwd = newDataDir();
    writeFileSync(join(cwd, ".env"), text);
    return runLaunchpad([], envFor(join(cwd, "data"), env), { cwd });
  }

  it("takes settings from it: a bad value there is refused like one in the environment", async () => {
    const run = runWithEnvFile("# local settings\nLAUNCHPAD_LOG_LEVEL=loud\n");
    expect(await run.waitForExit()).toEqual({ code: 2, signal: null });
    expect(stderrLines(run.stderr())).toEqual([expect.stringContaining("LAUNCHPAD_LOG_LEVEL")]);
  });

  it("lets real environment variables win over it, and uses the rest", async () => {
    // envFor sets LAUNCHPAD_USERS_PORT=0; the file's bad port would stop the program if it won.
    const run = runWithEnvFile("LAUNCHPAD_USERS_PORT=not-a-port\nLAUNCHPAD_ADMIN_EMAIL=dotenv@example.com\n");
    await run.waitForStdout(/Launchpad is running[\s\S]*as dotenv@example\.com/);
  });

  it("a malformed line: exit code 2 and one line naming the file and line", async () => {
    const run = runWithEnvFile("LAUNCHPAD_LOG_LEVEL=info\nLAUNCHPAD_USERS_PORT 6000\n");
    expect(await run.waitForExit()).toEqual({ code: 2, signal: null });
    expect(stderrLines(run.stderr())).toEqual(["launchpad: .env:2: expected NAME=value, a # comment or a blank line"]);
  });
});

describe("launchpad on a terminal", () => {
  const hasScript = spawnSync("script", ["--version"]).status === 0;

  it.skipIf(!hasScript)("writes readable log lines, not JSON, when stdout is a terminal", async () => {
    const tsx = join(repoRoot, "node_modules/tsx/dist/loader.mjs");
    const command = `'${process.execPath}' --import '${tsx}' '${join(repoRoot, "bin/launchpad.ts")}' --target=all`;
    // script(1) from util-linux runs the program on a pseudo-terminal and copies what it shows to stdout.
    const terminal = spawn("script", ["-qfc", command, "/dev/null"], {
      cwd: repoRoot,
      env: { ...process.env, ...envFor(newDataDir(), { LAUNCHPAD_ADMIN_PASSWORD: adminPassword, NO_COLOR: "1" }) },
    });
    let shown = "";
    terminal.stdout.setEncoding("utf8").on("data", (chunk: string) => (shown += chunk));
    const ended = new Promise((resolve) => terminal.on("close", resolve));
    try {
      // Deadlines against hangs only: starting under script(1) on a loaded machine can take a while.
      await until(async () => /edge\s+http:\/\/127\.0\.0\.1:\d+/.test(shown), "the banner", 60_000);
      const edgeUrl = /edge\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(shown)![1]!;
      const login = await fetch(`${edgeUrl}/launchpad.user.v1.UserService/Login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "nobody@example.com", password: "s3cret-typed" }),
      });
      expect(login.status).toBe(401);
      await until(async () => /INFO: edge \| request/.test(shown), "the edge's log line", 30_000);
      const logLines = shown.split(/\r?\n/).filter((line) => /^\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+: /.test(line));
      expect(logLines).toContainEqual(expect.stringMatching(/ WARN: users \| call \{.*"method":"\/launchpad\.user\.v1\.UserService\/Login".*"code":"Unauthenticated"/));
      expect(logLines).toContainEqual(expect.stringMatching(/ INFO: edge \| request \{.*"status":401/));
      expect(shown).not.toContain('{"level"');
      expect(shown).not.toContain("s3cret-typed");
    } finally {
      // Ctrl-C on the terminal: SIGINT to the program, which stops and ends the session.
      terminal.stdin.write("\u0003");
      await ended;
    }
  }, 120_000);
});

describe("launchpad --help", () => {
  /** Every LAUNCHPAD_ variable the program's source mentions. */
  function variablesInSource(): string[] {
    const found = new Set<string>();
    for (const dir of ["bin", "services", "edge"]) {
      let files: string[];
      try {
        files = readdirSync(join(repoRoot, dir), { recursive: true, encoding: "utf8" });
      } catch {
        continue;
      }
      for (const file of files.filter((f) => f.endsWith(".ts"))) {
        for (const match of readFileSync(join(repoRoot, dir, file), "utf8").matchAll(/\bLAUNCHPAD_[A-Z0-9_]*[A-Z0-9]\b/g)) {
          found.add(match[0]);
        }
      }
    }
    return [...found].sort();
  }

  /** Each row of the help: flag, variable and the default as printed. */
  function rowsOf(help: string) {
    return [...help.matchAll(/^\s+(--[a-z0-9-]+)\s+(LAUNCHPAD_[A-Z0-9_]+)\s+.*\(default: (.*)\)$/gm)].map(([, flag, variable, shown]) => ({
      flag: flag!,
      variable: variable!,
      shown: shown!,
    }));
  }

  it("lists every LAUNCHPAD_ variable with its flag, and exits 0", async () => {
    const run = runLaunchpad(["--help"], {});
    expect(await run.waitForExit()).toEqual({ code: 0, signal: null });
    expect(run.stderr()).toBe("");
    const rows = rowsOf(run.stdout());
    const variables = variablesInSource();
    expect(variables.length).toBeGreaterThan(5);
    expect(rows.map((r) => r.variable).sort()).toEqual(expect.arrayContaining(variables));
    for (const row of rows) expect(row.flag).toBe(`--${row.variable.slice("LAUNCHPAD_".length).toLowerCase().replaceAll("_", "-")}`);
    expect(run.stdout()).not.toContain("Launchpad is running");
  });

  /** A default as printed: JSON ("10m", 50051) or bare (10m). */
  function parseShown(shown: string): string {
    try {
      return String(JSON.parse(shown));
    } catch {
      return shown;
    }
  }

  it("every default it prints is a value the variable accepts", async () => {
    const run = runLaunchpad(["--help"], {});
    await run.waitForExit();
    const rows = rowsOf(run.stdout());
    expect(rows.map((r) => r.variable).sort()).toEqual([...allSettings.keys()].sort());
    const refused: string[] = [];
    for (const row of rows) {
      const value = parseShown(row.shown);
      try {
        loadConfig({ setting: allSettings.get(row.variable)! }, { env: { [row.variable]: value }, argv: [] });
      } catch (error) {
        refused.push(`${row.variable}=${value}: ${(error as Error).message}`);
      }
    }
    expect(refused).toEqual([]);
  });
});

describe("launchpad first start", () => {
  it("prints a generated admin password once; it signs in; a second start prints none", async () => {
    const dataDir = newDataDir();
    const first = await startLaunchpad([], envFor(dataDir));
    const password = /^\s+password\s+(\S+)\s/m.exec(first.stdout())?.[1];
    expect(password).toBeDefined();
    expect(password!.length).toBeGreaterThanOrEqual(16);
    expect(first.stdout()).toContain("admin@launchpad.local");

    const { users } = clientsOf(first);
    const { user } = await users.login({ email: "admin@launchpad.local", password: password! });
    expect(user?.role).toBe(Role.ADMIN);
    // Shown once: not repeated in any log line, on either stream.
    expect((first.stdout() + first.stderr()).split(password!)).toHaveLength(2);

    first.child.kill("SIGTERM");
    expect(await first.waitForExit()).toEqual({ code: 0, signal: null });

    const second = await startLaunchpad([], envFor(dataDir));
    expect(second.stdout()).not.toContain(password!);
    expect(second.stdout()).not.toMatch(/^\s+password\s+\S+/m);
    expect(second.stdout()).not.toContain("First start");
    await clientsOf(second).users.login({ email: "admin@launchpad.local", password: password! });
  });

  it("with LAUNCHPAD_ADMIN_PASSWORD set, prints no password and that password signs in", async () => {
    const program = await startLaunchpad([], envFor(newDataDir(), { LAUNCHPAD_ADMIN_EMAIL: adminEmail, LAUNCHPAD_ADMIN_PASSWORD: adminPassword }));
    expect(program.stdout()).toContain(adminEmail);
    expect(program.stdout() + program.stderr()).not.toContain(adminPassword);
    expect(program.stdout()).not.toMatch(/^\s+password\s+\S+/m);
    await clientsOf(program).login(adminEmail, adminPassword);
  });
});

describe("launchpad shutdown and durability", () => {
  const known = { LAUNCHPAD_ADMIN_EMAIL: adminEmail, LAUNCHPAD_ADMIN_PASSWORD: adminPassword };

  it("SIGTERM: health turns NOT_SERVING, new connections are refused, in-flight calls finish, exit 0, data survives", async () => {
    const dataDir = newDataDir();
    // A failed sign-in slows the next ones: after 5 failures a sign-in waits LAUNCHPAD_LOGIN_DELAY,
    // which gives a call that is reliably in flight when the signal arrives.
    const env = envFor(dataDir, { ...known, LAUNCHPAD_LOGIN_DELAY: "3s", LAUNCHPAD_SHUTDOWN_GRACE: "20s" });
    const program = await startLaunchpad([], env);
    const { users, health, auth, login } = clientsOf(program);
    const token = await login(adminEmail, adminPassword);

    const { user: kept } = await users.createUser(
      { user: { email: "kept@example.com", role: Role.VIEWER }, password: "kept's own password" },
      auth(token),
    );
    // Enough users that StreamUsers cannot finish while its reader is paused.
    const robots = 1200;
    for (let batch = 0; batch < robots; batch += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          users.createUser({ user: { email: `robot${batch + i}@example.com`, kind: UserKind.SERVICE_ACCOUNT, role: Role.AGENT } }, auth(token)),
        ),
      );
    }

    const watchAbort = new AbortController();
    const watch = health.watch({ service: "" }, { signal: watchAbort.signal })[Symbol.asyncIterator]();
    expect((await watch.next()).value).toEqual({ status: SERVING });

    const stream = users.streamUsers({}, auth(token))[Symbol.asyncIterator]();
    expect((await stream.next()).done).toBe(false);

    for (let i = 0; i < 5; i++) {
      await expectGrpcError(users.login({ email: "kept@example.com", password: "wrong password" }), Status.UNAUTHENTICATED, "INVALID_CREDENTIALS");
    }
    const loginsBefore = await startedCalls(program, "Login");
    const slowLogin = users.login({ email: "kept@example.com", password: "kept's own password" });
    slowLogin.catch(() => undefined); // awaited below; this keeps an early failure from being unhandled
    await until(async () => (await startedCalls(program, "Login")) === loginsBefore + 1, "the slow sign-in to reach the server");

    program.child.kill("SIGTERM");

    expect((await watch.next()).value).toEqual({ status: NOT_SERVING });
    // Stop watching, as a client does once it has moved elsewhere; aborting rejects the watch.
    watchAbort.abort();
    await watch.next().catch(() => undefined);
    expect(await connectionRefused(program.usersPort)).toBe(true);

    // The stream in flight is ended with UNAVAILABLE (retry elsewhere), not cut silently.
    let received = 1;
    const streamEnd = await failureOf(
      (async () => {
        for (let next = await stream.next(); !next.done; next = await stream.next()) received++;
      })(),
    );
    expect({ code: streamEnd.code, reason: streamEnd.reason }).toEqual({ code: Status.UNAVAILABLE, reason: "SERVER_STOPPING" });
    expect(received).toBeLessThan(robots + 2);

    // The unary call in flight completes normally within the grace period.
    const slow = await slowLogin;
    expect(slow.user?.email).toBe("kept@example.com");

    expect(await program.waitForExit(30_000)).toEqual({ code: 0, signal: null });

    const restarted = await startLaunchpad([], envFor(dataDir, known));
    const again = clientsOf(restarted);
    const adminToken = await again.login(adminEmail, adminPassword);
    const { user } = await again.users.getUser({ name: kept!.name }, again.auth(adminToken));
    expect(user).toEqual(kept);
    const { totalSize } = await again.users.listUsers({ filter: 'email : "robot"' }, again.auth(adminToken));
    expect(totalSize).toBe(robots);
    await again.login("kept@example.com", "kept's own password");
  }, 90_000);

  it("kill -9 right after CreateUser was acknowledged loses nothing", async () => {
    const dataDir = newDataDir();
    const program = await startLaunchpad([], envFor(dataDir, known));
    const { users, auth, login } = clientsOf(program);
    const token = await login(adminEmail, adminPassword);
    const { user: created } = await users.createUser(
      { user: { email: "durable@example.com", displayName: "Durable", role: Role.DEPLOYER }, password: "a durable password" },
      auth(token),
    );
    program.child.kill("SIGKILL");
    expect(await program.waitForExit()).toEqual({ code: null, signal: "SIGKILL" });

    const restarted = await startLaunchpad([], envFor(dataDir, known));
    const again = clientsOf(restarted);
    const adminToken = await again.login(adminEmail, adminPassword);
    const { user } = await again.users.getUser({ name: created!.name }, again.auth(adminToken));
    expect(user).toEqual(created);
    await again.login("durable@example.com", "a durable password");
  });
});
