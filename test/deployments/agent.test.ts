import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createChannel, type Metadata } from "nice-grpc";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DeploymentEventType as EventType, DeploymentState as State, type Deployment } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DeploymentService, type WatchDeploymentResponse } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { startAgent, type AgentOptions } from "../../services/agent/agent.js";
import { demoAgentEmail } from "../../services/agent/provision.js";
import { bearer } from "../support/bearer.js";
import { startTestStack, type DeploymentClient, type TestStack } from "../support/deployments-service.js";
import { captureLogs } from "../support/grpc.js";
import { startLaunchpad, type StartedProgram } from "../support/program.js";
import { cheapPasswordHashing, ephemeralEnv, programSandbox } from "../support/program-sandbox.js";
import { createServiceAccountKey, type ServiceAccountKey } from "../support/service-accounts.js";
import { typedClient } from "../support/typed-client.js";
import { admin } from "../support/users-service.js";
import { changeEventsOf, changesOf, eventually, metricValue, recordWatch, type WatchRecording } from "../support/watching.js";

const finalStates = [State.SUCCEEDED, State.FAILED, State.CANCELLED];
const recordings: Array<WatchRecording<WatchDeploymentResponse>> = [];

/** Watches one deployment through `client` until the test ends. */
function watchDeployment(client: DeploymentClient, name: string, auth: { metadata: Metadata }) {
  const recording = recordWatch<WatchDeploymentResponse>((signal) => client.watchDeployment({ name }, { ...auth, signal }));
  recordings.push(recording);
  return recording;
}

/** The deployment as the last message of a watch left it. */
function lastSeen(messages: readonly WatchDeploymentResponse[]): Deployment | undefined {
  const last = messages.at(-1);
  if (last?.kind.case === "snapshot") return last.kind.value;
  return changesOf(messages).at(-1)?.deployment;
}

const reachedFinal = (messages: readonly WatchDeploymentResponse[]) => finalStates.includes(lastSeen(messages)?.state ?? State.UNSPECIFIED);

afterEach(() => {
  for (const recording of recordings.splice(0)) recording.abort();
});

describe("the demo agent (startAgent) against a real stack", () => {
  let stack: TestStack;
  let adminToken: string;
  let agentA: ServiceAccountKey;
  let agentB: ServiceAccountKey;
  const agents: Array<{ stop(): Promise<void> }> = [];
  const logs = captureLogs("warn");

  beforeAll(async () => {
    stack = await startTestStack();
    adminToken = await stack.users.login(admin.email, admin.password);
    agentA = await createServiceAccountKey(stack.users, adminToken, "agent-a@example.com");
    agentB = await createServiceAccountKey(stack.users, adminToken, "agent-b@example.com");
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const client = () => stack.deployments.client;
  const asAdmin = () => stack.auth(adminToken);
  const watchStreams = () => metricValue(stack.deployments.running.metricsPort, "deployment_watch_streams");

  /**
   * Starts an agent and waits until its watch is open. Call it before this
   * test opens watches of its own: the open streams are then the agents'.
   */
  async function runAgent(key: ServiceAccountKey, options: Partial<AgentOptions> = {}) {
    await eventually(async () => (await watchStreams()) === agents.length, "only this test's agents watching");
    agents.push(
      startAgent({ deploymentsAddress: stack.deployments.address, apiKey: key.secret, stepMs: 50, failureRate: 0, logger: logs.logger, ...options }),
    );
    await eventually(async () => (await watchStreams()) === agents.length, "the agent's watch");
  }

  async function create(service: string): Promise<Deployment> {
    return (await client().createDeployment({ deployment: { service, version: "2.0.0", environment: "production" } }, asAdmin())).deployment!;
  }

  async function history(name: string) {
    return (await client().listDeploymentEvents({ parent: name, pageSize: 1000 }, asAdmin())).events;
  }

  it("drives a new deployment through IN_PROGRESS with rising progress to SUCCEEDED, as a watcher sees it", async () => {
    await runAgent(agentA);
    const deployment = await create("agent-success");
    const watch = watchDeployment(client(), deployment.name, asAdmin());
    await watch.until(reachedFinal, "a final state");

    expect(watch.messages[0]!.kind.case).toBe("snapshot");
    const changes = changesOf(watch.messages);
    const states = changes.map((c) => c.deployment!.state);
    expect(states[0]).toBe(State.IN_PROGRESS);
    expect(states.at(-1)).toBe(State.SUCCEEDED);
    expect(states.slice(0, -1).every((s) => s === State.IN_PROGRESS)).toBe(true);
    expect(changes.length).toBeGreaterThan(3);
    const progress = changes.map((c) => c.deployment!.progressPercent);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(progress.at(-1)).toBe(100);
    // Every change is the agent's own report.
    expect(new Set(changeEventsOf(watch.messages).map((e) => e.actor))).toEqual(new Set([agentA.user]));
    expect((await history(deployment.name)).map((e) => e.state).at(-1)).toBe(State.SUCCEEDED);
  });

  it("with failureRate 1 the deployment ends FAILED", async () => {
    await runAgent(agentA, { failureRate: 1 });
    const deployment = await create("agent-failure");
    const watch = watchDeployment(client(), deployment.name, asAdmin());
    await watch.until(reachedFinal, "a final state");
    const states = changesOf(watch.messages).map((c) => c.deployment!.state);
    expect(states).toContain(State.IN_PROGRESS);
    expect(states.at(-1)).toBe(State.FAILED);
    expect(states).not.toContain(State.SUCCEEDED);
  });

  it("a cancel while IN_PROGRESS is confirmed by the agent: CANCELLED, never SUCCEEDED", async () => {
    // random 0: progress rises by 10 per 50 ms step, so the rollout takes about half a second.
    await runAgent(agentA, { random: () => 0 });
    const deployment = await create("agent-cancel");
    const watch = watchDeployment(client(), deployment.name, asAdmin());
    await watch.until((m) => lastSeen(m)?.state === State.IN_PROGRESS, "IN_PROGRESS");
    const { deployment: cancelling } = await client().cancelDeployment({ name: deployment.name, reason: "wrong version" }, asAdmin());
    expect(cancelling?.state).toBe(State.CANCELLING);

    await watch.until(reachedFinal, "a final state");
    expect(lastSeen(watch.messages)?.state).toBe(State.CANCELLED);
    const events = await history(deployment.name);
    expect(events.map((e) => e.state)).not.toContain(State.SUCCEEDED);
    const confirmation = events.at(-1)!;
    expect([confirmation.type, confirmation.state, confirmation.actor]).toEqual([EventType.STATE_CHANGED, State.CANCELLED, agentA.user]);
    expect(events.some((e) => e.type === EventType.CANCEL_REQUESTED)).toBe(true);
  });

  it("two agents watching one deployment: only one drives it (a single IN_PROGRESS transition, one actor)", async () => {
    // Different step sizes, so two agents driving it would report different progress.
    await runAgent(agentA, { random: () => 0 });
    await runAgent(agentB, { random: () => 0.99 });
    const deployment = await create("agent-pair");
    const watch = watchDeployment(client(), deployment.name, asAdmin());
    await watch.until(reachedFinal, "a final state");
    expect(lastSeen(watch.messages)?.state).toBe(State.SUCCEEDED);

    const events = (await history(deployment.name)).slice(1);
    const started = events.filter((e) => e.type === EventType.STATE_CHANGED && e.state === State.IN_PROGRESS);
    expect(started).toHaveLength(1);
    expect(new Set(events.map((e) => e.actor))).toEqual(new Set([started[0]!.actor]));
  });
});

describe("launchpad --target=all runs the demo agent", () => {
  const { newDataDir, channels } = programSandbox("launchpad-agent-");

  function start(dataDir: string, extra: Record<string, string> = {}) {
    return startLaunchpad(["--target=all"], {
      ...ephemeralEnv(dataDir),
      ...cheapPasswordHashing,
      LAUNCHPAD_ADMIN_EMAIL: admin.email,
      LAUNCHPAD_ADMIN_PASSWORD: admin.password,
      LAUNCHPAD_AGENT_STEP: "100ms",
      LAUNCHPAD_AGENT_FAILURE_RATE: "0",
      LAUNCHPAD_LOG_LEVEL: "warn",
      ...extra,
    });
  }

  /** Clients of a started program's two services, signed in as the admin. */
  async function clientsOf(program: StartedProgram) {
    const [, deploymentsPort, deploymentsMetricsPort] = /deployments\s+gRPC\s+[\w.]+:(\d+)\s+metrics http:\/\/[\w.]+:(\d+)\/metrics/.exec(program.stdout())!;
    const usersChannel = createChannel(`127.0.0.1:${program.usersPort}`);
    const deploymentsChannel = createChannel(`127.0.0.1:${deploymentsPort}`);
    channels.push(usersChannel, deploymentsChannel);
    const users = typedClient(UserService, usersChannel);
    const deployments = typedClient(DeploymentService, deploymentsChannel);
    const { tokens } = await users.login(admin);
    const auth = bearer(tokens!.accessToken);
    return { users, deployments, auth, deploymentsMetricsPort: Number(deploymentsMetricsPort) };
  }

  it("provisions the demo agent on first start (its key kept with mode 0600), and a new deployment reaches SUCCEEDED by itself", async () => {
    const dataDir = newDataDir();
    const program = await start(dataDir);
    expect(program.stdout()).toMatch(/demo agent\s+driving PENDING deployments/);
    const keyFile = join(dataDir, "demo-agent.key");
    expect(existsSync(keyFile)).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, "utf8").trim();
    expect(key).not.toBe("");

    const { users, deployments, auth, deploymentsMetricsPort } = await clientsOf(program);
    // The agent watches the service, as any client would.
    await eventually(async () => (await metricValue(deploymentsMetricsPort, "deployment_watch_streams")) === 1, "the agent's watch");
    const { users: all } = await users.listUsers({ pageSize: 100 }, auth);
    const demoAgent = all.find((u) => u.email === demoAgentEmail);
    expect(demoAgent).toBeDefined();

    const { deployment } = await deployments.createDeployment({ deployment: { service: "demo", version: "1.0.0", environment: "production" } }, auth);
    const watch = watchDeployment(deployments, deployment!.name, auth);
    await watch.until(reachedFinal, "a final state", 30_000);
    expect(lastSeen(watch.messages)?.state).toBe(State.SUCCEEDED);
    expect(new Set(changeEventsOf(watch.messages).map((e) => e.actor))).toEqual(new Set([demoAgent!.name]));

    // A restart on the same data directory reuses the key rather than provisioning another.
    program.child.kill("SIGTERM");
    await program.waitForExit();
    const again = await start(dataDir);
    expect(again.stdout()).toMatch(/demo agent\s+driving PENDING deployments/);
    expect(again.stdout()).not.toMatch(/First start/);
    expect(readFileSync(keyFile, "utf8").trim()).toBe(key);
    const next = await clientsOf(again);
    const { deployment: second } = await next.deployments.createDeployment(
      { deployment: { service: "demo", version: "1.0.1", environment: "production" } },
      next.auth,
    );
    const secondWatch = watchDeployment(next.deployments, second!.name, next.auth);
    await secondWatch.until(reachedFinal, "a final state", 30_000);
    expect(lastSeen(secondWatch.messages)?.state).toBe(State.SUCCEEDED);
  });

  it("LAUNCHPAD_DEMO_AGENT=off starts no agent: no account, no key, nobody watching", async () => {
    const dataDir = newDataDir();
    const program = await start(dataDir, { LAUNCHPAD_DEMO_AGENT: "off" });
    expect(program.stdout()).not.toMatch(/demo agent/);
    expect(existsSync(join(dataDir, "demo-agent.key"))).toBe(false);
    const { users, auth, deploymentsMetricsPort } = await clientsOf(program);
    const { users: all } = await users.listUsers({ pageSize: 100 }, auth);
    expect(all.map((u) => u.email)).not.toContain(demoAgentEmail);
    expect(await metricValue(deploymentsMetricsPort, "deployment_watch_streams")).toBe(0);
  });
});
