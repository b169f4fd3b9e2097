import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeploymentClient, deploy } from "../../examples/grpc-client.js";
import { DeploymentState } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { createServiceAccountKey } from "../support/service-accounts.js";
import { admin } from "../support/users-service.js";

let stack: TestEdgeStack;
let apiKey: string;

beforeAll(async () => {
  stack = await startTestEdgeStack();
  const adminToken = await stack.users.login(admin.email, admin.password);
  ({ secret: apiKey } = await createServiceAccountKey(stack.users, adminToken, "ci@example.com", Role.DEPLOYER));
});

afterAll(async () => {
  await stack?.stop();
});

describe.each([
  ["straight to the deployments service", "direct", () => `http://${stack.deployments.address}`],
  ["through the edge", "edge", () => stack.url],
])("the typed gRPC client example, %s", (_, route, baseUrl) => {
  // Each route deploys its own services, as one unfinished deployment per service and environment is allowed.
  const service = `checkout-${route}`;

  it("creates a deployment, and the same request id returns the same one", async () => {
    const client = createDeploymentClient(baseUrl(), apiKey);
    const request = { service: `${service}-a`, version: "1.4.2", environment: "production", requestId: crypto.randomUUID() };
    const first = await deploy(client, request);
    if (!("deployment" in first)) throw new Error(`refused: ${JSON.stringify(first.refused)}`);
    expect(first.deployment).toMatchObject({ service: `${service}-a`, version: "1.4.2", environment: "production", state: DeploymentState.PENDING });
    expect(first.deployment.name).toMatch(/^deployments\//);
    expect(await deploy(client, request)).toEqual(first);
  });

  it("returns a refusal with its code, ErrorInfo reason and metadata", async () => {
    const client = createDeploymentClient(baseUrl(), apiKey);
    const running = await deploy(client, { service: `${service}-b`, version: "1.0.0", environment: "staging", requestId: crypto.randomUUID() });
    if (!("deployment" in running)) throw new Error(`refused: ${JSON.stringify(running.refused)}`);
    const second = await deploy(client, { service: `${service}-b`, version: "1.0.1", environment: "staging", requestId: crypto.randomUUID() });
    expect(second).toEqual({ refused: { code: Code.Aborted, reason: "DEPLOYMENT_IN_PROGRESS", metadata: { deployment: running.deployment.name } } });
  });

  it("sends the API key: a wrong one is refused as UNAUTHENTICATED with its reason", async () => {
    const outcome = await deploy(createDeploymentClient(baseUrl(), "lpk_not-a-key"), {
      service: `${service}-c`,
      version: "1.0.0",
      environment: "staging",
      requestId: crypto.randomUUID(),
    });
    expect(outcome).toMatchObject({ refused: { code: Code.Unauthenticated, reason: expect.stringMatching(/^[A-Z_]+$/) } });
  });
});

it("throws what Launchpad does not explain, such as an unreachable server, as a ConnectError", async () => {
  const request = { service: "checkout", version: "1.0.0", environment: "staging", requestId: crypto.randomUUID() };
  const failure = await deploy(createDeploymentClient("http://127.0.0.1:1", apiKey), request).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(ConnectError);
  expect((failure as ConnectError).code).toBe(Code.Unavailable);
});
