import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Setting } from "../../services/kit/config.js";
import { deploymentsSettings } from "../../services/deployments/config.js";
import { usersSettings } from "../../services/users/config.js";
import { edgeSettings } from "../../edge/config.js";
import { freePort } from "./free-port.js";
import {
  argvOf,
  dependenciesOf,
  environmentOf,
  interpolate,
  isLaunchpadImage,
  startOrder,
  targetOf,
  type ComposeFile,
  type ComposeService,
} from "./compose-file.js";
import { entrypointOf, envOf, readDockerfile } from "./dockerfile.js";
import { repoRoot, type Exit } from "./program.js";

/**
 * docker-compose.yml's Launchpad services run as local processes, the way
 * Compose would run them, with no engine: in depends_on order, each waiting
 * for its dependencies' conditions (service_started: its banner;
 * service_healthy: its own compose health check exits 0;
 * service_completed_successfully: exited 0); with the image's ENTRYPOINT and
 * ENV from the Dockerfile, the service's entrypoint/command/environment, and
 * `node dist/X.js` run as `node --import tsx X.ts`.
 *
 * What a container network gives is made local: each listening port is a
 * free port, and `service:port` in any value becomes 127.0.0.1 and the port
 * that service printed; LAUNCHPAD_LISTEN_HOST is 127.0.0.1; database URLs point at
 * the test PostgreSQL with fresh schemas named after the compose ones; named
 * volumes and data directories are temporary directories. Services not built
 * from this repository (postgres, prometheus) are not run.
 */

/** A compose service running as a process. */
export interface LocalService {
  name: string;
  /** The --target it runs; undefined for one-shot scripts. */
  target: string | undefined;
  child: ChildProcess;
  /** The environment it was given (the compose names, local values). */
  env: Record<string, string>;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** Its ports: the one it has in compose → the one it listens on here. */
  ports: Map<number, number>;
}

/** What happened, in order: "started users", "healthy users", "completed provision". */
export type TopologyEvent = `${"started" | "healthy" | "completed"} ${string}`;

/** The topology, running. */
export interface LocalTopology {
  services: Map<string, LocalService>;
  events: TopologyEvent[];
  /** Rewrites `service:port` (and, for `self`, `127.0.0.1:port`) to where that service listens here. */
  localize(text: string, self?: string): string;
  /** Runs an argv as it would run in the image (`node dist/bin/x.js …` → tsx), with a service's environment; resolves with its exit and output. */
  exec(name: string, argv: string[], timeoutMs?: number): Promise<Exit & { stdout: string; stderr: string }>;
  /** Runs a service's compose health check once; true when it exits 0. */
  healthy(name: string): Promise<boolean>;
  /** SIGTERM to every process, last started first (SIGKILL after 15 s), then drops the schemas and temporary directories. */
  stop(): Promise<void>;
}

/** How to start the topology. */
export interface LocalTopologyOptions {
  compose: ComposeFile;
  /** The test PostgreSQL; each compose `?schema=x` becomes a fresh `<prefix>_x` on it. */
  postgresUrl: string;
  /** The environment `docker compose up` would be run with, for `${…}` interpolation. */
  variables: Record<string, string | undefined>;
  /** Values for variables a service already sets in compose (names must exist there), e.g. a faster agent. */
  overrides?: Record<string, string>;
  /** Upper bound for any one service to start, become healthy or complete. */
  timeoutMs?: number;
}

const runtime = readDockerfile().stages.at(-1)!;
const imageEntrypoint = entrypointOf(runtime) ?? [];
const imageEnv = envOf(runtime);

/** The ports each target prints in its banner, and the settings they come from. */
const banners: Record<string, { pattern: RegExp; ports: Setting<number>[] }> = {
  users: { pattern: /^\s+users\s+gRPC\s+\S+:(\d+)\s+metrics http:\/\/\S+:(\d+)\/metrics/m, ports: [usersSettings.port, usersSettings.metricsPort] },
  deployments: {
    pattern: /^\s+deployments\s+gRPC\s+\S+:(\d+)\s+metrics http:\/\/\S+:(\d+)\/metrics/m,
    ports: [deploymentsSettings.port, deploymentsSettings.metricsPort],
  },
  edge: { pattern: /^\s+edge\s+http:\/\/\S+:(\d+)/m, ports: [edgeSettings.port] },
  agent: { pattern: /^\s+demo agent\s+driving/m, ports: [] },
};

/** `node dist/x.js …` in the image → `node --import tsx x.ts …` in the repository. */
function fromImage(argv: string[]): string[] {
  const [command, script, ...rest] = argv;
  if (command === "node" && script && /^dist\/.+\.js$/.test(script)) {
    return [process.execPath, "--import", "tsx", script.replace(/^dist\//, "").replace(/\.js$/, ".ts"), ...rest];
  }
  if ((command === "/bin/sh" || command === "sh") && script === "-c") {
    const [body, ...args] = rest;
    return ["/bin/sh", "-c", body!.replace(/\bnode dist\/(\S+)\.js/g, `"${process.execPath}" --import tsx $1.ts`), ...args];
  }
  return argv;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the Launchpad services of a compose file as local processes; see the module comment. */
export async function startLocalTopology(options: LocalTopologyOptions): Promise<LocalTopology> {
  const { compose, variables, overrides = {}, timeoutMs = 60_000 } = options;
  const prefix = `lp_test_${randomBytes(5).toString("hex")}`;
  const schemas = new Set<string>();
  const dirs: string[] = [];
  const volumes = new Map<string, string>();
  const services = new Map<string, LocalService>();
  const events: TopologyEvent[] = [];
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LAUNCHPAD_")));
  const tempDir = (what: string) => {
    const dir = mkdtempSync(join(tmpdir(), `launchpad-compose-${what}-`));
    dirs.push(dir);
    return dir;
  };

  function localize(text: string, self?: string): string {
    return text.replace(/\b([A-Za-z0-9][A-Za-z0-9_.-]*):(\d+)\b/g, (match, host: string, port: string) => {
      const name = host === "127.0.0.1" || host === "localhost" ? self : host;
      if (name === undefined || !(name in compose.services)) return match;
      const service = services.get(name);
      if (!isLaunchpadImage(compose.services[name]!)) return match;
      if (!service) throw new Error(`${match}: ${name} is not running yet (missing from depends_on?)`);
      const local = service.ports.get(Number(port));
      if (local === undefined) throw new Error(`${match}: ${name} listens on none of that (its ports: ${[...service.ports.keys()].join(", ")})`);
      return `127.0.0.1:${local}`;
    });
  }

  /** A service's mounts, container path → local directory. */
  function mountsOf(service: ComposeService): Array<[string, string]> {
    return (service.volumes ?? []).flatMap((volume) => {
      const [source, target] = String(volume).split(":") as [string, string];
      if (!(source in (compose.volumes ?? {}))) return [];
      if (!volumes.has(source)) volumes.set(source, tempDir(source));
      return [[target, volumes.get(source)!]];
    });
  }

  function paths(text: string, mounts: Array<[string, string]>): string {
    for (const [target, dir] of mounts) if (text === target || text.startsWith(`${target}/`)) return dir + text.slice(target.length);
    return text;
  }

  /** The environment a service's process gets: the image's ENV, then the service's, made local. */
  async function environment(name: string, service: ComposeService, target: string | undefined): Promise<Record<string, string>> {
    const mounts = mountsOf(service);
    const composed = Object.fromEntries(Object.entries(environmentOf(service)).map(([key, value]) => [key, interpolate(value, variables)]));
    for (const key of Object.keys(overrides)) if (key in composed) composed[key] = overrides[key]!;
    const env: Record<string, string> = {};
    const ports = (target ? (banners[target]?.ports ?? []) : []).map((setting) => setting.env);
    for (const [key, value] of Object.entries({ ...imageEnv, ...composed })) {
      if (key === "LAUNCHPAD_LISTEN_HOST") env[key] = "127.0.0.1";
      else if (ports.includes(key)) continue;
      else if (key.endsWith("_DATABASE_URL")) {
        const url = new URL(options.postgresUrl);
        const schema = `${prefix}_${new URL(value).searchParams.get("schema") ?? "public"}`;
        schemas.add(schema);
        url.searchParams.set("schema", schema);
        env[key] = url.toString();
      } else env[key] = localize(paths(value, mounts), name);
    }
    if (env.LAUNCHPAD_DATA_DIR === imageEnv.LAUNCHPAD_DATA_DIR) env.LAUNCHPAD_DATA_DIR = tempDir(`${name}-data`);
    // Every port the target listens on is a free one here, whether compose sets it or leaves the default.
    for (const key of ports) env[key] = String(await freePort());
    return env;
  }

  function spawnService(name: string, argv: string[], env: Record<string, string>, target: string | undefined): LocalService {
    const [command, ...args] = argv;
    const child = spawn(command!, args, { cwd: repoRoot, env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = new Promise<Exit>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
    return { name, target, child, env, stdout: () => stdout, stderr: () => stderr, exited, ports: new Map() };
  }

  async function exec(name: string, argv: string[], limitMs = 15_000) {
    const service = services.get(name);
    const env = service?.env ?? (await environment(name, compose.services[name]!, targetOf(compose.services[name]!)));
    const run = spawnService(name, fromImage(argv.map((arg) => localize(paths(arg, mountsOf(compose.services[name]!)), name))), env, undefined);
    const timer = setTimeout(() => run.child.kill("SIGKILL"), limitMs);
    const exit = await run.exited;
    clearTimeout(timer);
    return { ...exit, stdout: run.stdout(), stderr: run.stderr() };
  }

  async function healthy(name: string): Promise<boolean> {
    const [kind, ...test] = argvOf(compose.services[name]!.healthcheck?.test);
    if (kind !== "CMD") throw new Error(`${name}: only exec-form (CMD) health checks run here, got ${kind}`);
    return (await exec(name, test)).code === 0;
  }

  async function until(what: string, condition: () => Promise<boolean>, service: LocalService): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (service.child.exitCode !== null) throw new Error(`${service.name} exited (${service.child.exitCode}) before ${what}:\n${service.stderr()}`);
      if (Date.now() > deadline) throw new Error(`${service.name}: no ${what} within ${timeoutMs} ms:\n${service.stdout()}\n${service.stderr()}`);
      await sleep(200);
    }
  }

  async function stop(): Promise<void> {
    await Promise.all(
      [...services.values()].reverse().map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        child.kill("SIGTERM");
        await once(child, "close").catch(() => undefined);
        clearTimeout(timer);
      }),
    );
    if (schemas.size > 0) {
      const client = new pg.Client({ connectionString: options.postgresUrl });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${[...schemas].map((s) => client.escapeIdentifier(s)).join(", ")} cascade`);
      } finally {
        await client.end();
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }

  try {
    for (const name of startOrder(compose)) {
      const service = compose.services[name]!;
      if (!isLaunchpadImage(service)) continue;
      for (const [dependency, condition] of Object.entries(dependenciesOf(service))) {
        if (!isLaunchpadImage(compose.services[dependency]!)) continue;
        const event = `${{ service_started: "started", service_healthy: "healthy", service_completed_successfully: "completed" }[condition]} ${dependency}`;
        if (!events.includes(event as TopologyEvent)) throw new Error(`${name} would start before ${event}`);
      }
      const target = targetOf(service);
      const env = await environment(name, service, target);
      const entrypoint = service.entrypoint === undefined ? imageEntrypoint : argvOf(service.entrypoint).map((arg) => interpolate(arg, variables));
      const command = argvOf(service.command).map((arg) => localize(paths(interpolate(arg, variables), mountsOf(service)), name));
      const running = spawnService(name, fromImage([...entrypoint, ...command]), env, target);
      services.set(name, running);

      if (service.restart === "no") {
        // A one-shot job: service_completed_successfully is all it offers.
        const exit = await Promise.race([running.exited, sleep(timeoutMs).then(() => undefined)]);
        if (exit?.code !== 0) throw new Error(`${name} did not complete successfully (${exit ? (exit.code ?? exit.signal) : "timeout"}):\n${running.stderr()}`);
        events.push(`started ${name}`, `completed ${name}`);
        continue;
      }
      const banner = banners[target ?? ""];
      if (!banner) throw new Error(`${name}: no banner known for --target=${target}`);
      await until("banner", async () => banner.pattern.test(running.stdout()), running);
      const printed = banner.pattern.exec(running.stdout())!.slice(1).map(Number);
      banner.ports.forEach((setting, i) => running.ports.set(Number(interpolate(environmentOf(service)[setting.env] ?? String(setting.defaultValue), variables)), printed[i]!));
      events.push(`started ${name}`);
      if (service.healthcheck?.test) {
        await until("passing health check", () => healthy(name), running);
        events.push(`healthy ${name}`);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return { services, events, localize, exec, healthy, stop };
}
