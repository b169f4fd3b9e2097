import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { argvOf, dependenciesOf, environmentOf, isLaunchpadImage, readComposeFile, targetOf } from "../support/compose-file.js";
import { startLocalTopology, type LocalTopology } from "../support/compose-processes.js";
import { reachablePostgresUrl } from "../support/postgres-server.js";
import { repoRoot } from "../support/program.js";

// docker-compose.yml's topology as local processes on the test PostgreSQL
// (no Docker engine here): users, two deployments replicas, the edge, the
// provision job and the agent, started by test/support/compose-processes.ts
// from the compose file itself: same commands, same variable names, compose
// health checks gating depends_on. Then a deployment goes through the edge
// (Connect JSON, plain fetch) and the agent, on the other replica, drives it
// to SUCCEEDED. Skipped with a warning when PostgreSQL is unreachable on a
// developer machine; failing when CI (or LAUNCHPAD_TEST_POSTGRES_URL) is set.
const postgresUrl = await reachablePostgresUrl();

const compose = readComposeFile();
const adminPassword = "correct horse battery staple";
const topologySecretKey = randomBytes(32).toString("base64");
const adminEmail = environmentOf(compose.services.users!).LAUNCHPAD_ADMIN_EMAIL ?? "admin@launchpad.local";

describe.skipIf(postgresUrl === undefined)("docker-compose.yml's topology as processes on PostgreSQL", () => {
  let topology: LocalTopology;
  let edgeUrl: string;

  beforeAll(async () => {
    topology = await startLocalTopology({
      compose,
      postgresUrl: postgresUrl!,
      variables: { LAUNCHPAD_ADMIN_PASSWORD: adminPassword, LAUNCHPAD_PROXY_SECRET: "the topology's proxy secret", LAUNCHPAD_SECRET_KEY: topologySecretKey },
      // Same variables as compose; quieter, faster and deterministic values.
      overrides: { LAUNCHPAD_LOG_LEVEL: "warn", LAUNCHPAD_AGENT_STEP: "100ms", LAUNCHPAD_AGENT_FAILURE_RATE: "0" },
    });
    const edge = [...topology.services.values()].find((service) => service.target === "edge")!;
    edgeUrl = `http://127.0.0.1:${[...edge.ports.values()][0]}`;
  }, 240_000);

  afterAll(() => topology?.stop(), 60_000);

  /** One call through the edge with the Connect protocol's JSON encoding. */
  async function call<T>(method: string, body: unknown, token?: string): Promise<T> {
    const response = await fetch(`${edgeUrl}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const json = (await response.json()) as T;
    if (!response.ok) throw new Error(`${method}: HTTP ${response.status} ${JSON.stringify(json)}`);
    return json;
  }

  /** The sum of one metric's samples whose labels contain every `label="value"` given. */
  async function metric(url: string, name: string, labels: string[]): Promise<number> {
    const text = await (await fetch(url)).text();
    return text
      .split("\n")
      .filter((line) => line.startsWith(`${name}{`) && labels.every((label) => line.includes(label)))
      .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
  }

  const metricsUrlOf = (name: string, port: number) => `http://${topology.localize(`${name}:${port}`)}/metrics`;

  it("starts every Launchpad service after its dependencies met their compose conditions", () => {
    const launchpad = Object.keys(compose.services).filter((name) => isLaunchpadImage(compose.services[name]!));
    expect([...topology.services.keys()].sort()).toEqual(launchpad.sort());
    const at = (event: string) => topology.events.indexOf(event as never);
    for (const name of launchpad) {
      for (const [dependency, condition] of Object.entries(dependenciesOf(compose.services[name]!))) {
        if (!topology.services.has(dependency)) continue;
        const met = { service_started: "started", service_healthy: "healthy", service_completed_successfully: "completed" }[condition];
        expect(at(`${met} ${dependency}`), `${name} after ${met} ${dependency}`).toBeGreaterThanOrEqual(0);
        expect(at(`${met} ${dependency}`)).toBeLessThan(at(`started ${name}`));
      }
    }
  });

  it("provisions the agent's key through the edge into the shared volume, mode 0600, and keeps it on a second run", async () => {
    const provision = topology.services.get("provision")!;
    expect(provision.stdout()).toMatch(/has a new API key in/);
    const agent = topology.services.get("agent")!;
    const keyFile = join(agent.env.LAUNCHPAD_DATA_DIR!, "demo-agent.key");
    expect(existsSync(keyFile)).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, "utf8");
    expect(key).toMatch(/^lpk_/);

    const again = await topology.exec("provision", [...argvOf(compose.services.provision!.entrypoint), ...argvOf(compose.services.provision!.command)]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already holds the agent's key; kept/);
    expect(readFileSync(keyFile, "utf8")).toBe(key);
  });

  it("takes a deployment created through the edge to SUCCEEDED: written on one replica, driven by the agent on the other", async () => {
    const { tokens } = await call<{ tokens: { accessToken: string } }>("launchpad.user.v1.UserService/Login", { email: adminEmail, password: adminPassword });
    const token = tokens.accessToken;
    const { deployment } = await call<{ deployment: { name: string; state: string } }>(
      "launchpad.deployment.v1.DeploymentService/CreateDeployment",
      { deployment: { service: "checkout", version: "1.4.2", environment: "compose" }, requestId: randomUUID() },
      token,
    );
    expect(deployment.state).toBe("DEPLOYMENT_STATE_PENDING");

    type Deployment = { name: string; state: string; progressPercent?: number };
    let current: Deployment = deployment;
    const deadline = Date.now() + 30_000; // an upper bound against hangs; it takes about a second
    while (current.state !== "DEPLOYMENT_STATE_SUCCEEDED" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      ({ deployment: current } = await call<{ deployment: Deployment }>("launchpad.deployment.v1.DeploymentService/GetDeployment", { name: deployment.name }, token));
      expect(current.state).not.toBe("DEPLOYMENT_STATE_FAILED");
    }
    expect(current.state).toBe("DEPLOYMENT_STATE_SUCCEEDED");
    expect(current.progressPercent).toBe(100);

    // Which replica did what: the edge's wrote it, the agent's reported on it.
    const replicaOf = (variable: string, target: string) =>
      new URL(`tcp://${environmentOf(Object.values(compose.services).find((s) => targetOf(s) === target)!)[variable]}`).hostname;
    const edgeReplica = replicaOf("LAUNCHPAD_DEPLOYMENTS_ADDRESS", "edge");
    const agentReplica = replicaOf("LAUNCHPAD_DEPLOYMENTS_ADDRESS", "agent");
    expect(agentReplica).not.toBe(edgeReplica);
    const handled = (replica: string, method: string) =>
      metric(metricsUrlOf(replica, Number(environmentOf(compose.services[replica]!).LAUNCHPAD_DEPLOYMENTS_METRICS_PORT)), "grpc_server_handled_total", [
        `grpc_method="${method}"`,
        `grpc_code="OK"`,
      ]);
    expect(await handled(edgeReplica, "CreateDeployment")).toBe(1);
    expect(await handled(agentReplica, "CreateDeployment")).toBe(0);
    expect(await handled(agentReplica, "ReportDeploymentProgress")).toBeGreaterThanOrEqual(2);
    expect(await handled(edgeReplica, "ReportDeploymentProgress")).toBe(0);
  });

  it("answers /metrics on every target deploy/prometheus.yml scrapes", async () => {
    const config = parse(readFileSync(join(repoRoot, "deploy/prometheus.yml"), "utf8")) as {
      scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const urls = config.scrape_configs
      .flatMap((job) => job.static_configs.flatMap((s) => s.targets.map((target) => ({ target, path: job.metrics_path ?? "/metrics" }))))
      .filter(({ target }) => topology.services.has(target.split(":")[0]!))
      .map(({ target, path }) => `http://${topology.localize(target)}${path}`);
    expect(urls.length).toBeGreaterThanOrEqual(4);
    for (const url of urls) {
      const response = await fetch(url);
      expect(response.status, url).toBe(200);
      expect(await response.text(), url).toMatch(/^process_cpu_user_seconds_total /m);
    }
  });

  it.runIf(process.platform === "linux")("passes the image's default HEALTHCHECK (no arguments: it reads the process's target, flags and environment)", async () => {
    // In a container the check reads /proc/1; here it is pointed at each process.
    for (const service of topology.services.values()) {
      if (service.target === undefined) continue;
      const result = await topology.exec(service.name, ["node", "dist/bin/healthcheck.js", "pid", String(service.child.pid)]);
      expect(result.code, `${service.name}: ${result.stderr}`).toBe(0);
    }
  });
});
