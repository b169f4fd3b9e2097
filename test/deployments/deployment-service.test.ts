import { randomBytes } from "node:crypto";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeploymentState as State } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { Role, UserKind } from "../../gen/launchpad/user/v1/user_pb.js";
import { storeTargets } from "../support/databases.js";
import { startTestStack, type TestStack } from "../support/deployments-service.js";
import { expectGrpcError } from "../support/grpc-errors.js";
import { admin } from "../support/users-service.js";

describe.each(await storeTargets())("DeploymentService over a real gRPC connection, on $name", (target) => {
  let stack: TestStack;
  let adminToken: string;
  let agentKey: string;

  beforeAll(async () => {
    const location = target.fresh();
    stack = await startTestStack({
      deployments: location.url ? { LAUNCHPAD_DEPLOYMENTS_DATABASE_URL: location.url, LAUNCHPAD_SECRET_KEY: randomBytes(32).toString("base64") } : {},
    });
    adminToken = await stack.users.login(admin.email, admin.password);
    const { user: agent } = await stack.users.client.createUser(
      { user: { email: "agent@example.com", kind: UserKind.SERVICE_ACCOUNT, role: Role.AGENT } },
      stack.auth(adminToken),
    );
    agentKey = (await stack.users.client.createApiKey({ parent: agent!.name, apiKey: { displayName: "agent" } }, stack.auth(adminToken))).secret;
  });
  afterAll(async () => {
    await stack?.stop();
    await target.cleanup();
  });

  const client = () => stack.deployments.client;

  it("a deployment goes PENDING → IN_PROGRESS → SUCCEEDED through agent reports, with its history", async () => {
    const { deployment } = await client().createDeployment(
      { deployment: { service: "checkout", version: "1.0.0", environment: "staging", labels: { commit: "abc123" } } },
      stack.auth(adminToken),
    );
    expect(deployment).toMatchObject({ state: State.PENDING, creator: expect.stringMatching(/^users\//), etag: "v1" });
    await client().reportDeploymentProgress({ name: deployment!.name, state: State.IN_PROGRESS, progressPercent: 10 }, stack.auth(agentKey));
    await client().reportDeploymentProgress({ name: deployment!.name, progressPercent: 60, statusMessage: "half way" }, stack.auth(agentKey));
    const { deployment: done } = await client().reportDeploymentProgress(
      { name: deployment!.name, state: State.SUCCEEDED },
      stack.auth(agentKey),
    );
    expect(done).toMatchObject({ state: State.SUCCEEDED, progressPercent: 100, statusMessage: "half way" });
    expect(done?.startTime).toBeDefined();
    expect(done?.endTime).toBeDefined();

    const { events } = await client().listDeploymentEvents({ parent: deployment!.name }, stack.auth(adminToken));
    expect(events.map((e) => [Number(e.sequence), e.state])).toEqual([
      [1, State.PENDING],
      [2, State.IN_PROGRESS],
      [3, State.IN_PROGRESS],
      [4, State.SUCCEEDED],
    ]);
    const revisions = events.map((e) => Number(e.revision));
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
  });

  it("a second unfinished deployment of a service in an environment is refused, naming the running one", async () => {
    const { deployment: running } = await client().createDeployment(
      { deployment: { service: "search", version: "2.0.0", environment: "production" } },
      stack.auth(adminToken),
    );
    const failure = await expectGrpcError(
      client().createDeployment({ deployment: { service: "search", version: "2.0.1", environment: "production" } }, stack.auth(adminToken)),
      Status.ABORTED,
      "DEPLOYMENT_IN_PROGRESS",
    );
    expect(failure.metadata.deployment).toBe(running!.name);
  });

  it("the same request_id returns the same deployment; with another payload it is refused", async () => {
    const request = { deployment: { service: "billing", version: "1.0.0", environment: "staging" }, requestId: "req-1" };
    const first = await client().createDeployment(request, stack.auth(adminToken));
    const again = await client().createDeployment(request, stack.auth(adminToken));
    expect(again.deployment?.name).toBe(first.deployment?.name);
    await expectGrpcError(
      client().createDeployment({ ...request, deployment: { ...request.deployment, version: "1.0.1" } }, stack.auth(adminToken)),
      Status.INVALID_ARGUMENT,
      "REQUEST_ID_REUSED",
    );
  });

  it("cancelling: PENDING stops at once; IN_PROGRESS waits for the agent's confirmation", async () => {
    const pending = (await client().createDeployment({ deployment: { service: "mail", version: "1", environment: "dev" } }, stack.auth(adminToken))).deployment!;
    const cancelled = await client().cancelDeployment({ name: pending.name, reason: "wrong version" }, stack.auth(adminToken));
    expect(cancelled.deployment?.state).toBe(State.CANCELLED);

    const running = (await client().createDeployment({ deployment: { service: "mail", version: "2", environment: "dev" } }, stack.auth(adminToken))).deployment!;
    await client().reportDeploymentProgress({ name: running.name, state: State.IN_PROGRESS }, stack.auth(agentKey));
    const cancelling = await client().cancelDeployment({ name: running.name }, stack.auth(adminToken));
    expect(cancelling.deployment?.state).toBe(State.CANCELLING);
    const confirmed = await client().reportDeploymentProgress({ name: running.name, state: State.CANCELLED }, stack.auth(agentKey));
    expect(confirmed.deployment?.state).toBe(State.CANCELLED);
    await expectGrpcError(client().cancelDeployment({ name: running.name }, stack.auth(adminToken)), Status.FAILED_PRECONDITION, "INVALID_STATE_TRANSITION");
  });

  it("a newer success supersedes the previous one, and rollback redeploys the last good version", async () => {
    const ship = async (version: string, state: State) => {
      const { deployment } = await client().createDeployment({ deployment: { service: "cart", version, environment: "production" } }, stack.auth(adminToken));
      await client().reportDeploymentProgress({ name: deployment!.name, state: State.IN_PROGRESS }, stack.auth(agentKey));
      return (await client().reportDeploymentProgress({ name: deployment!.name, state }, stack.auth(agentKey))).deployment!;
    };
    const v1 = await ship("1.0.0", State.SUCCEEDED);
    const v2 = await ship("2.0.0", State.SUCCEEDED);
    expect((await client().getDeployment({ name: v1.name }, stack.auth(adminToken))).deployment?.state).toBe(State.SUPERSEDED);
    const v3 = await ship("3.0.0", State.FAILED);

    const rollback = await client().rollbackDeployment({ name: v3.name, requestId: "rb-1" }, stack.auth(adminToken));
    expect(rollback.deployment).toMatchObject({ version: "2.0.0", rollbackOf: v3.name, state: State.PENDING });
    const again = await client().rollbackDeployment({ name: v3.name, requestId: "rb-1" }, stack.auth(adminToken));
    expect(again.deployment?.name).toBe(rollback.deployment?.name);
    expect(v2.state).toBe(State.SUCCEEDED);
  });

  it("rollback with no earlier success is refused with NO_ROLLBACK_TARGET", async () => {
    const { deployment } = await client().createDeployment({ deployment: { service: "fresh", version: "1", environment: "production" } }, stack.auth(adminToken));
    await expectGrpcError(client().rollbackDeployment({ name: deployment!.name }, stack.auth(adminToken)), Status.FAILED_PRECONDITION, "NO_ROLLBACK_TARGET");
  });

  it("ListDeployments filters, pages and counts", async () => {
    const page = await client().listDeployments({ filter: 'environment = "production" AND service = "cart"', pageSize: 2 }, stack.auth(adminToken));
    // 1.0.0, 2.0.0, 3.0.0 and the rollback to 2.0.0.
    expect(page.totalSize).toBe(4);
    expect(page.deployments).toHaveLength(2);
    const next = await client().listDeployments(
      { filter: 'environment = "production" AND service = "cart"', pageSize: 2, pageToken: page.nextPageToken },
      stack.auth(adminToken),
    );
    expect(next.deployments).toHaveLength(2);
    expect(new Set([...page.deployments, ...next.deployments].map((d) => d.name)).size).toBe(4);
    expect(next.nextPageToken).toBe("");
  });
});
