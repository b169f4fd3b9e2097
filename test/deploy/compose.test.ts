import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { agentSettings } from "../../services/agent/config.js";
import { loadConfig, type Setting } from "../../services/kit/config.js";
import { deploymentsSettings } from "../../services/deployments/config.js";
import { usersSettings } from "../../services/users/config.js";
import { edgeSettings } from "../../edge/config.js";
import {
  argvOf,
  composeSpecErrors,
  dependenciesOf,
  environmentOf,
  interpolate,
  isLaunchpadImage,
  readComposeFile,
  startOrder,
  targetOf,
  variablesIn,
  type ComposeService,
} from "../support/compose-file.js";
import { readDockerfile } from "../support/dockerfile.js";
import { repoRoot } from "../support/program.js";

// docker-compose.yml, read with a real YAML parser and validated against the
// Compose Specification's JSON schema, then checked against what the program
// actually reads: its targets, its settings (names and values, with its own
// parsers), its ports, and deploy/prometheus.yml.

const compose = readComposeFile();
const services = compose.services;
const names = Object.keys(services);

/** What `docker compose up` would be run with (the admin password and the proxy secret are required). */
const variables = {
  LAUNCHPAD_ADMIN_PASSWORD: "correct horse battery staple",
  LAUNCHPAD_SECRET_KEY: "c2VjcmV0IGtleSBvZiB0aGUgY29tcG9zZSB0ZXN0cyEhIQ==",
  LAUNCHPAD_PROXY_SECRET: "a proxy secret of some length",
  POSTGRES_PASSWORD: undefined,
};
const envOf = (name: string) =>
  Object.fromEntries(Object.entries(environmentOf(services[name]!)).map(([key, value]) => [key, interpolate(value, variables)]));

/** The settings each target reads (bin/launchpad.ts). */
const settingsOf: Record<string, Record<string, Setting<unknown>>> = {
  users: usersSettings,
  deployments: deploymentsSettings,
  edge: edgeSettings,
  agent: agentSettings,
};
settingsOf.all = Object.assign({}, ...Object.values(settingsOf));
const programTargets = JSON.parse(
  `[${/const targets = \[([^\]]*)\]/.exec(readFileSync(join(repoRoot, "bin/launchpad.ts"), "utf8"))![1]}]`,
) as string[];

const launchpadServices = names.filter((name) => isLaunchpadImage(services[name]!));
const programServices = launchpadServices.filter((name) => targetOf(services[name]!) !== undefined);
const withTarget = (target: string) => programServices.filter((name) => targetOf(services[name]!) === target);
const isOneShot = (service: ComposeService) => service.restart === "no";

/** A setting's value in a service: its environment, else the program's default. */
function settingIn(name: string, setting: Setting<unknown>): string {
  return envOf(name)[setting.env] ?? String(setting.defaultValue);
}

/** The port a service serves for a setting such as LAUNCHPAD_USERS_PORT. */
const portIn = (name: string, setting: Setting<number>) => Number(settingIn(name, setting));

/** Services this one reaches only after they are up: its depends_on, followed transitively. */
function upstreamOf(name: string, seen = new Set<string>()): Set<string> {
  for (const dependency of Object.keys(dependenciesOf(services[name]!))) {
    if (!seen.has(dependency)) {
      seen.add(dependency);
      upstreamOf(dependency, seen);
    }
  }
  return seen;
}

/** The host:port of a service an address points at, and what serves there. */
function resolve(address: string) {
  const url = /^[a-z]+:\/\//.test(address) ? new URL(address) : new URL(`tcp://${address}`);
  return { host: url.hostname, port: Number(url.port) };
}

describe("docker-compose.yml against the Compose Specification", () => {
  it("is valid YAML that the Compose Specification's JSON schema accepts", () => {
    expect(composeSpecErrors(compose)).toEqual([]);
  });

  it("(the schema is in force: it refuses a misspelt key and an unknown depends_on condition)", () => {
    const misspelt = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    misspelt.services.users!.healthchek = misspelt.services.users!.healthcheck;
    expect(composeSpecErrors(misspelt)).toContainEqual(expect.objectContaining({ keyword: "additionalProperties" }));
    const badCondition = structuredClone(compose) as unknown as { services: Record<string, { depends_on: Record<string, unknown> }> };
    badCondition.services.users!.depends_on.postgres = { condition: "service_ready" };
    expect(composeSpecErrors(badCondition).length).toBeGreaterThan(0);
  });

  it("names only services that exist in depends_on, without cycles", () => {
    expect(() => startOrder(compose)).not.toThrow();
    expect(startOrder(compose).slice(0, 2)).toEqual(["postgres", "users"]);
  });

  it("reads only LAUNCHPAD_ADMIN_PASSWORD, LAUNCHPAD_PROXY_SECRET and LAUNCHPAD_SECRET_KEY (required) and POSTGRES_PASSWORD (defaulted) from the environment it runs in", () => {
    expect(variablesIn(compose).sort()).toEqual(["LAUNCHPAD_ADMIN_PASSWORD", "LAUNCHPAD_PROXY_SECRET", "LAUNCHPAD_SECRET_KEY", "POSTGRES_PASSWORD"]);
    expect(() => envOf("users")).not.toThrow();
    expect(() => interpolate(environmentOf(services.users!).LAUNCHPAD_ADMIN_PASSWORD!, {})).toThrow(/LAUNCHPAD_ADMIN_PASSWORD/);
    expect(() => interpolate(environmentOf(services.users!).LAUNCHPAD_SECRET_KEY!, {})).toThrow(/LAUNCHPAD_SECRET_KEY/);
    expect(() => interpolate(environmentOf(services.users!).LAUNCHPAD_PROXY_SECRET!, {})).toThrow(/LAUNCHPAD_PROXY_SECRET/);
  });

  it("gives users and the edge one proxy secret, and has users trust the edge's forwarded address only from private networks", () => {
    expect(envOf("edge").LAUNCHPAD_PROXY_SECRET).toBe(variables.LAUNCHPAD_PROXY_SECRET);
    expect(envOf("users").LAUNCHPAD_PROXY_SECRET).toBe(envOf("edge").LAUNCHPAD_PROXY_SECRET);
    expect(envOf("users").LAUNCHPAD_TRUSTED_PROXIES).toBe("10.0.0.0/8,172.16.0.0/12,192.168.0.0/16");
  });
});

describe("the Launchpad services in docker-compose.yml", () => {
  it("give users and every deployments replica one secret key, as replicas on one database must share it", () => {
    for (const name of ["users", ...withTarget("deployments")]) expect(envOf(name).LAUNCHPAD_SECRET_KEY, name).toBe(variables.LAUNCHPAD_SECRET_KEY);
  });

  it("are users, two deployments replicas, the edge, the provision job and the agent, all from the Dockerfile's runtime stage", () => {
    expect(withTarget("users")).toHaveLength(1);
    expect(withTarget("deployments").length).toBeGreaterThanOrEqual(2);
    expect(withTarget("edge")).toHaveLength(1);
    expect(withTarget("agent")).toHaveLength(1);
    const finalStage = readDockerfile().stages.at(-1)!.name;
    for (const name of launchpadServices) {
      const build = services[name]!.build as { target?: string };
      expect(build.target ?? finalStage, name).toBe(finalStage);
      expect(services[name]!.image, name).toBe(services.users!.image);
    }
  });

  it("run the program with a --target it knows", () => {
    for (const name of programServices) expect(programTargets, name).toContain(targetOf(services[name]!));
  });

  it("set only variables their target reads, with values the program's own parsers accept", () => {
    for (const name of programServices) {
      const settings = settingsOf[targetOf(services[name]!)!]!;
      const known = new Set(Object.values(settings).map((s) => s.env));
      for (const variable of Object.keys(envOf(name))) expect(known.has(variable), `${name}: ${variable} is not read by its target`).toBe(true);
      expect(() => loadConfig(settings, { env: envOf(name), argv: argvOf(services[name]!.command) }), name).not.toThrow();
    }
  });

  it("set, in the one-shot provision job, only variables its script reads", () => {
    const script = argvOf(services.provision!.entrypoint).find((arg) => arg.startsWith("dist/"))!;
    const source = readFileSync(join(repoRoot, script.replace(/^dist\//, "").replace(/\.js$/, ".ts")), "utf8");
    const read = new Set([...source.matchAll(/process\.env\.(LAUNCHPAD_\w+)/g)].map((m) => m[1]));
    for (const variable of Object.keys(envOf("provision"))) expect(read.has(variable), variable).toBe(true);
    expect(envOf("provision").LAUNCHPAD_ADMIN_EMAIL).toBe(envOf("users").LAUNCHPAD_ADMIN_EMAIL);
    expect(environmentOf(services.provision!).LAUNCHPAD_ADMIN_PASSWORD).toBe(environmentOf(services.users!).LAUNCHPAD_ADMIN_PASSWORD);
  });

  it("listen on 0.0.0.0 wherever they serve", () => {
    for (const name of [...withTarget("users"), ...withTarget("deployments"), ...withTarget("edge")]) {
      expect(envOf(name).LAUNCHPAD_LISTEN_HOST, name).toBe("0.0.0.0");
    }
  });

  it("keep users and deployments in their own schemas of the compose PostgreSQL; the replicas share one", () => {
    const users = new URL(envOf("users").LAUNCHPAD_USERS_DATABASE_URL!);
    expect(users.searchParams.get("schema")).toBe("users");
    expect(users.hostname).toBe("postgres");
    const replicaUrls = new Set(withTarget("deployments").map((name) => envOf(name).LAUNCHPAD_DEPLOYMENTS_DATABASE_URL));
    expect(replicaUrls.size).toBe(1);
    const deployments = new URL([...replicaUrls][0]!);
    expect(deployments.searchParams.get("schema")).toBe("deployments");
    expect(deployments.host).toBe(users.host);
    expect(services.postgres!.image).toMatch(/^postgres:16/);
    expect(services.postgres!.volumes?.length).toBeGreaterThan(0);
    expect(argvOf(services.postgres!.healthcheck?.test)).toContain("pg_isready");
  });

  it("reach each other at service names and ports that serve what they expect, after depending on them", () => {
    const serves: Record<string, { target: string; port: Setting<number> }> = {
      LAUNCHPAD_USERS_ADDRESS: { target: "users", port: usersSettings.port },
      LAUNCHPAD_DEPLOYMENTS_ADDRESS: { target: "deployments", port: deploymentsSettings.port },
    };
    let checked = 0;
    for (const name of programServices) {
      for (const [variable, value] of Object.entries(envOf(name))) {
        const expected = serves[variable];
        if (!expected) continue;
        const { host, port } = resolve(value);
        expect(targetOf(services[host]!), `${name}: ${variable}=${value}`).toBe(expected.target);
        expect(port, `${name}: ${variable}=${value}`).toBe(portIn(host, expected.port));
        expect(upstreamOf(name).has(host), `${name} reaches ${host} without depending on it`).toBe(true);
        checked++;
      }
    }
    // The provision job calls the edge's HTTP port.
    const edgeUrl = argvOf(services.provision!.command).find((arg) => arg.startsWith("http"))!;
    const { host, port } = resolve(edgeUrl);
    expect(targetOf(services[host]!)).toBe("edge");
    expect(port).toBe(portIn(host, edgeSettings.port));
    expect(upstreamOf("provision").has(host)).toBe(true);
    expect(checked).toBeGreaterThanOrEqual(5);
  });

  it("spread the deployments replicas: the edge writes through one, the agent watches another", () => {
    const edgeReplica = resolve(envOf(withTarget("edge")[0]!).LAUNCHPAD_DEPLOYMENTS_ADDRESS!).host;
    const agentReplica = resolve(envOf(withTarget("agent")[0]!).LAUNCHPAD_DEPLOYMENTS_ADDRESS!).host;
    expect(withTarget("deployments")).toContain(edgeReplica);
    expect(withTarget("deployments")).toContain(agentReplica);
    expect(agentReplica).not.toBe(edgeReplica);
  });

  it("give the agent the key the provision job writes, only after the job succeeded", () => {
    const agent = services.agent!;
    const provision = services.provision!;
    expect(dependenciesOf(agent).provision).toBe("service_completed_successfully");
    // The agent reads $LAUNCHPAD_DATA_DIR/demo-agent.key into LAUNCHPAD_AGENT_API_KEY and execs the program.
    const script = argvOf(agent.entrypoint).join(" ");
    expect(script).toMatch(/LAUNCHPAD_AGENT_API_KEY="\$\$\(cat "\$\$LAUNCHPAD_DATA_DIR\/demo-agent\.key"\)"/);
    expect(script).toMatch(/exec node dist\/bin\/launchpad\.js "\$\$@"/);
    const keyFile = argvOf(provision.command).find((arg) => arg.endsWith("/demo-agent.key"))!;
    expect(keyFile).toBe(`${envOf("agent").LAUNCHPAD_DATA_DIR}/demo-agent.key`);
    // One named volume: mounted where provision writes the key, and read-only where the agent reads it.
    const mount = (service: ComposeService) => (service.volumes ?? []).map((v) => String(v).split(":")).find(([, target]) => keyFile.startsWith(`${target}/`));
    const [written] = mount(provision)!;
    const [read, , mode] = mount(agent)!;
    expect(written).toBe(read);
    expect(Object.keys(compose.volumes ?? {})).toContain(written);
    expect(mode).toBe("ro");
  });

  it("have health checks that probe their own ports (services: grpc.health.v1; edge: /readyz)", () => {
    const own: Record<string, (name: string) => string[]> = {
      users: (name) => ["grpc", `127.0.0.1:${portIn(name, usersSettings.port)}`],
      deployments: (name) => ["grpc", `127.0.0.1:${portIn(name, deploymentsSettings.port)}`],
      edge: (name) => ["http", `http://127.0.0.1:${portIn(name, edgeSettings.port)}/readyz`],
      agent: (name) => ["grpc", envOf(name).LAUNCHPAD_DEPLOYMENTS_ADDRESS!],
    };
    for (const name of programServices) {
      const test = argvOf(services[name]!.healthcheck?.test);
      expect(test.slice(0, 3), name).toEqual(["CMD", "node", "dist/bin/healthcheck.js"]);
      expect(test.slice(3), name).toEqual(own[targetOf(services[name]!)!]!(name));
    }
  });

  it("restart unless stopped, except the one-shot job; and wait only on conditions their dependencies can meet", () => {
    for (const name of names) {
      const service = services[name]!;
      expect(service.restart, name).toBe(name === "provision" ? "no" : "unless-stopped");
      for (const [dependency, condition] of Object.entries(dependenciesOf(service))) {
        if (condition === "service_healthy") expect(services[dependency]!.healthcheck?.test, `${name} → ${dependency}`).toBeDefined();
        if (condition === "service_completed_successfully") expect(isOneShot(services[dependency]!), `${name} → ${dependency}`).toBe(true);
      }
    }
  });

  it("publish the edge's port", () => {
    const edge = withTarget("edge")[0]!;
    const published = (services[edge]!.ports ?? []).map((p) => String(p).split(":").map(Number));
    expect(published).toContainEqual([portIn(edge, edgeSettings.port), portIn(edge, edgeSettings.port)]);
  });
});

describe("deploy/prometheus.yml in docker-compose.yml", () => {
  const prometheus = services.prometheus!;
  const mounted = (prometheus.volumes ?? []).map((v) => String(v).split(":")).find(([, target]) => target === "/etc/prometheus/prometheus.yml");
  const config = parse(readFileSync(join(repoRoot, "deploy/prometheus.yml"), "utf8")) as {
    scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
  };
  const targets = config.scrape_configs.flatMap((job) =>
    job.static_configs.flatMap((s) => s.targets.map((target) => ({ job: job.job_name, path: job.metrics_path ?? "/metrics", ...resolve(target) }))),
  );

  it("is the file the prometheus service mounts as its configuration", () => {
    expect(mounted?.[0]).toBe("./deploy/prometheus.yml");
    expect(existsSync(join(repoRoot, mounted![0]!))).toBe(true);
  });

  it("scrapes services by their compose names at their metrics ports", () => {
    const metricsPort: Record<string, (name: string) => number> = {
      users: (name) => portIn(name, usersSettings.metricsPort),
      deployments: (name) => portIn(name, deploymentsSettings.metricsPort),
      edge: (name) => portIn(name, edgeSettings.port),
    };
    for (const { host, port, path } of targets.filter((t) => t.host !== "127.0.0.1")) {
      const target = targetOf(services[host] ?? {});
      expect(target && metricsPort[target], `${host} serves no metrics`).toBeTruthy();
      expect(port, host).toBe(metricsPort[target!]!(host));
      expect(path).toBe("/metrics");
    }
  });

  it("scrapes every part that serves metrics: users, every deployments replica, the edge", () => {
    const scraped = new Set(targets.map((t) => t.host));
    for (const name of [...withTarget("users"), ...withTarget("deployments"), ...withTarget("edge")]) expect(scraped, name).toContain(name);
  });
});
